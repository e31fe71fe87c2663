"""The SQL store locked (a second connection holds SQLite's exclusive lock past the busy timeout the code
waits) or unreachable (a file that cannot be opened; a PostgreSQL port nothing listens on): 503
`service_unavailable`, the reservation given back, the stored original removed, no job row."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from enhancer import bootstrap
from tests.faults.conftest import (
    GUEST,
    assert_error,
    generate_event,
    job_rows,
    jobs_create_event,
    load_event,
)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's write transaction: `BEGIN EXCLUSIVE` on the same file, held until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_sql_locked_on_a_jobs_insert_is_503_gives_back_and_removes_the_original(invoke, books, db, settings_env,
                                                                                state_machine):
    with locked(settings_env):
        reply = invoke("JobsCreateFunction", jobs_create_event())

    assert_error(reply, 503, "service_unavailable")
    assert job_rows(db) == []
    books.untouched()
    assert books.given_back_markers() == 1


def test_sql_locked_on_a_signed_in_users_session_is_503_before_anything_is_charged(invoke, books, accounts,
                                                                                  settings_env):
    user = accounts.upsert_user("locked@example.com", plan="pro")
    session = accounts.create_session(user.user_id, int(time.time()) + 3600)
    with locked(settings_env):
        reply = invoke("GenerateFunction", generate_event(extra_cookies={"session_id": session}))

    assert_error(reply, 503, "service_unavailable")
    assert books.daily(user.user_id, "user") == 0 and books.monthly_tenths(user.user_id, "user") == 0
    assert books.objects() == []


@pytest.fixture
def missing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DATABASE_URL names a file in a directory that does not exist (an EFS mount that is not there)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-mount' / 'enhancer.db'}")
    bootstrap.reset()


def test_sql_unreachable_on_a_jobs_insert_is_503_and_gives_back(invoke, books, missing_database, state_machine):
    reply = invoke("JobsCreateFunction", jobs_create_event())

    assert_error(reply, 503, "service_unavailable")
    books.untouched()
    assert books.given_back_markers() == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_postgresql_unreachable_is_503_and_gives_back(invoke, books, state_machine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://enhancer@127.0.0.1:{_closed_port()}/enhancer?sslmode=disable")
    bootstrap.reset()

    reply = invoke("JobsCreateFunction", jobs_create_event())
    listed = invoke("JobsListFunction", load_event("jobs-list-get", cookies={"guest_id": GUEST}))

    assert_error(reply, 503, "service_unavailable")
    assert_error(listed, 503, "service_unavailable")
    books.untouched()
