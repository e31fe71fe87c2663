"""`make smoke` (ops/smoke.py, the go-live checklist's §10) against the local stack: every check passes; in front
of a stack with one broken route it fails and names the check; where nothing answers it reports, never raises."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ops.smoke import run

EVERY_CHECK = 12


def test_every_check_passes_against_the_local_stack(stack, capsys):
    failures = run(stack["url"])

    printed = capsys.readouterr().out
    assert failures == 0, printed
    assert printed.count("PASS") == EVERY_CHECK and printed.rstrip().endswith(f"{EVERY_CHECK} passed, 0 failed")
    for check in ("jobs: the job ends succeeded", "jobs: cancel answers 200", "proxy: someone else's result is 403",
                  "rate limit: a burst ends in 429", "405 with Allow"):
        assert check in printed


class _BreakingProxy(BaseHTTPRequestHandler):
    """Forwards everything to the stack except the one broken path prefix, which answers 502 as a broken
    integration would."""

    upstream = ""
    broken = ""

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        if self.path.startswith(self.broken):
            self.send_response(502)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message":"Internal Server Error"}')
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(self.command, self.upstream + self.path, headers=headers, content=body, timeout=60)
        self.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def broken_jobs_route(stack) -> Iterator[str]:
    handler = type("Proxy", (_BreakingProxy,), {"upstream": stack["url"], "broken": "/api/ai-image/jobs"})
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_broken_route_fails_its_check_and_the_report_names_it(broken_jobs_route, capsys):
    failures = run(broken_jobs_route, generate=False, rate_limit=False)

    printed = capsys.readouterr().out
    assert failures == 1, printed
    assert "FAIL  jobs: POST answers 202 with the job's id  — 502" in printed
    assert "Failed against" in printed and "  - jobs: POST answers 202 with the job's id: 502" in printed
    assert printed.rstrip().endswith("3 passed, 1 failed")


def test_where_nothing_answers_every_check_fails_and_none_raises(capsys):
    from local.aws import free_port

    failures = run(f"http://127.0.0.1:{free_port()}", generate=False, jobs=False, rate_limit=False)

    assert failures == 2  # one per check, each reported, none raised
    assert capsys.readouterr().out.count("FAIL") == 2
