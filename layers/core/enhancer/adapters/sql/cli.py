"""`enhancer-db migrate` applies pending migrations; `enhancer-db check` verifies the schema (exit 1 on failure)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from enhancer.adapters.sql.migrate import migrate_and_check
from enhancer.adapters.sql.sqlite import connect


def _database_path(url: str | None) -> str:
    if url is None:
        from enhancer.config import get_settings

        return get_settings().sqlite_path
    if not url.startswith("sqlite:///"):
        raise SystemExit(f"unsupported database URL (expected sqlite:///<path>): {url}")
    return url.removeprefix("sqlite:///")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enhancer-db", description=__doc__)
    parser.add_argument("command", choices=("migrate", "check"))
    parser.add_argument("--database-url", help="sqlite:///<path>; defaults to DATABASE_URL")
    args = parser.parse_args(argv)
    path = _database_path(args.database_url)
    apply = args.command == "migrate"
    if apply:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    elif not Path(path).exists():
        print(f"FAIL database {path} does not exist")
        return 1
    conn = connect(path)
    try:
        report = migrate_and_check(conn, apply=apply)
    finally:
        conn.close()
    if apply:
        names = ": " + ", ".join(report.applied) if report.applied else ""
        print(f"applied {len(report.applied)} migration(s){names}")
    for problem in report.problems:
        print(f"FAIL {problem}")
    print("schema check: " + ("OK" if report.ok else f"{len(report.problems)} problem(s)"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
