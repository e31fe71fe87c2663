"""The PostgreSQL migrator: apply the pending migrations of `migrations/postgresql/`, set the database's
statement timeout, and prove the post-conditions (`schema.py`) from PostgreSQL's own catalogue."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from enhancer.adapters.sql.schema import Catalogue, Column, MigrationReport, migrations, problems

if TYPE_CHECKING:
    from enhancer.adapters.sql.postgresql import PostgresConnection

DIALECT = "postgresql"
# `<setting>=<value>` as pg_db_role_setting stores them: what every session on the database starts with.
DATABASE_SETTINGS = ("statement_timeout=5s", "idle_in_transaction_session_timeout=30s")


# What a CREATE TABLE IF NOT EXISTS racing another one on the same name may raise instead of doing nothing: the
# catalogue's unique index on the row type (23505), the type itself (42710), or the table (42P07).
_CREATED_CONCURRENTLY = frozenset({"23505", "42710", "42P07"})
_LEDGER = ("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
           "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")


def _ensure_ledger(conn: PostgresConnection) -> None:
    from enhancer.adapters.sql.postgresql import DatabaseError

    try:
        conn.execute(_LEDGER)
    except DatabaseError as exc:
        if exc.sqlstate not in _CREATED_CONCURRENTLY:
            raise
        conn.execute(_LEDGER)  # IF NOT EXISTS is not atomic: a concurrent migrator created it just now


def applied_versions(conn: PostgresConnection) -> set[str]:
    _ensure_ledger(conn)
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def apply_migrations(conn: PostgresConnection) -> list[str]:
    """Apply every pending migration, each in its own transaction with its ledger row; returns the names applied.
    The ledger row goes in first, so of two migrators racing on one database the second waits on the first's
    row, then fails on the primary key before it runs anything, and moves on: the first applied it."""
    done = applied_versions(conn)
    applied = []
    for migration in migrations(DIALECT):
        if migration.version in done:
            continue
        # One simple query runs the script as one transaction; migrations may outlast the statement timeout.
        try:
            conn.execute("BEGIN;\nSET LOCAL statement_timeout = 0;\n"
                         f"INSERT INTO schema_migrations(version, name) VALUES ('{migration.version}', "
                         f"'{migration.name}');\n{migration.sql}\nCOMMIT;")
        except Exception:
            with suppress(Exception):  # the failed script leaves its transaction open and aborted
                conn.execute("ROLLBACK")
            if migration.version in applied_versions(conn):
                continue
            raise
        applied.append(migration.name)
    _set_database_settings(conn)
    return applied


def _set_database_settings(conn: PostgresConnection) -> None:
    database = conn.execute("SELECT quote_ident(current_database())").fetchone()
    for setting in DATABASE_SETTINGS:
        name, value = setting.split("=", 1)
        conn.execute(f"ALTER DATABASE {database[0] if database else ''} SET {name} = '{value}'")


def migrate_and_check(conn: PostgresConnection, *, apply: bool) -> MigrationReport:
    """What both the command line and the migration function run: apply (optionally), then check."""
    applied = apply_migrations(conn) if apply else []
    return MigrationReport(applied=applied, problems=check_schema(conn))


def check_schema(conn: PostgresConnection) -> list[str]:
    """Every problem found, as a sentence; an empty list means the schema is ready."""
    return problems(catalogue(conn), DIALECT)


def catalogue(conn: PostgresConnection) -> Catalogue:
    tables = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
    indexes: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, table, column in conn.execute(
            "SELECT i.relname, t.relname, a.attname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema() "
            "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "ORDER BY i.relname, k.position"):
        indexes[name] = (table, (*indexes.get(name, (table, ()))[1], column))
    columns: dict[str, dict[str, Column]] = {}
    for table, name, nullable, default in conn.execute(
            "SELECT table_name, column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema()"):
        columns.setdefault(table, {})[name] = Column(nullable=nullable == "YES", default=_sql_default(default))
    settings = {setting for row in conn.execute(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE d.datname = current_database() AND s.setrole = 0") for setting in row}
    missing = [f"database setting {setting} is not set" for setting in DATABASE_SETTINGS if setting not in settings]
    return Catalogue(applied=applied_versions(conn), tables=tables, indexes=indexes, columns=columns,
                     problems=missing)


def _sql_default(default: str | None) -> str | None:
    """A default as SQLite spells it: PostgreSQL's `'free'::text` is `'free'`."""
    return default.removesuffix("::text") if default is not None else None
