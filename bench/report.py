"""Render section results: a text table for the terminal, JSON files, and bench/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, RESULTS_DIR, SectionResult, verdict

README = BENCH_DIR / "README.md"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(escape, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(escape, row)) + " |" for row in rows]
    return "\n".join(lines)


def write_json(result: SectionResult, meta: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{result.name}.json"
    document = {**meta, "section": result.name, "title": result.title, "method": result.method,
                "passed": result.passed, "budgeted": result.budgeted,
                "table": {"headers": result.headers, "rows": result.rows}, "notes": result.notes,
                "figures": result.figures}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def write_readme() -> Path:
    """bench/README.md from every results file, so running one section keeps the others' figures."""
    parts = [
        "# Benchmarks",
        "",
        "`make bench` (`.venv/bin/python -m bench`) measures the performance budgets of docs/architecture.md §10 "
        "and writes",
        "`bench/results/<section>.json` plus this file. Figures are compared as ratios measured in the same run",
        "on the same machine, never asserted in tests. `python -m bench --help` lists the options",
        "(`--only SECTION`, `--runs N`, `--strict` to exit 1 when a budget is missed).",
        "",
        "To add a section: a module in `bench/` with `NAME`, `TITLE` and `run(ctx) -> SectionResult`, listed in",
        "`bench/sections.py`.",
        "",
        "Sections, in the order they run: `cold_import` (fresh interpreters per function), then three that measure",
        "requests in a worker interpreter of their own (`python -m bench.<section>`, see `bench/inprocess.py`), so",
        "the settings, moto's patches and cached clients of one never reach another: `handler_overhead` (the real",
        "handlers with AWS answered in-process by hooks on their shared boto3 clients, `bench/aws_stub.py`),",
        "`dynamo_round_trips` (generate against moto, every AWS call counted) and `local_engine` (the Real-ESRGAN",
        "provider against the raw model call), then `jobs` (the local stack started twice in a worker, with the",
        "echo provider and with Replicate faked on the webhook path: jobs over HTTP through the state machine in",
        "moto, timed end to end and their entered states read from the execution history; and, in a second worker,",
        "one job create's DynamoDB, S3, Step Functions calls and SQL statements counted), then `cost` (the stack in a",
        "worker with Replicate faked on the webhook path, `bench/cost_worker.py`: the AWS cost of 1,000 generates and",
        "of 1,000 jobs from the invocations, AWS calls, state transitions, request sizes and log bytes counted, at the",
        "list prices of `bench/aws_prices.json`), then `load` (`python -m load`, see load/: locust against the",
        "stack with the echo provider for a fixed time, each route's p50 and throughput as a ratio against the floor,",
        "an empty route through the same gateway, and the books checked). The whole run takes about five minutes on",
        "2 CPUs.",
        "",
        "The machines here are shared virtual machines, so absolute figures move between runs (on one day the",
        "generate handler's median went from 2.5 to 4.0 ms and the floor's cold start from 326 to 712 ms); the",
        "ratios against a floor measured in the same run move much less. Compare ratios, and rerun a section",
        "(`--only NAME`) before reading much into one absolute figure.",
    ]
    from bench.sections import SECTIONS

    order = {name: index for index, name in enumerate(SECTIONS)}
    for path in sorted(RESULTS_DIR.glob("*.json"), key=lambda p: (order.get(p.stem, len(order)), p.stem)):
        doc = json.loads(path.read_text())
        machine = doc.get("machine", {})
        parts += [
            "", f"## {doc['title']}", "",
            f"Measured {doc['date']} on {machine.get('cpus')} CPUs ({machine.get('machine')}), "
            f"Python {machine.get('python')}; `{path.relative_to(BENCH_DIR.parent)}`. "
            f"{verdict(doc.get('budgeted', True), doc['passed'])}.",
            "", doc["method"], "", markdown_table(doc["table"]["headers"], doc["table"]["rows"]),
        ]
        if doc.get("notes"):
            parts += [""] + [f"- {note}" for note in doc["notes"]]
    README.write_text("\n".join(parts) + "\n")
    return README
