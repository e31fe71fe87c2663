"""What the in-process sections share: a worker interpreter per section, the settings it runs with, the real
handlers loaded as `local/gateway.py` loads them, and API Gateway events built from `events/`.

A section's `run(ctx)` starts `python -m bench.<section> <json>` (`run_worker`); the worker measures and prints
one JSON line. Each section thus gets a fresh interpreter with its own environment: nothing it sets (settings,
moto's patches, cached clients, Pillow limits) leaks into the bench process or the next section.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, Context
from local.samples import load_event, multipart, png_bytes  # noqa: F401 - the sections import them from here

TABLE = "bench-table"
BUCKET = "bench-images"
REGION = "us-east-1"
# ≥ 32 characters, as settings require outside development; only ever used against stubs and moto.
SECRET = "bench-owner-key-secret-0123456789abcdef"  # noqa: S105
CSRF = "0123456789abcdef0123456789abcdef"
GUEST_ID = "2b7e1516-28ae-4d2a-a6f7-15880928cf4f"


def guest_cookie(guest_id: str) -> str:
    """The signed `guest_id` cookie the service would have issued for `guest_id` (README: Identity)."""
    from enhancer.domain.identity import guest_cookie_value

    return guest_cookie_value(SECRET.encode(), guest_id)


GUEST = guest_cookie(GUEST_ID)
# Settings that must not come from the shell running the bench.
UNSET = ("ALLOWED_ORIGINS", "OWNER_KEY_SECRET_PARAMETER", "REPLICATE_API_TOKEN", "REPLICATE_API_TOKEN_PARAMETER",
         "REPLICATE_BASE_URL", "IMAGE_PROXY_INLINE_MAX_BYTES", "LOCAL_ENGINE_QUALITY", "LOCAL_ENGINE_TILE_SIZE",
         "POWERTOOLS_DEV", "AWS_PROFILE", "AWS_ENDPOINT_URL")


def worker_environment(ctx: Context, section: str, **extra: str) -> dict[str, str]:
    """Valid `testing` settings, fake AWS credentials, a migrated SQLite file of the section's own, quiet logs."""
    env = {k: v for k, v in ctx.environment().items() if k not in UNSET}
    env.update({
        "ENVIRONMENT": "testing",
        "OWNER_KEY_SECRET": SECRET,
        "TABLE_NAME": TABLE,
        "BUCKET_NAME": BUCKET,
        "DATABASE_URL": f"sqlite:///{ctx.workdir / f'{section}.db'}",
        "ENHANCER_PROVIDER": "echo",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # No profile or config file on the machine can add a credential lookup or a setting.
        "AWS_CONFIG_FILE": str(ctx.workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(ctx.workdir / "no-aws-credentials"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra)
    return env


def run_worker(ctx: Context, section: str, options: dict[str, Any], *, timeout: float = 300, module: str = "",
               **extra_env: str) -> dict[str, Any]:
    """Run `python -m <module> '<options json>'` (the section's own module unless told) and return the JSON it
    prints last."""
    command = [ctx.python, "-m", module or f"bench.{section}", json.dumps(options)]
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT, timeout=timeout,
                              env=worker_environment(ctx, section, **extra_env), check=False)
        if done.returncode != 0 or not done.stdout.strip():
            errors.seek(0)
            raise RuntimeError(f"bench worker {section} failed:\n{errors.read().decode(errors='replace')[-4000:]}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def worker_main(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The worker's entry point: options from argv, one JSON line on stdout. While it measures, what the code
    under test prints (Powertools' EMF documents, as Lambda would collect them) goes to /dev/null."""
    import contextlib
    import os

    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        result = measure(options)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# --- inside a worker -----------------------------------------------------------------------------------------

def migrate_database() -> None:
    from enhancer.adapters.sql import migrate_and_check
    from enhancer.config import get_settings

    migrate_and_check(get_settings().database_url, apply=True)


def start_workflow_aws() -> None:
    """Inside `mock_aws()`: the table, the bucket and the template's state machine (STATE_MACHINE_ARN set for
    the settings), as the job routes need them. moto runs no execution here: each stays RUNNING."""
    import os

    import boto3

    from enhancer import bootstrap
    from local.aws import create_bucket, create_table
    from local.workflow import state_machine_definition

    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    create_bucket(boto3.client("s3", region_name=REGION), BUCKET)
    machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="enhance-job-bench", definition=state_machine_definition(),
        roleArn="arn:aws:iam::123456789012:role/enhance-job-bench")
    os.environ["STATE_MACHINE_ARN"] = machine["stateMachineArn"]
    bootstrap.reset()


def load_handlers(*function_ids: str) -> dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]:
    """The functions' real handlers from template.yaml, imported the way the local gateway does."""
    import asyncio

    from local.gateway import load_handler
    from local.template import http_routes

    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())  # as Gateway.invoke: Mangum expects a loop
    routes = {r.function_id: r for r in http_routes()}
    return {fid: load_handler(routes[fid].code_uri, routes[fid].handler, fid) for fid in function_ids}


def context(function_id: str) -> Any:
    from local.events import LambdaContext

    return LambdaContext(function_name=function_id, aws_request_id="c0ffee00-0000-4000-8000-00000000beef")


def generate_event(fields: dict[str, str], image: bytes, cookies: dict[str, str]) -> dict[str, Any]:
    """POST /api/ai-image/generate from the site's own origin, CSRF cookie and header matching."""
    body, content_type = multipart(fields, image)
    return load_event("generate-post", cookies={"csrf_token": CSRF, **cookies}, headers={"content-type": content_type},
                      body=body)


def status_of(response: dict[str, Any]) -> int:
    return int(response["statusCode"])


# --- figures -------------------------------------------------------------------------------------------------

def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p90 of 300 values is the 270th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(percentile(ms, 0.9), 3),
            "min_ms": round(min(ms), 3), "mean_ms": round(statistics.fmean(ms), 3), "n": len(ms)}


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result
