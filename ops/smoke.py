"""Post-deploy smoke check (go-live checklist §10) against a running API: the local stack or a deployment.

    python -m ops.smoke [--url URL] [--skip-generate] [--rate-limit]

Each check prints one line, PASS or FAIL with what was seen; the exit code is the number of failures (0 when
all pass). `--skip-generate` leaves out the one enhancement (it costs a model run and a guest's daily image);
`--rate-limit` adds the burst that must end in 429 (it spends this client's `api` window for a minute).
"""

from __future__ import annotations

import argparse
import io
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "strict-transport-security",
                    "permissions-policy")
UPLOAD_CACHE = "public, max-age=900, immutable"
RESULT_CACHE = "private, max-age=31536000, immutable"


@dataclass
class Smoke:
    client: httpx.Client
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool, seen: str) -> bool:
        self.results.append((name, passed, seen))
        print(f"{'PASS' if passed else 'FAIL'}  {name}" + ("" if passed else f"  — {seen}"), flush=True)
        return passed

    def unsafe_headers(self) -> dict[str, str]:
        token = uuid.uuid4().hex
        self.client.cookies.set("csrf_token", token)
        return {"Origin": str(self.client.base_url).rstrip("/"), "X-CSRF-Token": token}


def _png(size: int = 32) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([((x * 8) % 256, (y * 8) % 256, 128) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _missing_security_headers(response: httpx.Response) -> list[str]:
    return [name for name in SECURITY_HEADERS if name not in response.headers]


def check_usage(smoke: Smoke) -> None:
    response = smoke.client.get("/api/ai-image/usage")
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    data = body.get("data") or {}
    smoke.check("usage: 200 for a guest with a guest cookie", response.status_code == 200
                and data.get("ownerType") == "guest" and "guest_id" in smoke.client.cookies,
                f"{response.status_code} {response.text[:200]}")
    smoke.check("usage: security headers", not _missing_security_headers(response),
                f"missing {_missing_security_headers(response)}")


def check_method_not_allowed(smoke: Smoke) -> None:
    response = smoke.client.put("/api/ai-image/usage")
    smoke.check("405 with Allow on an unserved method", response.status_code == 405
                and response.headers.get("allow") == "GET" and not _missing_security_headers(response),
                f"{response.status_code}, Allow={response.headers.get('allow')!r}")


def check_generate_and_proxy(smoke: Smoke) -> None:
    response = smoke.client.post("/api/ai-image/generate", data={"model": "real-esrgan", "scale": "2"},
                                 files={"image": ("smoke.png", _png(), "image/png")},
                                 headers=smoke.unsafe_headers(), timeout=60)
    data = (response.json().get("data") or {}) if response.status_code == 200 else {}
    if not smoke.check("generate: 200 with imageUrl, originalUrl, usage and limits",
                       all(key in data for key in ("imageUrl", "originalUrl", "usage", "limits")),
                       f"{response.status_code} {response.text[:200]}"):
        return
    original = httpx.get(data["originalUrl"], timeout=30)  # no cookies: uploads are public
    smoke.check("proxy: an upload without cookies, public cache", original.status_code == 200
                and original.headers.get("cache-control") == UPLOAD_CACHE and bool(original.headers.get("etag")),
                f"{original.status_code}, Cache-Control={original.headers.get('cache-control')!r}")
    result = smoke.client.get(data["imageUrl"])
    smoke.check("proxy: the owner's result, private cache", result.status_code == 200
                and result.headers.get("cache-control") == RESULT_CACHE,
                f"{result.status_code}, Cache-Control={result.headers.get('cache-control')!r}")
    stranger = httpx.get(data["imageUrl"], cookies={"guest_id": str(uuid.uuid4())}, timeout=30)
    smoke.check("proxy: someone else's result is 403", stranger.status_code == 403, str(stranger.status_code))
    missing = smoke.client.get(data["imageUrl"].rsplit("/", 1)[0] + f"/{uuid.uuid4()}.png")
    smoke.check("proxy: the owner's missing result is 404", missing.status_code == 404, str(missing.status_code))


def check_rate_limit(smoke: Smoke) -> None:
    for _ in range(40):
        response = smoke.client.get("/api/ai-image/usage")
        if response.status_code == 429:
            break
    smoke.check("rate limit: a burst ends in 429 with Retry-After", response.status_code == 429
                and response.headers.get("retry-after", "").isdigit(), str(response.status_code))


def run(url: str, *, generate: bool = True, rate_limit: bool = False) -> int:
    checks: list[Callable[[Smoke], None]] = [check_usage, check_method_not_allowed]
    checks += [check_generate_and_proxy] if generate else []
    checks += [check_rate_limit] if rate_limit else []
    with httpx.Client(base_url=url, timeout=30) as client:
        smoke = Smoke(client)
        for check in checks:
            try:
                check(smoke)
            except (httpx.HTTPError, ValueError) as error:  # unreachable, or not JSON where JSON was due
                smoke.check(check.__name__, False, f"{type(error).__name__}: {error}")
    failures = sum(1 for _, passed, _ in smoke.results if not passed)
    print(f"{len(smoke.results) - failures} passed, {failures} failed")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8787", help="the API's base URL (the local stack's)")
    parser.add_argument("--skip-generate", action="store_true", help="leave out the enhancement and the proxy")
    parser.add_argument("--rate-limit", action="store_true", help="also burst until 429")
    args = parser.parse_args(argv)
    return min(run(args.url.rstrip("/"), generate=not args.skip_generate, rate_limit=args.rate_limit), 100)


if __name__ == "__main__":
    sys.exit(main())
