"""What every SQL repository shares: one connection per thread, opened on first use (the local gateway serves
requests on threads; a Lambda execution environment reuses its one connection across invocations)."""

from __future__ import annotations

import threading
from collections.abc import Callable
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
        return conn
