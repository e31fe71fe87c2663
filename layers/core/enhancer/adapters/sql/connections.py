"""What every SQL repository shares: one connection per thread, opened on first use (the local gateway serves
requests on threads; a Lambda execution environment reuses its one connection across invocations)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class PerThreadConnection:
    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._local = threading.local()

    @property
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            _record_connection()
        return conn


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
