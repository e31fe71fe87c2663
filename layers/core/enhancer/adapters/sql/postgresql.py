"""The PostgreSQL dialect: Aurora PostgreSQL behind RDS Proxy in AWS, any PostgreSQL server locally. The factory in
this package's `__init__` dispatches here; product code outside `adapters/sql/` never imports this module.

The driver is pg8000 (pure Python, BSD): no native wheel has to match Lambda's glibc and architecture
(docs/architecture.md, "The relational store"), and it is imported only when a connection is first opened.
The repositories speak DB-API with qmark parameters; `PostgresConnection` gives them that over pg8000's
protocol-level calls, and owns what Lambda needs of a connection: one per execution environment, re-opened
after it breaks, a bounded wait for every statement, the password read from a secret.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Sequence
from contextlib import suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from enhancer.adapters.secrets import read_secret
from enhancer.adapters.sql import connections
from enhancer.adapters.sql.accounts import SqlAccounts
from enhancer.adapters.sql.api_keys import SqlApiKeys
from enhancer.adapters.sql.billing import SqlBilling
from enhancer.adapters.sql.connections import BUSY, TransactionConflict
from enhancer.adapters.sql.jobs import SqlJobs
from enhancer.adapters.sql.url import PostgresTarget
from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.adapters.sql.schema import MigrationReport

# Serializable: a write transaction that read what a concurrent one changed fails with 40001 and runs again
# (connections.PerThreadConnection._write). No advisory locks: RDS Proxy pins a connection that takes one.
BEGIN_WRITE = "BEGIN ISOLATION LEVEL SERIALIZABLE"
# How long a statement may run on the server before it is cancelled (57014 → 503). The migrator sets it on the
# database (ALTER DATABASE … SET), so every session has it without a SET or a startup option, either of which
# would pin the connection in RDS Proxy; `enhancer-db check` proves it is there.
STATEMENT_TIMEOUT_MS = 5000
# How long the client waits for the server: connecting, and each reply (the socket's timeout).
SOCKET_TIMEOUT_SECONDS = 10
# A connection unused this long is pinged before use: a frozen execution environment thaws with a socket the
# proxy may have closed (IdleClientTimeout) and a broken connection is cheaper to find before a transaction.
IDLE_PING_SECONDS = 300
APPLICATION_NAME = "image-enhancer"

# SQLSTATE classes: 40001 serialization failure and 40P01 deadlock run the transaction again; connection
# exceptions (08), operator intervention (57P: shutdown, failover) and too many connections (53300) drop the
# connection; a cancelled statement (57014, the statement timeout) only answers 503.
_CONFLICT = ("40001", "40P01")
_CONNECTION_LOST = ("08", "57P", "53300")
_TIMED_OUT = "57014"
_UNDEFINED_DATABASE = "3D000"


class DatabaseError(Exception):
    """An error the server reported that is not about the connection or a conflict (a constraint, bad SQL)."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate


class _Result:
    """What DB-API callers read of a statement: rows, how many rows it changed, and its columns."""

    def __init__(self, rows: list[list[Any]] | None, row_count: int, columns: list[dict[str, Any]] | None) -> None:
        self._rows = [tuple(row) for row in rows or ()]
        self.rowcount = row_count
        self.description = tuple((column["name"],) for column in columns) if columns else None

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Any:
        return iter(self.fetchall())


