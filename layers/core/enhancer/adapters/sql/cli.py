"""`enhancer-db migrate` applies pending migrations; `enhancer-db check` verifies the schema (exit 1 on failure)."""

from __future__ import annotations

import argparse
import sys

from enhancer.adapters import sql
from enhancer.adapters.sql.url import EXPECTED, DatabaseUrl
from enhancer.domain.errors import ServiceUnavailable


def _database_url(url: str | None) -> DatabaseUrl:
    if url is None:  # DATABASE_URL, and nothing else of the settings: the owner-key secret is not needed here
        from enhancer.config import DatabaseSettings, load_group
        from enhancer.domain.errors import ConfigurationError

        try:
            return load_group(DatabaseSettings).database_url
        except ConfigurationError as exc:
            raise SystemExit(str(exc)) from None
    try:
        return DatabaseUrl(url)
    except ValueError:
        raise SystemExit(f"unsupported database URL (expected {EXPECTED}): {url}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enhancer-db", description=__doc__)
    parser.add_argument("command", choices=("migrate", "check"))
    parser.add_argument("--database-url", help=f"{EXPECTED}; defaults to DATABASE_URL")
    args = parser.parse_args(argv)
    url = _database_url(args.database_url)
    try:
        return _run(url, apply=args.command == "migrate")
    except ServiceUnavailable:  # the reason is logged (database_unavailable); the credentials never are
        print(f"FAIL database {url.where} cannot be reached")
        return 1


def _run(url: DatabaseUrl, *, apply: bool) -> int:
    if apply:
        sql.prepare(url)
    elif not sql.exists(url):
        print(f"FAIL database {url.where} does not exist")
        return 1
    report = sql.migrate_and_check(url, apply=apply)
    if apply:
        names = ": " + ", ".join(report.applied) if report.applied else ""
        print(f"applied {len(report.applied)} migration(s){names}")
    for problem in report.problems:
        print(f"FAIL {problem}")
    print("schema check: " + ("OK" if report.ok else f"{len(report.problems)} problem(s)"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
