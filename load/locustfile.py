"""The simulated people of `make load` (run by `python -m load`, never imported into pytest: locust monkey-patches
with gevent). Guests and signed-in users, each from an address of its own (the header LOAD_IP_HEADER names, which
the local stack's gateway honours with GATEWAY_CLIENT_IP_HEADER), mix usage, models, uploads, generate, job create /
poll / cancel, image proxy GETs and the floor (`GET /_local/floor`, an empty route through the same gateway).

What a route may answer under load is part of each task: a refusal the product is meant to give (429 from a rate
limit, 403 or 429 from a used-up allowance or a guest cap) counts as a success, anything else as a failure, and a
5xx as a failure the runner fails the run on. Every charge and every owner goes to the journal (load/journal.py).

Guests start over as a new guest (a fresh cookie jar) once their allowance is used up, on the same address, so the
guests of one address meet the per-IP cap; when that refuses, the next guest takes a new address. Signed-in users
sign in with the development sign-in on the free or pro plan; some pro users buy a 100-credit pack on the
development checkout and, when LOAD_AWS_ENDPOINT names the stack's DynamoDB, start three credits short of their
monthly allowance, so their charges run into the pack (a month's allowance is out of reach in a run of seconds).
Integrators sign in the same way once, create an API key, and from then on send only `Authorization: Bearer` (no
cookies, no CSRF token), asking for a format of their choice and, now and then, a price quote (`dryRun`).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import random
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, task

from load.journal import Journal, tenths

GENERATE = "/api/ai-image/generate"
JOBS = "/api/ai-image/jobs"
USAGE = "/api/ai-image/usage"
TOKEN = "load-csrf-token-0123456789abcdef"  # noqa: S105 - the CSRF double submit's value, not a secret
IP_HEADER = os.environ.get("LOAD_IP_HEADER", "X-Test-Client-Ip")
# Each run takes addresses from its own random block of 10.0.0.0/8, so a rerun against the same stack starts its
# per-IP windows from zero.
_IP_BASE = int(ipaddress.IPv4Address(os.environ.get("LOAD_IP_BASE") or f"10.{random.randrange(256)}.0.0"))
_addresses = (str(ipaddress.IPv4Address(_IP_BASE + n)) for n in itertools.count(1))
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")
REFUSED_SCOPES = {"daily", "monthly", "guestIp", "guestBudget"}
CREDIT_PACK = 100
CREDITS_LEFT_TENTHS = 30  # where a seeded credit user's monthly allowance stands: three credits short

journal = Journal()
# Signed-in users take turns: free, pro, and pro with a credit pack (its allowance nearly used, see above).
_user_kinds = itertools.cycle((("pro", True), ("free", False), ("pro", False)))


def _png() -> bytes:
    from local.samples import png_bytes

    return png_bytes(32, 32)


PNG = _png()


def cost_tenths(options: dict[str, str]) -> int:
    """What the options cost (domain/enhancement.py: 1.0, +1.0 for ×4, +0.5 for face_enhance), in tenths."""
    return 10 + (10 if options.get("scale") == "4" else 0) + (5 if options.get("face_enhance") == "true" else 0)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Owner(HttpUser):
    abstract = True
    wait_time = between(0.5, 1.5)
    kind = "guest"

    def on_start(self) -> None:
        self.origin = (self.host or "").rstrip("/")
        self.ip = next(_addresses)
        self.begin()

    # --- identity ---------------------------------------------------------------------------------------------

    def begin(self) -> None:
        """A new owner: a fresh cookie jar, then whatever makes it who it is, then its baseline usage."""
        self.owner_id = f"{self.kind[0]}-{uuid.uuid4().hex[:12]}"
        self.client.cookies.clear()
        self.client.cookies.set("csrf_token", TOKEN)
        self.jobs: list[str] = []
        self.images: list[tuple[str, str]] = []  # (url, "result" | "upload")
        self.plan: str | None = None
        self.registered = self.become() and self.register()

    def become(self) -> bool:
        return True

    def identity_cookies(self) -> dict[str, str]:
        """The cookies the books checker reads this owner's usage and jobs with."""
        return dict(self.client.cookies.get_dict())

    def register(self) -> bool:
        status, data = self.call("GET", USAGE, expect=(200, 429))
        if status != 200:
            return False
        usage = data["data"]
        journal.write("owner", owner=self.owner_id, kind=self.kind, plan=usage.get("plan"), ip=self.ip,
                      cookies=self.identity_cookies(),
                      dailyLimit=usage["usage"]["limit"], monthlyLimitTenths=usage["monthlyUsage"]["limit"] * 10,
                      baseline={"daily": usage["usage"]["used"], "monthlyTenths": tenths(usage["monthlyUsage"]["used"]),
                                "creditsTenths": usage.get("creditsBalanceTenths")})
        return True

    def options(self) -> dict[str, str]:
        return {}

    def start_over(self, scope: str | None) -> None:
        """The allowance is used up: a guest comes back as a new guest (a user just waits for the next task)."""

    # --- requests ---------------------------------------------------------------------------------------------

    def headers(self, unsafe: bool = False) -> dict[str, str]:
        headers = {IP_HEADER: self.ip}
        if unsafe:
            headers.update({"Origin": self.origin, "X-CSRF-Token": TOKEN})
        return headers

    def call(self, method: str, path: str, *, name: str | None = None, expect: tuple[int, ...] = (200,),
             refusals: tuple[int, ...] = (), check: Any = None, **kwargs: Any) -> tuple[int, Any]:
        """One request, judged: `expect` and `refusals` (403/429 whose error names a used-up scope) succeed, a 5xx
        or anything else fails. Returns the status and the JSON body (None when there is none)."""
        unsafe = method not in ("GET", "HEAD")
        kwargs.setdefault("allow_redirects", False)
        with self.client.request(method, path, name=name or f"{method} {path}", headers=self.headers(unsafe),
                                 catch_response=True, **kwargs) as response:
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if status == 0 or status >= 500:
                response.failure(f"server error {status}: {response.text[:200]}")
            elif status in refusals and _scope(body) in REFUSED_SCOPES:
                response.success()
            elif status not in expect:
                response.failure(f"unexpected {status}: {response.text[:200]}")
            elif check is not None and (problem := check(response)):
                response.failure(problem)
            else:
                response.success()
            return status, body

    # --- tasks ------------------------------------------------------------------------------------------------

    @task(3)
    def usage(self) -> None:
        self.call("GET", USAGE, expect=(200, 429))

    @task(2)
    def models(self) -> None:
        self.call("GET", "/api/ai-image/models", expect=(200, 429))

    @task(3)
    def floor(self) -> None:
        self.call("GET", "/_local/floor")

    @task(1)
    def list_jobs(self) -> None:
        self.call("GET", JOBS, expect=(200, 429))

    @task(4)
    def generate(self) -> None:
        if self.ready():
            self.start_over_if(self.post_generate())

    @task(1)
    def burst(self) -> None:
        """Three generates at once by one owner (a double click, two tabs): the caps and the books must hold under
        an owner's own concurrency too."""
        if not self.ready():
            return
        import gevent

        greenlets = [gevent.spawn(self.post_generate) for _ in range(3)]
        gevent.joinall(greenlets)
        self.start_over_if(next((g.value for g in greenlets if g.value), None))

    def post_generate(self) -> str | None:
        """One multipart generate, journalled; the scope of a refusal for a used-up allowance, else None."""
        options = self.options()
        status, body = self.call("POST", GENERATE, expect=(200, 202, 429), refusals=(403, 429),
                                 data={"model": "real-esrgan", **options},
                                 files={"image": ("photo.png", PNG, "image/png")})
        return self.charged(status, body, options, via="generate")

    def start_over_if(self, scope: str | None) -> None:
        if scope:
            self.start_over(scope)

    @task(1)
    def upload_then_generate(self) -> None:
        if not self.ready():
            return
        status, body = self.call("POST", "/api/ai-image/uploads", expect=(201, 429),
                                 json={"contentType": "image/png", "size": len(PNG)})
        if status != 201:
            return
        form = body["data"]
        with self.client.post(form["url"], name="POST S3 upload form", data=form["fields"],
                              files={"file": ("photo.png", PNG, "image/png")}, catch_response=True) as stored:
            if stored.status_code != 204:
                stored.failure(f"{'server error' if stored.status_code >= 500 else 'unexpected'} "
                               f"{stored.status_code}: {stored.text[:200]}")
                return
        options = self.options()
        status, body = self.call("POST", GENERATE, name="POST /api/ai-image/generate (uploadKey)",
                                 expect=(200, 202, 429), refusals=(403, 429),
                                 json={"model": "real-esrgan", "uploadKey": form["uploadKey"], **_typed(options)})
        self.start_over_if(self.charged(status, body, options, via="generate"))

    @task(2)
    def create_job(self) -> None:
        if not self.ready():
            return
        options = self.options()
        status, body = self.call("POST", JOBS, expect=(202, 429), refusals=(403, 429),
                                 data={"model": "real-esrgan", **options},
                                 files={"image": ("photo.png", PNG, "image/png")})
        self.start_over_if(self.charged(status, body, options, via="job"))

    @task(3)
    def poll_job(self) -> None:
        if not self.jobs:
            return
        job_id = random.choice(self.jobs)
        status, body = self.call("GET", f"{JOBS}/{job_id}", name=f"GET {JOBS}/{{id}}", expect=(200, 429))
        if status == 200:
            job = body["data"]
            if job["status"] in ("succeeded", "failed", "canceled"):
                self.jobs.remove(job_id)
            if job["status"] == "succeeded" and job["output"]:
                self.images.append((job["output"]["url"], "result"))

    @task(1)
    def cancel_job(self) -> None:
        """Cancel an open job, or, with none open, one created for the purpose (echo jobs end fast: cancelled at
        once, one is often still queued, and its charge comes back)."""
        if not self.jobs:
            self.create_job()
            if not self.jobs:
                return
        job_id = self.jobs.pop(random.randrange(len(self.jobs)))
        status, body = self.call("POST", f"{JOBS}/{job_id}/cancel", name=f"POST {JOBS}/{{id}}/cancel",
                                 expect=(200, 429))
        if status == 200:
            journal.write("cancel", owner=self.owner_id, job=job_id, status=body["data"]["status"])
        else:
            self.jobs.append(job_id)

    @task(3)
    def get_image(self) -> None:
        if not self.images:
            return
        url, what = random.choice(self.images)
        self.call("GET", path_of(url), name=f"GET /r2-ai/{{key}} ({what})", check=_serves_an_image)

    # --- charges ----------------------------------------------------------------------------------------------

    def ready(self) -> bool:
        if not self.registered:
            self.registered = self.register()
        return self.registered

    def charged(self, status: int, body: Any, options: dict[str, str], *, via: str) -> str | None:
        """Journal what a 200 or 202 charged; the scope of a refusal for a used-up allowance, else None."""
        if status in (403, 429) and _scope(body) in REFUSED_SCOPES:
            return _scope(body)
        if status not in (200, 202):
            return None
        data = body["data"]
        charge = data["charge"]
        job_id = data["id"] if status == 202 else None  # a job, or a generate handed over to one
        journal.write("charge", owner=self.owner_id, ip=self.ip, via=via, job=job_id, cost=cost_tenths(options),
                      total=tenths(charge["total"]), plan=tenths(charge["planPortion"]),
                      credits=tenths(charge["creditsPortion"]), result=data.get("imageUrl"),
                      dailyUsed=data.get("usage", {}).get("used"), dailyLimit=data.get("usage", {}).get("limit"))
        if job_id:
            self.jobs.append(job_id)
            self.images.append((data["input"]["url"], "upload"))
        else:
            self.images += [(data["imageUrl"], "result"), (data["originalUrl"], "upload")]
        return None


