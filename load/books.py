"""After a load run, the books: every charge an answer showed, against what the API says each owner used and holds.

Per owner, exactly: its baseline (read before its first charge) plus the charges that stand — each 200 generate,
and each job that ended `succeeded` (a canceled or failed job's charge came back) — must be its daily images, its
monthly tenths and, for a user, its credit balance as `GET /api/ai-image/usage` reports them after the run. And
nothing exceeded a cap (the daily cap, the monthly allowance, a credit balance below zero, the guests of one address
past GUEST_IMAGES_PER_IP_PER_HOUR in a clock hour), every charge is what its options cost and splits into its plan
and credit portions, a job a cancel answered `canceled` stayed canceled, and every result URL of a standing charge
answers 200 with an image.

The checker reads as each owner (its cookies from the journal) from an address of its own, so the rate windows the
run used up do not refuse it; a 429 is waited out all the same.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from load.journal import read, tenths

FINAL = ("succeeded", "failed", "canceled")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")


@dataclass
class Books:
    owners: Counter[str] = field(default_factory=Counter)  # kind → owners
    charges: int = 0
    standing: int = 0
    given_back: Counter[str] = field(default_factory=Counter)  # final status of a job whose charge came back
    credits_spent_tenths: int = 0
    images_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        owners = ", ".join(f"{count} {kind}s" for kind, count in sorted(self.owners.items()))
        back = ", ".join(f"{count} {status}" for status, count in sorted(self.given_back.items())) or "none"
        verdict = "balanced" if self.balanced else f"NOT balanced: {len(self.problems)} problem(s)"
        return (f"books: {verdict} — {owners or 'no owners'}; {self.charges} charges, {self.standing} standing, "
                f"given back: {back}; {self.credits_spent_tenths / 10:g} credits spent from packs; "
                f"{self.images_checked} result images served")


class _Reader:
    """Requests as one owner: its cookies, from an address of its own."""

    def __init__(self, base_url: str, ip_header: str, address: str, cookies: dict[str, str],
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, cookies=cookies, headers={ip_header: address}, timeout=30,
                                 transport=transport)

    def get(self, path: str) -> httpx.Response:
        for _ in range(5):
            response = self.http.get(path)
            if response.status_code != 429:
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 61))
        return response

    def close(self) -> None:
        self.http.close()


def check(journal_path: str, base_url: str, *, ip_header: str = "X-Test-Client-Ip", guest_ip_cap: int = 20,
          job_timeout: float = 60, transport: httpx.BaseTransport | None = None) -> Books:
    """The books of the run `journal_path` recorded, read from the stack at `base_url` (`transport`: tests)."""
    records = read(journal_path)
    books = Books()
    owners = {r["owner"]: r for r in records if r["t"] == "owner"}
    charges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["t"] == "charge":
            charges[record["owner"]].append(record)
    canceled = {r["job"]: r["status"] for r in records if r["t"] == "cancel"}
    books.owners.update(o["kind"] for o in owners.values())
    base = int(ipaddress.IPv4Address(f"172.{random.randrange(16, 32)}.0.0"))
    readers = {owner_id: _Reader(base_url, ip_header, str(ipaddress.IPv4Address(base + n + 1)), owner["cookies"],
                                 transport)
               for n, (owner_id, owner) in enumerate(owners.items())}
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda oid: _owner_books(oid, owners[oid], charges.get(oid, []), canceled,
                                                             readers[oid], job_timeout), owners))
        standing_by_ip_hour: Counter[tuple[str, int]] = Counter()
        images: list[tuple[str, str]] = []
        for owner_id, (problems, standing, back, result_urls) in zip(owners, results, strict=True):
            books.problems += problems
            books.charges += len(charges.get(owner_id, []))
            books.standing += len(standing)
            books.given_back.update(back)
            books.credits_spent_tenths += sum(c["credits"] for c in standing)
            images += [(owner_id, url) for url in result_urls]
            if owners[owner_id]["kind"] == "guest":
                standing_by_ip_hour.update((c["ip"], int(c["at"] // 3600)) for c in standing)
        for owner_id in set(charges) - set(owners):
            books.problems.append(f"{owner_id}: charged but never registered")
        for (address, _hour), count in standing_by_ip_hour.items():
            if count > guest_ip_cap:
                books.problems.append(f"guests at {address}: {count} enhancements stand in one clock hour, "
                                      f"past the cap of {guest_ip_cap}")
        with ThreadPoolExecutor(max_workers=8) as pool:
            for problem in pool.map(lambda item: _serves_an_image(readers[item[0]], item[1]), images):
                books.images_checked += 1
                if problem:
                    books.problems.append(problem)
    finally:
        for reader in readers.values():
            reader.close()
    return books


def _owner_books(owner_id: str, owner: dict[str, Any], charges: list[dict[str, Any]], canceled: dict[str, str],
                 reader: _Reader, job_timeout: float) -> tuple[list[str], list[dict[str, Any]], list[str], list[str]]:
    """(problems, standing charges, final statuses of the jobs given back, result URLs to check) of one owner."""
    problems: list[str] = []
    standing: list[dict[str, Any]] = []
    back: list[str] = []
    results: list[str] = []
    for charge in charges:
        where = f"{owner_id} {charge['via']}{' ' + charge['job'] if charge['job'] else ''}"
        if charge["total"] != charge["cost"]:
            problems.append(f"{where}: charged {charge['total']} tenths for options costing {charge['cost']}")
        if charge["plan"] + charge["credits"] != charge["total"] or min(charge["plan"], charge["credits"]) < 0:
            problems.append(f"{where}: portions {charge['plan']} + {charge['credits']} ≠ total {charge['total']}")
        if owner["kind"] == "guest" and charge["credits"]:
            problems.append(f"{where}: a guest paid {charge['credits']} tenths in credits")
        if charge["dailyUsed"] is not None and charge["dailyUsed"] > charge["dailyLimit"]:
            problems.append(f"{where}: answered daily used {charge['dailyUsed']} of {charge['dailyLimit']}")
        if not charge["job"]:
            standing.append(charge)
            results.append(charge["result"])
            continue
        job = _final_job(reader, charge["job"], job_timeout)
        if job is None:
            problems.append(f"{where}: the job did not end within {job_timeout:g} s")
            continue
        if canceled.get(charge["job"]) == "canceled" and job["status"] != "canceled":
            problems.append(f"{where}: the cancel answered canceled, the job ended {job['status']}")
        if job["status"] == "succeeded":
            standing.append(charge)
            if not job["output"]:
                problems.append(f"{where}: succeeded without an output")
            else:
                results.append(job["output"]["url"])
        else:
            back.append(job["status"])
            if job["output"]:
                problems.append(f"{where}: {job['status']} but shows an output")
    usage_answer = reader.get("/api/ai-image/usage")
    if usage_answer.status_code != 200:
        problems.append(f"{owner_id}: usage answered {usage_answer.status_code}")
        return problems, standing, back, results
    usage = usage_answer.json()["data"]
    baseline = owner["baseline"]
    expected = {"daily images": baseline["daily"] + len(standing),
                "monthly tenths": baseline["monthlyTenths"] + sum(c["plan"] for c in standing)}
    found = {"daily images": usage["usage"]["used"], "monthly tenths": tenths(usage["monthlyUsage"]["used"])}
    if owner["kind"] != "guest":
        expected["credit tenths"] = (baseline["creditsTenths"] or 0) - sum(c["credits"] for c in standing)
        found["credit tenths"] = usage.get("creditsBalanceTenths", 0)
    for what, value in expected.items():
        if found[what] != value:
            problems.append(f"{owner_id} ({owner['kind']}, {owner.get('plan') or 'guest'}): {what} {found[what]}, "
                            f"the charges say {value} (baseline {baseline}, {len(standing)} standing charges)")
    if found["daily images"] > usage["usage"]["limit"]:
        problems.append(f"{owner_id}: {found['daily images']} images today, past the cap of {usage['usage']['limit']}")
    if found["monthly tenths"] > usage["monthlyUsage"]["limit"] * 10:
        problems.append(f"{owner_id}: {found['monthly tenths']} tenths this month, past the allowance")
    if found.get("credit tenths", 0) < 0:
        problems.append(f"{owner_id}: a credit balance below zero ({found['credit tenths']} tenths)")
    return problems, standing, back, results


def _final_job(reader: _Reader, job_id: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        answer = reader.get(f"/api/ai-image/jobs/{job_id}")
        if answer.status_code == 200 and answer.json()["data"]["status"] in FINAL:
            return dict(answer.json()["data"])
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def _serves_an_image(reader: _Reader, url: str) -> str | None:
    parts = httpx.URL(url)
    answer = reader.get(parts.raw_path.decode())
    if answer.status_code != 200:
        return f"{url}: answered {answer.status_code}"
    if not answer.headers.get("content-type", "").startswith("image/") or not answer.content.startswith(IMAGE_MAGIC):
        return f"{url}: 200 but not an image ({answer.headers.get('content-type')})"
    return None
