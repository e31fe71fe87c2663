"""The bounded load run of `make load` (`python -m load`): a few guests and users for a few seconds on a stack of
its own (echo provider), locust in a subprocess. Correctness only — no 5xx, nothing raised in a simulated user, the
books balanced per owner, every result served as an image — never a time: latency is `make load`'s and
`make bench`'s to report (bench/README.md, "Load"), not a test's to assert."""

from __future__ import annotations

from pathlib import Path

from load.__main__ import run


def test_a_short_mixed_load_gives_no_5xx_and_the_books_balance(tmp_path: Path) -> None:
    result = run(users=6, spawn_rate=6, seconds="12s", workdir=tmp_path)

    report = result.report()
    assert result.total is not None and result.total.requests > 0, report
    assert result.server_errors == 0, report
    assert not result.exceptions, report
    assert result.books.balanced, report
    assert result.books.owners["guest"] and result.books.owners["user"], report
    assert result.books.charges > 0 and result.books.images_checked > 0, report
    routes = {r.name for r in result.routes}
    assert {"GET /_local/floor", "POST /api/ai-image/generate", "POST /api/ai-image/jobs"} <= routes, report