class Guest(Owner):
    weight = 1
    kind = "guest"

    def start_over(self, scope: str | None) -> None:
        if scope == "guestIp":
            self.ip = next(_addresses)
        self.begin()


class User(Owner):
    weight = 1
    kind = "user"

    def become(self) -> bool:
        self.plan, self.buys_credits = next(_user_kinds)
        status, body = self.call("POST", "/api/dev/login", json={"email": f"{self.owner_id}@load.example.com",
                                                                  "plan": self.plan})
        if status != 200:
            return False
        self.user_id = body["data"]["user"]["id"]
        return not self.buys_credits or self.buy_credits()

    def buy_credits(self) -> bool:
        """A 100-credit pack through the development checkout, as the page does it; then (with the stack's
        DynamoDB at hand) the monthly allowance three credits short of its end."""
        status, body = self.call("POST", "/api/billing/credits", json={"pack": CREDIT_PACK})
        if status != 200:
            return False
        page = self.client.get(path_of(body["data"]["url"]), name="GET /dev/checkout", headers=self.headers())
        found = re.search(r'name="session" value="([^"]+)"', page.text)
        if page.status_code != 200 or not found:
            return False
        status, _ = self.call("POST", "/dev/checkout", data={"session": found.group(1)}, expect=(303,))
        if status != 303:
            return False
        _seed_monthly_usage(self.user_id, self.plan or "pro")
        return True

    def options(self) -> dict[str, str]:
        if self.plan == "free":
            return {"scale": "2"}
        return {"scale": random.choice(("2", "4")), "face_enhance": random.choice(("true", "false"))}


