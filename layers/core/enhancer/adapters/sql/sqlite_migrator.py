"""The SQLite migrator: apply the pending migrations of `migrations/sqlite/`, and prove the post-conditions
(`schema.py`) from SQLite's own catalogue."""

from __future__ import annotations

import sqlite3

from enhancer.adapters.sql.schema import (
    REQUIRED_COLUMNS,
    REQUIRED_INDEXES,
    REQUIRED_TABLES,
    MigrationReport,
    migrations,
)

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
    problems = []
    pending = [m.name for m in migrations(DIALECT) if m.version not in applied_versions(conn)]
    if pending:
        problems.append("migrations not applied: " + ", ".join(pending))
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in REQUIRED_TABLES:
        if table not in tables:
            problems.append(f"table {table} is missing")
    indexes = {row[0]: row[1] for row in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")}
    for index, (table, columns) in REQUIRED_INDEXES.items():
        if index not in indexes:
            problems.append(f"index {index} on {table}({', '.join(columns)}) is missing")
            continue
        actual = tuple(row[2] for row in conn.execute(f"PRAGMA index_info('{index}')"))
        if indexes[index] != table or actual != columns:
            problems.append(f"index {index} covers {indexes[index]}({', '.join(actual)}), "
                            f"expected {table}({', '.join(columns)})")
    if "users" in tables:
        plan = {row[1]: row for row in conn.execute("PRAGMA table_info('users')")}.get("plan")
        if plan is None:
            problems.append("column users.plan is missing")
        elif plan[4] != "'free'" or not plan[3]:
            problems.append(f"column users.plan must be NOT NULL DEFAULT 'free' (default is {plan[4]})")
    for table, columns in REQUIRED_COLUMNS.items():
        if table in tables:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info('{table}')")}
            problems += [f"column {table}.{name} is missing" for name in columns if name not in present]
    if "ai_jobs" in tables:
        job_columns = {row[1]: row for row in conn.execute("PRAGMA table_info('ai_jobs')")}
        if "user_id" in job_columns and job_columns["user_id"][3]:
            problems.append("column ai_jobs.user_id must be nullable (guest jobs have no user)")
    return problems
