"""A throwaway PostgreSQL cluster for the test session (`local/postgres.py`; Debian's `postgresql` package,
installed by `make test`), and a fresh database on it per test.

    postgres_server   the cluster: started once per session (about a second), stopped at its end
    postgres_url      a new, empty database on it: postgresql://postgres@127.0.0.1:<port>/<name>
    database_url      parametrized: an SQLite file, then a PostgreSQL database (the suites that run on both)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from enhancer.adapters import sql
from local.postgres import PostgresCluster, throwaway_cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except RuntimeError as exc:  # not installed: a failure that says what to do, never a skip
        pytest.fail(str(exc))


@pytest.fixture
def postgres_url(postgres_server: PostgresCluster) -> str:
    """A database of its own for one test, created by the product's own `prepare`."""
    url = postgres_server.url(f"test_{uuid.uuid4().hex[:12]}")
    sql.prepare(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both engines: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'enhancer.db'}"
    return str(request.getfixturevalue("postgres_url"))