class Integrator(User):
    """A server calling with an API key: signed in once to create the key, then only `Authorization: Bearer`, no
    cookies and so no CSRF token; some calls ask for a price quote (`dryRun`, charged nothing) or a WebP."""

    weight = 1
    kind = "integrator"

    def become(self) -> bool:
        self.api_key = ""
        if not super().become():
            return False
        status, body = self.call("POST", "/api/keys", expect=(201,),
                                 json={"name": "load", "scopes": ["enhance", "jobs:read"]})
        if status != 201:
            return False
        self.api_key = body["data"]["key"]
        self.session_cookies = dict(self.client.cookies.get_dict())
        self.client.cookies.clear()
        return True

    def identity_cookies(self) -> dict[str, str]:
        return self.session_cookies

    def headers(self, unsafe: bool = False) -> dict[str, str]:
        if not self.api_key:
            return super().headers(unsafe)
        return {IP_HEADER: self.ip, "Authorization": f"Bearer {self.api_key}"}

    def options(self) -> dict[str, str]:
        return {**super().options(), "outputFormat": random.choice(("png", "jpeg", "webp"))}

    @task(2)
    def quote(self) -> None:
        """A dry run answers the charge and stores nothing: the books must not see it."""
        if not self.ready():
            return
        self.call("POST", GENERATE, name="POST /api/ai-image/generate (dryRun)", expect=(200, 429),
                  data={"model": "real-esrgan", "dryRun": "true", **super().options()},
                  files={"image": ("photo.png", PNG, "image/png")}, check=_is_a_quote)


