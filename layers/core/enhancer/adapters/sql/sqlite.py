"""The SQLite dialect: a file on EFS in AWS, a local file in development. The factory in this package's
`__init__` dispatches here; product code outside `adapters/sql/` never imports this module
(tests/unit/test_unit_sql_seam.py holds that)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from enhancer.adapters.sql import connections
from enhancer.adapters.sql.accounts import SqlAccounts
from enhancer.adapters.sql.billing import SqlBilling
from enhancer.adapters.sql.jobs import SqlJobs

if TYPE_CHECKING:
    from enhancer.adapters.sql.schema import MigrationReport

# A write transaction that takes the lock at once, so two writers never both read first (upsert_user).
BEGIN_WRITE = "BEGIN IMMEDIATE"


def connect(path: str) -> sqlite3.Connection:
    # Autocommit: every statement is its own transaction unless a caller opens one explicitly.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    if connections.watching():
        conn.set_trace_callback(connections.record_statement)
    return conn


def accounts(path: str) -> SqlAccounts:
    return SqlAccounts(lambda: connect(path), begin_write=BEGIN_WRITE)


def billing(path: str) -> SqlBilling:
    return SqlBilling(lambda: connect(path), begin_write=BEGIN_WRITE)


def jobs(path: str) -> SqlJobs:
    return SqlJobs(lambda: connect(path))


def exists(path: str) -> bool:
    return Path(path).exists()


def prepare(path: str) -> None:
    """Room for a new database: its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def migrate_and_check(path: str, *, apply: bool) -> MigrationReport:
    from enhancer.adapters.sql import sqlite_migrator

    conn = connect(path)
    try:
        return sqlite_migrator.migrate_and_check(conn, apply=apply)
    finally:
        conn.close()
