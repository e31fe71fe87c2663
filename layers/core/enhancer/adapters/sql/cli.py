"""`enhancer-db migrate` applies pending migrations; `enhancer-db check` verifies the schema (exit 1 on failure)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from enhancer.adapters.sql.migrate import apply_migrations, check_schema
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
    if args.command == "migrate":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with connect(path) as conn:
            applied = apply_migrations(conn)
        print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
        return 0
    if not Path(path).exists():
        print(f"FAIL database {path} does not exist")
        return 1
    with connect(path) as conn:
        problems = check_schema(conn)
    for problem in problems:
        print(f"FAIL {problem}")
    print("schema check: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
