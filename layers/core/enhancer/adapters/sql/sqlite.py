"""The SQLite dialect: a file on EFS in AWS, a local file in development. The factory in this package's
`__init__` dispatches here; product code outside `adapters/sql/` never imports this module
(tests/unit/test_unit_sql_seam.py holds that)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enhancer.adapters.sql import connections
from enhancer.adapters.sql.accounts import SqlAccounts
from enhancer.adapters.sql.api_keys import SqlApiKeys
from enhancer.adapters.sql.billing import SqlBilling
from enhancer.adapters.sql.jobs import SqlJobs
from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.adapters.sql.schema import MigrationReport

# A write transaction that takes the lock at once, so two writers never both read first (upsert_user).
BEGIN_WRITE = "BEGIN IMMEDIATE"


# What SQLite says when the file, not the statement, is the trouble. Its other operational errors (no such table,
# a syntax error) are bugs and stay 500s, which the rollback alarm watches.
_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database file", "disk i/o error",
                "attempt to write a readonly database", "database or disk is full")


@contextmanager
def _file_trouble_is_unavailable() -> Iterator[None]:
    """The file locked past the busy timeout, or not there to open (an EFS mount missing, read-only): a 503 the
    client may retry, as PostgreSQL's dropped connections are, never a 500. The reason is logged, not answered."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if not str(error).lower().startswith(_UNAVAILABLE):
            raise
        logger.error("database_unavailable", extra={"dialect": "sqlite", "reason": str(error)[:200]})
        raise ServiceUnavailable(connections.BUSY, retry_after=1) from error


class _Connection(sqlite3.Connection):
    """sqlite3's connection, whose statements answer an operational failure (locked, cannot open, I/O) as
    ServiceUnavailable; a statement's own mistakes (constraints, syntax, a missing table) stay what they are."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        with _file_trouble_is_unavailable():
            return super().execute(sql, parameters)


def connect(path: str) -> sqlite3.Connection:
    # Autocommit: every statement is its own transaction unless a caller opens one explicitly.
    with _file_trouble_is_unavailable():
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0,
                               factory=_Connection)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    if connections.watching():
        conn.set_trace_callback(connections.record_statement)
    return conn


def accounts(path: str) -> SqlAccounts:
    return SqlAccounts(lambda: connect(path), begin_write=BEGIN_WRITE)


def api_keys(path: str) -> SqlApiKeys:
    return SqlApiKeys(lambda: connect(path), begin_write=BEGIN_WRITE)


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
