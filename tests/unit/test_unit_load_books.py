"""The load test's books (load/books.py) against an API faked at the HTTP layer: they balance when the usage is
the baseline plus the charges that stand, and name the owner and the counter when it is not — so a balanced
`make load` means something."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from load.books import check
from load.journal import Journal

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
BASE = "http://stack.test"


def journal(path: Path, *, credits_tenths: int = 40) -> Path:
    book = Journal(path)
    book.write("owner", owner="u-1", kind="user", plan="pro", ip="10.0.0.1", cookies={"session_id": "s"},
               dailyLimit=30, monthlyLimitTenths=3000,
               baseline={"daily": 0, "monthlyTenths": 2970, "creditsTenths": credits_tenths})
    common = {"owner": "u-1", "ip": "10.0.0.1", "dailyUsed": 1, "dailyLimit": 30}
    book.write("charge", via="generate", job=None, cost=25, total=25, plan=25, credits=0,
               result=f"{BASE}/r2-ai/results/a.png", **common)
    book.write("charge", via="job", job="j-ok", cost=20, total=20, plan=5, credits=15, result=None, **common)
    book.write("charge", via="job", job="j-back", cost=10, total=10, plan=0, credits=10, result=None, **common)
    book.write("cancel", owner="u-1", job="j-back", status="canceled")
    return path


def api(usage: dict[str, Any]) -> httpx.MockTransport:
    jobs = {"j-ok": {"status": "succeeded", "output": {"url": f"{BASE}/r2-ai/results/b.png"}},
            "j-back": {"status": "canceled", "output": None}}

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/ai-image/usage":
            return httpx.Response(200, json={"success": True, "data": usage})
        if path.startswith("/api/ai-image/jobs/"):
            return httpx.Response(200, json={"success": True, "data": jobs[path.rsplit("/", 1)[1]]})
        if path.startswith("/r2-ai/"):
            return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})
        return httpx.Response(404)

    return httpx.MockTransport(answer)


def usage(daily: int, monthly: float, credits_tenths: int) -> dict[str, Any]:
    return {"usage": {"used": daily, "limit": 30}, "monthlyUsage": {"used": monthly, "limit": 300},
            "creditsBalanceTenths": credits_tenths}


def test_the_books_balance_when_usage_is_the_baseline_plus_the_standing_charges(tmp_path: Path) -> None:
    # generate 25 + job 5 from the plan = 3000 tenths; the job's 15 from credits: 40 - 15; the canceled job came back
    books = check(str(journal(tmp_path / "j.jsonl")), BASE, transport=api(usage(2, 300, 25)))

    assert books.balanced, books.problems
    assert (books.charges, books.standing, dict(books.given_back)) == (3, 2, {"canceled": 1})
    assert books.credits_spent_tenths == 15 and books.images_checked == 2


def test_a_charge_the_counters_do_not_show_or_a_refund_not_given_is_named(tmp_path: Path) -> None:
    kept_refund = check(str(journal(tmp_path / "a.jsonl")), BASE, transport=api(usage(3, 300, 15)))

    assert not kept_refund.balanced
    assert any("daily images 3, the charges say 2" in p for p in kept_refund.problems), kept_refund.problems
    assert any("credit tenths 15, the charges say 25" in p for p in kept_refund.problems), kept_refund.problems


def test_a_result_that_is_not_an_image_is_a_problem(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/r2-ai/"):
            return httpx.Response(200, content=b"<html>", headers={"Content-Type": "text/html"})
        return api(usage(2, 300, 25)).handle_request(request)

    books = check(str(journal(tmp_path / "j.jsonl")), BASE, transport=httpx.MockTransport(answer))

    assert sum("not an image" in p for p in books.problems) == 2, json.dumps(books.problems)
