"""A throwaway PostgreSQL cluster for the test session (Debian's `postgresql` package, installed by `make test`),
and a fresh database on it per test. Its server refuses to run as root, so as root it runs as `postgres`.

    postgres_server   the cluster: started once per session (about a second), stopped at its end
    postgres_url      a new, empty database on it: postgresql://postgres@127.0.0.1:<port>/<name>
    database_url      parametrized: an SQLite file, then a PostgreSQL database (the suites that run on both)
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from enhancer.adapters import sql


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail("PostgreSQL's server is not installed: `make test` installs Debian's postgresql package")
    return Path(initdb).resolve().parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _binaries()
    root = Path(tempfile.mkdtemp(prefix="enhancer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run(_as_server_user(list(command)), check=True, capture_output=True, timeout=60)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
        "--locale=C.UTF-8")
    # Durability off (fsync, full pages, synchronous commit): a test cluster that dies loses nothing of value.
    run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log"), "start", "-o",
        f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
        "-c synchronous_commit=off -c max_connections=200")
    try:
        yield PostgresServer(port=port)
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
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
