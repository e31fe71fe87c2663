"""Post-deploy smoke check (go-live checklist §10) against a running API: the local stack or a deployment.

    python -m ops.smoke [--url URL] [--skip-generate] [--skip-jobs] [--skip-rate-limit]

Every bullet of §10, as a guest: usage and the security headers, 405 with `Allow`, one synchronous enhancement
and the image proxy (the upload public without cookies, the result 200 for its owner, 403 for someone else,
404 for the owner's missing key), a job from 202 to `succeeded` and a job canceled, and a burst that ends in 429
with `Retry-After`. Each check prints one line, PASS or FAIL with what was seen, then a report of the checks
that failed; the exit code is the number of failures (0 when all pass). `--skip-generate` and `--skip-jobs`
leave out what costs model runs (one image of a guest's daily three each); `--skip-rate-limit` the burst (it
spends this client's `api` window for a minute).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
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


JOB_SECONDS = 120  # how long a job may take to end before the check fails (Replicate's cold starts included)
ENDED = ("succeeded", "failed", "canceled")


def _create_job(smoke: Smoke) -> httpx.Response:
    return smoke.client.post("/api/ai-image/jobs", data={"model": "real-esrgan", "scale": "2"},
                             files={"image": ("smoke.png", _png(), "image/png")}, headers=smoke.unsafe_headers(),
                             timeout=60)


def _job_until_ended(smoke: Smoke, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_SECONDS
    job: dict = {}
    while time.monotonic() < deadline:
        job = smoke.client.get(f"/api/ai-image/jobs/{job_id}").json().get("data") or {}
        if job.get("status") in ENDED:
            return job
        time.sleep(1)  # 60 a minute at most: well inside the poll limiter's 120
    return job


def check_jobs(smoke: Smoke) -> None:
    created = _create_job(smoke)
    job_id = (created.json().get("data") or {}).get("id") if created.status_code == 202 else None
    if not smoke.check("jobs: POST answers 202 with the job's id", bool(job_id),
                       f"{created.status_code} {created.text[:200]}"):
        return
    job = _job_until_ended(smoke, str(job_id))
    smoke.check("jobs: the job ends succeeded with its result", job.get("status") == "succeeded"
                and bool((job.get("output") or {}).get("url")), f"{job.get('status')} {job.get('error')}")
    second = _create_job(smoke)
    second_id = (second.json().get("data") or {}).get("id") if second.status_code == 202 else None
    if not second_id:
        smoke.check("jobs: cancel", False, f"the job to cancel was not created: {second.status_code}")
        return
    canceled = smoke.client.post(f"/api/ai-image/jobs/{second_id}/cancel", headers=smoke.unsafe_headers())
    status = (canceled.json().get("data") or {}).get("status") if canceled.status_code == 200 else None
    ended = _job_until_ended(smoke, str(second_id)).get("status")
    # A fast model may finish first: cancel then answers the job as it ended (one of the two wins).
    smoke.check("jobs: cancel answers 200 and the job ends canceled (or had already succeeded)",
                status in ("canceled", "succeeded") and ended == status,
                f"{canceled.status_code}, answered {status!r}, ended {ended!r}")


def check_rate_limit(smoke: Smoke) -> None:
    for _ in range(40):
        response = smoke.client.get("/api/ai-image/usage")
        if response.status_code == 429:
            break
    smoke.check("rate limit: a burst ends in 429 with Retry-After", response.status_code == 429
                and response.headers.get("retry-after", "").isdigit(), str(response.status_code))


def run(url: str, *, generate: bool = True, jobs: bool = True, rate_limit: bool = True) -> int:
    checks: list[Callable[[Smoke], None]] = [check_usage, check_method_not_allowed]
    checks += [check_generate_and_proxy] if generate else []
    checks += [check_jobs] if jobs else []
    checks += [check_rate_limit] if rate_limit else []
    with httpx.Client(base_url=url, timeout=30) as client:
        smoke = Smoke(client)
        for check in checks:
            try:
                check(smoke)
            except (httpx.HTTPError, ValueError) as error:  # unreachable, or not JSON where JSON was due
                smoke.check(check.__name__, False, f"{type(error).__name__}: {error}")
    failed = [(name, seen) for name, passed, seen in smoke.results if not passed]
    if failed:
        print(f"\nFailed against {url}:")
        for name, seen in failed:
            print(f"  - {name}: {seen}")
    print(f"{len(smoke.results) - len(failed)} passed, {len(failed)} failed")
    return len(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8787", help="the API's base URL (the local stack's)")
    parser.add_argument("--skip-generate", action="store_true", help="leave out the enhancement and the proxy")
    parser.add_argument("--skip-jobs", action="store_true", help="leave out the two jobs")
    parser.add_argument("--skip-rate-limit", action="store_true", help="leave out the burst until 429")
    args = parser.parse_args(argv)
    return min(run(args.url.rstrip("/"), generate=not args.skip_generate, jobs=not args.skip_jobs,
                   rate_limit=not args.skip_rate_limit), 100)


if __name__ == "__main__":
    sys.exit(main())
