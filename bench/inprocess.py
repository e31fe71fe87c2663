"""What the in-process sections share: a worker interpreter per section, the settings it runs with, the real
handlers loaded as `local/gateway.py` loads them, and API Gateway events built from `events/`.

A section's `run(ctx)` starts `python -m bench.<section> <json>` (`run_worker`); the worker measures and prints
one JSON line. Each section thus gets a fresh interpreter with its own environment: nothing it sets (settings,
moto's patches, cached clients, Pillow limits) leaks into the bench process or the next section.
"""

from __future__ import annotations

import base64
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, Context

EVENTS = ROOT / "events"
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


def run_worker(ctx: Context, section: str, options: dict[str, Any], *, timeout: float = 300,
               **extra_env: str) -> dict[str, Any]:
    """Run `python -m bench.<section> '<options json>'` and return the JSON it prints last."""
    command = [ctx.python, "-m", f"bench.{section}", json.dumps(options)]
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
    from enhancer.adapters.sql.migrate import apply_migrations
    from enhancer.adapters.sql.sqlite import connect
    from enhancer.config import get_settings

    conn = connect(get_settings().sqlite_path)
    try:
        apply_migrations(conn)
    finally:
        conn.close()


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


def load_event(name: str, *, method: str | None = None, path: str | None = None, route_key: str | None = None,
               cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None,
               body: bytes | None = None) -> dict[str, Any]:
    """An event file from `events/`, varied the way API Gateway would present the variation."""
    event = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    http = event["requestContext"]["http"]
    if method:
        http["method"] = method
    if path:
        event["rawPath"] = http["path"] = path
    if route_key:
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    if cookies is not None:
        event["cookies"] = [f"{k}={v}" for k, v in cookies.items()]
    if headers:
        event["headers"].update({k.lower(): v for k, v in headers.items()})
    if body is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def png_bytes(width: int, height: int) -> bytes:
    """A photo-like PNG (gradients and shapes), as the integration tests make them."""
    from io import BytesIO

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for x in range(width):
        for y in range(height):
            pixels[x, y] = (x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), outline=(255, 255, 255), width=3)
    draw.line((0, height - 1, width - 1, 0), fill=(0, 0, 0), width=2)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(fields: dict[str, str], image: bytes, filename: str = "photo.png",
              content_type: str = "image/png") -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it, and its Content-Type header."""
    import httpx

    request = httpx.Request("POST", "https://api.example.com/", data=fields,
                            files={"image": (filename, image, content_type)})
    return request.read(), request.headers["content-type"]


def generate_event(fields: dict[str, str], image: bytes, cookies: dict[str, str]) -> dict[str, Any]:
    """POST /api/ai-image/generate from the site's own origin, CSRF cookie and header matching."""
    body, content_type = multipart(fields, image)
    return load_event("dev-login-post", path="/api/ai-image/generate", route_key="POST /api/ai-image/generate",
                      cookies={"csrf_token": CSRF, **cookies}, headers={"content-type": content_type}, body=body)


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
