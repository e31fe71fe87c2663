"""A throwaway PostgreSQL cluster on this machine (Debian's `postgresql` package): the test session's and the
bench's server, and one a developer can start for `DATABASE_URL=postgresql://… make dev`
(`python -m local.postgres`, README: PostgreSQL). Its server refuses to run as root, so as root it runs as the
`postgres` user. Durability is off (fsync, full pages, synchronous commit): nothing here outlives the cluster."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from local.aws import free_port

# The superuser `postgres` is trusted from this machine (the URLs the tests and bench use carry no credentials);
# every other role must prove its password, so a role whose password lives in a secret is really checked.
HBA = """local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""
NOT_INSTALLED = "PostgreSQL's server is not installed: `make test` installs Debian's postgresql package"


@dataclass(frozen=True)
class PostgresCluster:
    port: int
    root: Path

    def url(self, database: str) -> str:
        """A DATABASE_URL for `database` on this cluster (trust authentication: no credentials)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def binaries() -> Path:
    """The newest installed server's folder (Debian keeps each major version under /usr/lib/postgresql)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(NOT_INSTALLED)
    return Path(initdb).resolve().parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def throwaway_cluster(port: int | None = None) -> Iterator[PostgresCluster]:
    """initdb, start (about a second), yield, stop and delete."""
    bindir = binaries()
    root = Path(tempfile.mkdtemp(prefix="enhancer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", port or free_port()

    def run(*command: str) -> None:
        subprocess.run(_as_server_user(list(command)), check=True, capture_output=True, timeout=60)  # noqa: S603 - our own binaries, our own arguments

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
            "--locale=C.UTF-8")
        hba = data / "pg_hba.conf"
        hba.write_text(HBA)
        if os.geteuid() == 0:
            shutil.chown(hba, "postgres", "postgres")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log"), "start", "-o",
            f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200")
        try:
            yield PostgresCluster(port=port, root=root)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """Serve a throwaway cluster until interrupted, printing the DATABASE_URL to use with it."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 55432
    # Stopped by Ctrl+C or a plain kill, the cluster is stopped and deleted either way (a shell's background
    # job starts with SIGINT ignored, so both are set here).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with throwaway_cluster(port) as cluster:
        print(f"PostgreSQL on 127.0.0.1:{cluster.port}; run: DATABASE_URL={cluster.url('enhancer')} make dev",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
