"""What every section shares: the run context, fresh-interpreter probes, and the result shape."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
TEMPLATE = ROOT / "template.yaml"
PROBE = BENCH_DIR / "probe.py"

# Enough for every function's settings to validate at import, with no network and no AWS account.
PROBE_ENVIRONMENT = {
    "ENVIRONMENT": "development",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "TABLE_NAME": "bench-table",
    "BUCKET_NAME": "bench-bucket",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_DEV": "false",
    # Set by the Lambda runtime; the enhancer package defers garbage collection to the first event there.
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
}
# Inherited settings that would change what or how the probe imports.
SCRUBBED = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME",
            "OWNER_KEY_SECRET", "OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@dataclass
class Context:
    runs: int
    python: str = sys.executable
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="enhancer-bench-")))

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update(PROBE_ENVIRONMENT)
        env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'bench.db'}"
        env.update(extra)
        return env


@dataclass(frozen=True)
class Probe:
    """One target to import in a fresh interpreter."""

    label: str
    args: tuple[str, ...]  # after probe.py: ("floor",) or ("handler", code_dir, "module.attr")
    env: tuple[tuple[str, str], ...] = ()  # variables set for this probe alone, over PROBE_ENVIRONMENT


@dataclass(frozen=True)
class Sample:
    total_ms: float  # from spawning the interpreter to the target being ready (what a cold start pays)
    import_ms: float  # inside the interpreter, from before the first import to the target being ready
    present: tuple[str, ...]
    modules: int
    beyond_ms: float | None = None  # handler-after-floor probes: the handler's import alone, after the floor


def spawn(ctx: Context, probe: Probe, *, pycache_prefix: Path, write_bytecode: bool = True,
          watch: tuple[str, ...] = ()) -> Sample:
    """Start a fresh interpreter on the probe and time it up to the line it prints once the target is built."""
    command = [ctx.python, "-X", f"pycache_prefix={pycache_prefix}"]
    if not write_bytecode:
        command.append("-B")
    command += [str(PROBE), *probe.args]
    env = ctx.environment(**dict(probe.env), BENCH_WATCH=",".join(watch))
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=ctx.workdir)
        assert process.stdout is not None
        line = process.stdout.readline()
        ready = time.perf_counter()
        process.stdout.read()
        process.stdout.close()
        if process.wait() != 0 or not line:
            errors.seek(0)
            raise RuntimeError(f"probe {probe.label} failed:\n{errors.read().decode(errors='replace')[-3000:]}")
    report = json.loads(line)
    return Sample(total_ms=(ready - started) * 1000, import_ms=report["import_ms"],
                  present=tuple(report["present"]), modules=report["modules"], beyond_ms=report.get("beyond_ms"))


def import_profile(ctx: Context, probe: Probe, *, pycache_prefix: Path) -> dict[str, tuple[float, float]]:
    """`python -X importtime` of a probe: {module: (self ms, cumulative ms)} (inflated; compare, don't add)."""
    command = [ctx.python, "-X", f"pycache_prefix={pycache_prefix}", "-X", "importtime", str(PROBE), *probe.args]
    done = subprocess.run(command, capture_output=True, text=True, env=ctx.environment(**dict(probe.env)),
                          cwd=ctx.workdir, check=True)
    profile: dict[str, tuple[float, float]] = {}
    for raw in done.stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, cumulative_us, name = (part.strip() for part in raw.removeprefix("import time:").split("|", 2))
        profile[name] = (int(self_us) / 1000, int(cumulative_us) / 1000)
    return profile


@dataclass
class SectionResult:
    """What a section hands back: figures for JSON, one table for the terminal and the README."""

    name: str
    title: str
    method: str  # one paragraph: what is measured, how, and the budget
    headers: list[str]
    rows: list[list[str]]
    figures: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    passed: bool = True  # the budget met or, for a section without one, every measured run succeeded
    budgeted: bool = True  # False: the figures are for information (cost)

    def verdict(self) -> str:
        return verdict(self.budgeted, self.passed)


def verdict(budgeted: bool, passed: bool) -> str:
    if budgeted:
        return "Budget met" if passed else "Budget **missed**"
    return "No budget; every run succeeded" if passed else "No budget; a run **failed**"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