class PostgresConnection:
    """One server connection, opened on first use and again after it broke (the next statement reconnects)."""

    def __init__(self, target: PostgresTarget, *, database: str | None = None) -> None:
        self._target = target
        self._database = database or target.database
        self._con: Any = None
        self._used_at = 0.0
        self._traced = connections.watching()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        """One statement with qmark parameters; or, without parameters, a script of several (simple query).

        When the connection turns out to be gone (the proxy or a failover closed it) and the statement can be
        sent again without doing anything twice — a read, or the BEGIN of a transaction, outside a transaction —
        it runs once more on a new connection; anything else answers 503 and the next statement reconnects."""
        for attempt in range(2):
            con = self._open()
            repeatable = attempt == 0 and _repeatable(sql) and con._transaction_status == _IDLE
            if self._traced:
                connections.record_statement(sql)
            try:
                # With parameters, one statement; without, the simple query protocol (a script may run).
                context = (_extended_query(con, _numbered(sql, len(params)), params) if params
                           else con.execute_simple(sql))
            except Exception as exc:
                translated = self._translated(exc)
                if repeatable and self._con is None:  # lost, not refused: _translated closed it
                    continue
                raise translated from exc
            finally:
                self._used_at = time.monotonic()
            return _Result(context.rows, context.row_count, context.columns)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with suppress(Exception):  # closing a connection that already broke has nothing to report
                con.close()

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> Any:
        if self._con is not None and time.monotonic() - self._used_at > IDLE_PING_SECONDS:
            try:
                self._con.execute_simple("SELECT 1")
            except Exception:
                self.close()
        if self._con is None:
            self._con = _connect(self._target, self._database)
            self._used_at = time.monotonic()
        return self._con

    def _translated(self, exc: Exception) -> Exception:
        from pg8000 import exceptions as pg

        if isinstance(exc, pg.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
            fields = exc.args[0]
            sqlstate, message = str(fields.get("C", "")), str(fields.get("M", ""))
            if sqlstate in _CONFLICT:
                return TransactionConflict(sqlstate)
            if sqlstate == _TIMED_OUT or sqlstate.startswith(_CONNECTION_LOST):
                logger.warning("database_unavailable", extra={"sqlstate": sqlstate, "reason": message})
                if sqlstate != _TIMED_OUT:
                    self.close()
                return ServiceUnavailable(BUSY)
            return DatabaseError(sqlstate, message)
        if isinstance(exc, (pg.InterfaceError, OSError)):
            logger.warning("database_unavailable", extra={"reason": str(exc)})
            self.close()
            return ServiceUnavailable(BUSY)
        return exc


_IDLE = b"I"  # the transaction status ReadyForQuery reports outside a transaction (pg8000 keeps it)


def _repeatable(sql: str) -> bool:
    """A single SELECT or BEGIN (a script, whatever it starts with, may have changed something)."""
    statement = sql.strip().rstrip(";")
    return statement.split(None, 1)[0].upper() in ("SELECT", "BEGIN") and ";" not in statement


@lru_cache(maxsize=512)
def _numbered(sql: str, count: int) -> str:
    """`sql` with $1…$n for its qmarks (quoted text left alone)."""
    from pg8000.dbapi import convert_paramstyle

    statement, _ = convert_paramstyle("qmark", sql, tuple(range(count)))
    return str(statement)


def _extended_query(con: Any, statement: str, params: Sequence[Any]) -> Any:
    """Parse, describe, bind and execute the unnamed statement in ONE round trip. pg8000's `execute_unnamed`
    waits for the server after each step (three round trips); every message here is the one it sends, with a
    single Sync at the end, so an error anywhere skips the rest and is raised once. Unnamed statements, never
    named ones: RDS Proxy may hand the next transaction to another server connection."""
    from pg8000 import core
    from pg8000.converters import make_params

    context = core.Context(statement)
    con.send_PARSE(core.NULL_BYTE, statement, ())
    con.send_DESCRIBE_STATEMENT(core.NULL_BYTE)
    con.send_BIND(core.NULL_BYTE, make_params(con.py_types, params))
    con.send_EXECUTE()
    core._write(con._sock, core.SYNC_MSG)
    core._flush(con._sock)
    con.handle_messages(context)
    return context


def _connect(target: PostgresTarget, database: str) -> Any:
    from pg8000 import exceptions as pg
    from pg8000.native import Connection

    try:
        return Connection(
            user=target.user, host=target.host, port=target.port, database=database,
            password=_password(target), ssl_context=_ssl_context(target.sslmode), timeout=SOCKET_TIMEOUT_SECONDS,
            tcp_keepalive=True, application_name=APPLICATION_NAME)
    except pg.DatabaseError as exc:
        fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        if fields.get("C") == _UNDEFINED_DATABASE:
            raise
        logger.warning("database_unavailable", extra={"sqlstate": fields.get("C"), "reason": fields.get("M")})
        raise ServiceUnavailable(BUSY) from exc
    except (pg.InterfaceError, OSError) as exc:
        logger.warning("database_unavailable", extra={"reason": str(exc)})
        raise ServiceUnavailable(BUSY) from exc
    except Exception as exc:  # pg8000 fails this way when the server asks for a password it was not given
        logger.warning("database_unavailable", extra={"reason": type(exc).__name__})
        raise ServiceUnavailable(BUSY) from exc


def _password(target: PostgresTarget) -> str | None:
    """The password from the secret the URL names: the JSON RDS keeps for a cluster, or the password alone."""
    value = read_secret(target.credentials, purpose="database_credentials")
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return str(parsed["password"]) if isinstance(parsed, dict) and "password" in parsed else value


def _ssl_context(mode: str) -> ssl.SSLContext | None:
    if mode == "disable":
        return None
    context = ssl.create_default_context()  # verify-full: the chain (Amazon's roots are public) and the name
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(target: PostgresTarget) -> PostgresConnection:
    return PostgresConnection(target)


def accounts(target: PostgresTarget) -> SqlAccounts:
    return SqlAccounts(lambda: connect(target), begin_write=BEGIN_WRITE)


def api_keys(target: PostgresTarget) -> SqlApiKeys:
    return SqlApiKeys(lambda: connect(target), begin_write=BEGIN_WRITE)


def billing(target: PostgresTarget) -> SqlBilling:
    return SqlBilling(lambda: connect(target), begin_write=BEGIN_WRITE)


def jobs(target: PostgresTarget) -> SqlJobs:
    return SqlJobs(lambda: connect(target), begin_write=BEGIN_WRITE)


def exists(target: PostgresTarget) -> bool:
    from pg8000 import exceptions as pg

    try:
        with PostgresConnection(target) as conn:
            conn.execute("SELECT 1")
    except pg.DatabaseError:  # only an undefined database gets out of _connect as itself
        return False
    return True


def prepare(target: PostgresTarget) -> None:
    """Room for a new database: the database itself, created through the server's `postgres` database."""
    if exists(target):
        return
    with PostgresConnection(target, database="postgres") as conn:
        name = conn.execute("SELECT quote_ident(?)", (target.database,)).fetchone()
        try:
            conn.execute(f"CREATE DATABASE {name[0] if name else target.database}")
        except DatabaseError as exc:
            if exc.sqlstate != "42P04":  # another migrator created it first
                raise


def migrate_and_check(target: PostgresTarget, *, apply: bool) -> MigrationReport:
    from enhancer.adapters.sql import postgres_migrator

    with PostgresConnection(target) as conn:
        return postgres_migrator.migrate_and_check(conn, apply=apply)
