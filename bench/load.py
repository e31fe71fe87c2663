"""The load run's figures: each route's latency and throughput on the local stack under a mixed load, as ratios
against the same run's floor (GET /_local/floor, an empty route through the same gateway and handler pipeline).

It runs `python -m load`'s own function (load/__main__.py: a stack of its own with the echo provider, locust
headless as a subprocess, the books checked afterwards) for a fixed time and number of users.
"""

from __future__ import annotations

import time

from bench.common import Context, SectionResult

NAME = "load"
TITLE = "Load: latency and throughput per route against the floor"
USERS = 20
SPAWN_RATE = 10
SECONDS = "60s"
FLOOR = "GET /_local/floor"


def run(ctx: Context) -> SectionResult:
    from load.__main__ import figures
    from load.__main__ import run as run_load

    started = time.perf_counter()
    result = run_load(users=USERS, spawn_rate=SPAWN_RATE, seconds=SECONDS, workdir=ctx.workdir / "load")
    document = figures(result)
    routes = document["routes"]
    floor = routes.get(FLOOR, {})
    order = sorted(routes, key=lambda name: (name != FLOOR, -routes[name]["requests"], name))
    rows = [[name, str(r["requests"]), f"{r['rps']:.2f}", f"{r['p50Ms']:g}", f"{r['p95Ms']:g}", f"{r['p99Ms']:g}",
             _ratio(r.get("p50VsFloor")), _ratio(r.get("p95VsFloor")), _ratio(r.get("throughputVsFloor")),
             str(r["failures"]), str(r["serverErrors"])]
            for name, r in ((n, routes[n]) for n in order)]
    total = document["total"] or {}
    books = result.books
    notes = [
        f"Floor: p50 {floor.get('p50Ms', 0):g} ms, p95 {floor.get('p95Ms', 0):g} ms, mean {floor.get('meanMs', 0):g} "
        f"ms under this load; the whole run served {total.get('requests', 0)} requests at "
        f"{total.get('rps', 0):.1f} req/s with {USERS} users, p50 {total.get('p50Ms', 0):g} ms, "
        f"p99 {total.get('p99Ms', 0):g} ms.",
        f"{result.server_errors} 5xx; failures count answers no task expects (a 429 or a used-up allowance is "
        f"expected, not a failure). {books.summary().capitalize()}.",
        "Set-up routes (the development sign-in, the credit checkout) run once per user at its start, while the "
        "stack is still warming up: their figures are few and cold.",
    ]
    if result.exceptions:
        notes.append("Exceptions in the simulated users: " + "; ".join(result.exceptions))
    notes += [f"Books: {problem}" for problem in books.problems[:10]]
    notes.append(f"The section took {time.perf_counter() - started:.0f} s.")
    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"`python -m load` (load/): the local stack with ENHANCER_PROVIDER=echo in a subprocess, and "
                f"`locust --headless` (another subprocess) with {USERS} users started {SPAWN_RATE} a second for "
                f"{SECONDS}: guests and signed-in users (free, pro, pro with a credit pack) in equal numbers, each "
                f"from an address of its own, waiting 0.5–1.5 s between tasks weighted over usage, models, jobs "
                f"list, generate (multipart, three at once by one owner, and after a presigned upload), job create "
                f"/ poll / cancel, image proxy GETs of results and uploads, and the floor: GET /_local/floor, an "
                f"empty FastAPI route in Mangum inside the same Powertools decorators "
                f"(`enhancer.entrypoints.http_handler`), served by the same gateway in the same run. Latencies are "
                f"locust's (client side, its CSV: percentiles rounded to 2 significant digits above 100 ms). "
                f"\"p50 vs floor\" = the route's p50 / the floor's p50; \"throughput vs floor\" = what one client "
                f"gets of the route per second of waiting (1000 / mean ms) against the same for the floor — the "
                f"routes' own req/s follow the task mix. Afterwards the books are checked (load/books.py): every "
                f"charge against each owner's usage and credits."),
        headers=["Route", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p50 vs floor", "p95 vs floor",
                 "Throughput vs floor", "Failures", "5xx"],
        rows=rows,
        figures={"users": USERS, "spawn_rate": SPAWN_RATE, "seconds": SECONDS, **document},
        notes=notes,
        passed=result.passed,
        budgeted=False,
    )


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"
