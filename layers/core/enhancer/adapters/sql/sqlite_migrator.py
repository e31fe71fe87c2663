"""The SQLite migrator: apply the pending migrations of `migrations/sqlite/`, and prove the post-conditions
(`schema.py`) from SQLite's own catalogue."""

from __future__ import annotations

import sqlite3

from enhancer.adapters.sql.schema import Catalogue, Column, MigrationReport, migrations, problems

DIALECT = "sqlite"


def _ensure_ledger(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "version TEXT PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")


def applied_versions(conn: sqlite3.Connection) -> set[str]:
    _ensure_ledger(conn)
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns the names applied."""
    done = applied_versions(conn)
    applied = []
    for migration in migrations(DIALECT):
        if migration.version in done:
            continue
        # executescript commits first, so the BEGIN/COMMIT pair makes the file and its ledger row atomic.
        script = (f"BEGIN;\n{migration.sql}\n"
                  f"INSERT INTO schema_migrations(version, name) VALUES ('{migration.version}', '{migration.name}');\n"
                  "COMMIT;")
        try:
            conn.executescript(script)
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(migration.name)
    return applied


def migrate_and_check(conn: sqlite3.Connection, *, apply: bool) -> MigrationReport:
    """What both the command line and the migration function run: apply (optionally), then check."""
    applied = apply_migrations(conn) if apply else []
    return MigrationReport(applied=applied, problems=check_schema(conn))


def check_schema(conn: sqlite3.Connection) -> list[str]:
    """Every problem found, as a sentence; an empty list means the schema is ready."""
    return problems(catalogue(conn), DIALECT)


def catalogue(conn: sqlite3.Connection) -> Catalogue:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    indexes = {}
    for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'").fetchall():
        indexes[name] = (table, tuple(row[2] for row in conn.execute(f"PRAGMA index_info('{name}')")))
    # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
    columns = {table: {row[1]: Column(nullable=not row[3], default=row[4])
                       for row in conn.execute(f"PRAGMA table_info('{table}')")} for table in tables}
    return Catalogue(applied=applied_versions(conn), tables=tables, indexes=indexes, columns=columns)
