"""Locust's CSV (`<prefix>_stats.csv`, `<prefix>_failures.csv`) as the runner's per-route table, with each route
against the floor of the same run (`GET /_local/floor`: an empty route through the same gateway and pipeline).

Ratios, so the figure survives a noisy machine: p50 / floor p50, and throughput as what one client gets of a route
per second of waiting (1000 / mean ms) against the same for the floor — route req/s themselves follow the task mix.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

FLOOR = "GET /_local/floor"


@dataclass(frozen=True)
class RouteStats:
    name: str  # "GET /api/ai-image/usage"
    requests: int
    failures: int
    server_errors: int  # 5xx and connection failures, from the failures CSV
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def per_client_rps(self) -> float:
        return 1000 / self.mean_ms if self.mean_ms else 0.0


def read_stats(prefix: Path) -> tuple[list[RouteStats], RouteStats | None]:
    """Every route (named `METHOD name`) and the aggregated row."""
    errors = server_errors(prefix)
    routes, total = [], None
    with Path(f"{prefix}_stats.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["Name"]  # the locustfile names every request `METHOD route`
            fives = sum(errors.values()) if name == "Aggregated" else errors.get(name, 0)
            stats = RouteStats(name=name, requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
                               server_errors=fives,
                               mean_ms=float(row["Average Response Time"]), p50_ms=_ms(row["50%"]),
                               p95_ms=_ms(row["95%"]), p99_ms=_ms(row["99%"]), rps=float(row["Requests/s"]))
            if row["Name"] == "Aggregated":
                total = stats
            else:
                routes.append(stats)
    return routes, total


def server_errors(prefix: Path) -> dict[str, int]:
    """Route → failures that were a 5xx or no answer at all (locustfile.py words them `server error …`; locust's own
    connection errors have no status)."""
    counts: dict[str, int] = {}
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return counts
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            error = row["Error"]
            if error.startswith("server error") or "Connection" in error or "Timeout" in error \
                    or error.startswith("HTTPError('5"):
                name = row["Name"]
                counts[name] = counts.get(name, 0) + int(row["Occurrences"])
    return counts


def failure_lines(prefix: Path, limit: int = 20) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: -int(r["Occurrences"]))
    return [f"{r['Occurrences']}× {r['Name']}: {r['Error'][:160]}" for r in rows[:limit]]


def exception_lines(prefix: Path) -> list[str]:
    """What raised inside a simulated user (a bug of the load test, or an answer it could not read)."""
    path = Path(f"{prefix}_exceptions.csv")
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [f"{r['Count']}× {r['Message'][:200]}" for r in csv.DictReader(handle)]


def _ms(cell: str) -> float:
    return float(cell) if cell not in ("", "N/A") else 0.0


HEADERS = ["route", "requests", "failures", "5xx", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms",
           "p50 vs floor", "throughput vs floor"]


def table_rows(routes: list[RouteStats], total: RouteStats | None) -> list[list[str]]:
    floor = next((r for r in routes if r.name == FLOOR), None)
    ordered = sorted(routes, key=lambda r: (r.name != FLOOR, r.name))
    rows = [_row(r, floor) for r in ordered]
    if total is not None:
        rows.append(_row(total, None, name="all routes"))
    return rows


def _row(stats: RouteStats, floor: RouteStats | None, name: str | None = None) -> list[str]:
    p50_ratio = f"{stats.p50_ms / floor.p50_ms:.2f}×" if floor and floor.p50_ms else "–"
    throughput = f"{stats.per_client_rps / floor.per_client_rps:.2f}×" if floor and floor.per_client_rps else "–"
    return [name or stats.name, str(stats.requests), str(stats.failures), str(stats.server_errors),
            f"{stats.rps:.1f}", f"{stats.p50_ms:g}", f"{stats.p95_ms:g}", f"{stats.p99_ms:g}", f"{stats.mean_ms:.1f}",
            p50_ratio, throughput]


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)