def _is_a_quote(response: Any) -> str | None:
    data = response.json()["data"]
    if data.get("dryRun") is not True or "charge" not in data:
        return f"not a quote: {str(data)[:200]}"
    return None


def _seed_monthly_usage(user_id: str, plan: str) -> None:
    endpoint, table = os.environ.get("LOAD_AWS_ENDPOINT"), os.environ.get("LOAD_TABLE")
    if not endpoint or not table:
        return
    import boto3

    from enhancer.adapters.dynamo_keys import monthly_usage_key
    from enhancer.domain.clock import month_key
    from enhancer.domain.plans import PLAN_ENTITLEMENTS, Plan

    used = PLAN_ENTITLEMENTS[Plan(plan)].monthly_images * 10 - CREDITS_LEFT_TENTHS
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - moto's
    client.put_item(TableName=table, Item={"pk": {"S": monthly_usage_key("user", user_id, month_key(time.time()))},
                                           "usedTenths": {"N": str(used)},
                                           "expiresAt": {"N": str(int(time.time()) + 400 * 24 * 3600)}})


def _scope(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    details = (body.get("error") or {}).get("details") or {}
    return details.get("scope") if isinstance(details, dict) else None


def _typed(options: dict[str, str]) -> dict[str, Any]:
    """The form's option strings as the JSON body takes them."""
    typed: dict[str, Any] = {"scale": int, "face_enhance": lambda value: value == "true"}
    return {name: typed.get(name, str)(value) for name, value in options.items()}


def _serves_an_image(response: Any) -> str | None:
    if not response.headers.get("Content-Type", "").startswith("image/"):
        return f"not an image: {response.headers.get('Content-Type')}"
    if not response.content.startswith(IMAGE_MAGIC):
        return "the body is not an image"
    return None
