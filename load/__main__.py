"""python -m load [--users N] [--spawn-rate R] [--time T] [--host URL] — what `make load` runs.

Starts a local stack of its own (`python -m local`, echo provider, client addresses from a header) unless --host
names one, runs `locust --headless` on load/locustfile.py as a subprocess (locust monkey-patches with gevent, so it
never runs in this interpreter), prints each route's requests, failures, 5xx and p50 / p95 / p99 from locust's CSV,
with p50 and throughput against the floor (GET /_local/floor), then checks the books (load/books.py). Exit 1 on any
5xx, an unbalanced book, or a locust that did not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load.books import Books, check
from load.journal import JOURNAL_VARIABLE
from load.stats import HEADERS, RouteStats, exception_lines, failure_lines, read_stats, table_rows, text_table

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "load" / "locustfile.py"
IP_HEADER = "X-Test-Client-Ip"  # tests/local_stack.py's CLIENT_IP_HEADER, which its stack honours
STOP_TIMEOUT_SECONDS = 20  # at the end, each user finishes the task it is in: no request is cut off unanswered


@dataclass
class LoadResult:
    routes: list[RouteStats]
    total: RouteStats | None
    books: Books
    failures: list[str]
    exceptions: list[str]  # raised inside a simulated user: the load itself went wrong
    locust_exit: int
    seconds: str

    @property
    def server_errors(self) -> int:
        return sum(r.server_errors for r in self.routes)

    @property
    def passed(self) -> bool:
        return self.total is not None and self.server_errors == 0 and self.books.balanced and not self.exceptions

    def report(self) -> str:
        lines = [text_table(HEADERS, table_rows(self.routes, self.total)), ""]
        if self.failures:
            lines += ["failures (a 429 or a used-up allowance is not one):", *(f"  {f}" for f in self.failures), ""]
        if self.exceptions:
            lines += ["exceptions in the simulated users:", *(f"  {e}" for e in self.exceptions), ""]
        lines.append(self.books.summary())
        lines += [f"  {problem}" for problem in self.books.problems[:50]]
        if len(self.books.problems) > 50:
            lines.append(f"  … and {len(self.books.problems) - 50} more")
        verdict = "ok" if self.passed else "FAILED"
        books = "balanced" if self.books.balanced else "NOT balanced"
        lines.append(f"load: {verdict} — {self.server_errors} 5xx, {len(self.exceptions)} exceptions, books {books}")
        return "\n".join(lines)


@contextmanager
def _stack(workdir: Path, host: str | None) -> Iterator[dict[str, Any]]:
    if host:
        yield {"url": host.rstrip("/")}
        return
    from tests.local_stack import running_stack

    workdir.mkdir(parents=True, exist_ok=True)
    with running_stack(workdir, ENHANCER_PROVIDER="echo") as state:
        yield state


def run(*, users: int, spawn_rate: float, seconds: str, host: str | None = None, workdir: Path | None = None,
        aws_endpoint: str | None = None, table: str | None = None, echo: bool = False) -> LoadResult:
    """One load run and its books. `host`: a running stack (else one of our own in `workdir`); `aws_endpoint` and
    `table`: its DynamoDB, to start some credit users near the end of their allowance (known for our own stack)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="enhancer-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    journal = workdir / "journal.jsonl"
    journal.write_text("")
    prefix = workdir / "locust"
    with _stack(workdir / "stack", host) as stack:
        url = stack["url"]
        env = {**os.environ, JOURNAL_VARIABLE: str(journal), "LOAD_IP_HEADER": IP_HEADER,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        endpoint, table_name = aws_endpoint or stack.get("awsEndpoint"), table or stack.get("table")
        if endpoint and table_name:
            env.update(LOAD_AWS_ENDPOINT=endpoint, LOAD_TABLE=table_name)
        command = [sys.executable, "-m", "locust", "--headless", "-f", str(LOCUSTFILE), "--host", url,
                   "-u", str(users), "-r", str(spawn_rate), "-t", seconds, "--stop-timeout", str(STOP_TIMEOUT_SECONDS),
                   "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
        log = workdir / "locust.log"
        with log.open("w") as output:
            done = subprocess.run(command,  # noqa: S603 - our own interpreter and file
                                  cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, check=False)
        if echo:
            print(log.read_text(), flush=True)
        if not Path(f"{prefix}_stats.csv").exists():
            raise RuntimeError(f"locust did not run (exit {done.returncode}):\n{log.read_text()[-3000:]}")
        routes, total = read_stats(prefix)
        books = check(str(journal), url, ip_header=IP_HEADER,
                      guest_ip_cap=int(os.environ.get("GUEST_IMAGES_PER_IP_PER_HOUR", "20")))
    return LoadResult(routes, total, books, failure_lines(prefix), exception_lines(prefix), done.returncode, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", "-u", type=int, default=20, help="simulated people at once (20)")
    parser.add_argument("--spawn-rate", "-r", type=float, default=5, help="people started per second (5)")
    parser.add_argument("--time", "-t", default="30s", help="how long the load runs, as locust takes it (30s)")
    parser.add_argument("--host", help="a running stack (its gateway must honour X-Test-Client-Ip to give each "
                                       "person an address); default: a stack of its own, echo provider")
    parser.add_argument("--aws-endpoint", help="with --host: its AWS endpoint (the credit users' set-up)")
    parser.add_argument("--table", help="with --aws-endpoint: its DynamoDB table")
    parser.add_argument("--keep", type=Path, help="keep the journal, locust's CSV and the stack's log here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="enhancer-load-"))
    try:
        result = run(users=args.users, spawn_rate=args.spawn_rate, seconds=args.time, host=args.host,
                     workdir=workdir, aws_endpoint=args.aws_endpoint, table=args.table)
        print(result.report(), flush=True)
        if args.json:
            args.json.write_text(json.dumps(figures(result), indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result.passed else 1


def figures(result: LoadResult) -> dict[str, Any]:
    floor = next((r for r in result.routes if r.name == "GET /_local/floor"), None)

    def route(stats: RouteStats) -> dict[str, Any]:
        entry: dict[str, Any] = {"requests": stats.requests, "failures": stats.failures,
                                 "serverErrors": stats.server_errors, "rps": round(stats.rps, 2),
                                 "p50Ms": stats.p50_ms, "p95Ms": stats.p95_ms, "p99Ms": stats.p99_ms,
                                 "meanMs": round(stats.mean_ms, 2)}
        if floor and floor.p50_ms and floor.mean_ms:
            entry["p50VsFloor"] = round(stats.p50_ms / floor.p50_ms, 2)
            entry["p95VsFloor"] = round(stats.p95_ms / floor.p95_ms, 2) if floor.p95_ms else None
            entry["throughputVsFloor"] = round(stats.per_client_rps / floor.per_client_rps, 2)
        return entry

    books = result.books
    return {"routes": {r.name: route(r) for r in result.routes},
            "total": route(result.total) if result.total else None,
            "books": {"balanced": books.balanced, "owners": dict(books.owners), "charges": books.charges,
                      "standing": books.standing, "givenBack": dict(books.given_back),
                      "creditsSpentTenths": books.credits_spent_tenths, "imagesChecked": books.images_checked,
                      "problems": books.problems},
            "serverErrors": result.server_errors, "passed": result.passed}


if __name__ == "__main__":
    sys.exit(main())
