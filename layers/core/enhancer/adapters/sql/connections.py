"""What every SQL repository shares: one connection per thread, opened on first use (the local gateway serves
requests on threads; a Lambda execution environment reuses its one connection across invocations), and write
transactions that run again when the database says a concurrent one got in the way."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from enhancer.domain.errors import ServiceUnavailable

T = TypeVar("T")
# A conflict on the same rows twice in a row is rare; five attempts with a short random pause settle it.
WRITE_ATTEMPTS = 5
BUSY = "The service is busy, please retry"


class TransactionConflict(Exception):
    """The database refused a transaction because a concurrent one changed what it read (PostgreSQL's
    serialization failure or a deadlock): nothing of it was kept, so running it again from the start is safe."""


class PerThreadConnection:
    def __init__(self, connect: Callable[[], Any], *, begin_write: str = "BEGIN") -> None:
        self._connect = connect
        self._local = threading.local()
        self._begin_write = begin_write

    def _write(self, work: Callable[[Any], T]) -> T:
        """`work(conn)` in one write transaction: all of it lands or none does. The dialect's `begin_write`
        makes concurrent writers safe (SQLite: one writer at a time; PostgreSQL: serializable, and a conflict
        runs `work` again on a fresh snapshot)."""
        for attempt in range(WRITE_ATTEMPTS):
            conn = self._conn
            conn.execute(self._begin_write)
            try:
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except TransactionConflict:
                _rollback(conn)
                time.sleep(random.uniform(0, 0.01 * 2 ** attempt))
            except BaseException:
                _rollback(conn)
                raise
        raise ServiceUnavailable(BUSY)

    @property
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            _record_connection()
        return conn


def _rollback(conn: Any) -> None:
    # A broken connection cannot roll back (the server already has); the error that got us here is what counts.
    with suppress(Exception):
        conn.execute("ROLLBACK")


class StatementWatch:
    """The statements the SQL repositories ran, and the connections they opened, while watched."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.connections_opened = 0

    def clear(self) -> None:
        self.statements.clear()
        self.connections_opened = 0


_watches: list[StatementWatch] = []


@contextmanager
def watch_statements() -> Iterator[StatementWatch]:
    """Round trips counted from inside the adapter (bench): only connections opened while watching report,
    and nothing is traced when nobody watches."""
    watch = StatementWatch()
    _watches.append(watch)
    try:
        yield watch
    finally:
        _watches.remove(watch)


def watching() -> bool:
    return bool(_watches)


def record_statement(statement: str) -> None:
    for watch in _watches:
        watch.statements.append(statement)


def _record_connection() -> None:
    for watch in _watches:
        watch.connections_opened += 1
