"""Schemathesis over docs/openapi.json against a running local stack (issue 14, item 2).

`run(url)` fuzzes every operation of the document the stack serves at `/openapi.json`: a bounded number of
examples per operation, a fixed seed (Hypothesis derandomized), and these checks on every response — no 5xx,
status code, content type, body and headers as documented, and the security headers
(`enhancer.http.security.SECURITY_HEADERS`, plus the CSP on HTML). Nothing is excluded: the signed webhooks
(Replicate, Stripe) cannot be fuzzed past their signature check, so their cases show only that a made-up
request answers a documented 4xx/503 envelope, never a 5xx; the sign-in callback likewise only reaches its
state check.

Each case comes from a client address of its own (`CLIENT_IP_HEADER`, honoured by the tests' stack) so the
per-IP limits do not turn the run into 429s, and unsafe methods carry `Origin` and the CSRF double submit.
The cases take turns as a guest, a signed-in enterprise user (the development sign-in) and, on the operations
that take one, that user's API key (`Authorization: Bearer`, no cookies, no CSRF token), so the routes that need a
user reach their logic too, by either way in.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from enhancer.http.security import HTML_CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from tests.local_stack import CLIENT_IP_HEADER

SEED = 1414
# The stack the fuzzer runs against: the echo provider (a case's enhancement is instant) and a Replicate webhook
# secret, so the webhook route answers its signature check (400) instead of 503 "not configured".
# Sign-in configured with a pool that is never reached (no case can pass the callback's state check), so
# `/api/auth/login` answers its 302 rather than 503 "not configured".
STACK_ENVIRONMENT: dict[str, Any] = {"ENHANCER_PROVIDER": "echo", "REPLICATE_WEBHOOK_SECRET": "whsec_" + "ZnV6eg==" * 4,
                     "COGNITO_USER_POOL_ID": "us-east-1_fuzz", "COGNITO_CLIENT_ID": "fuzzclient",
                     "COGNITO_DOMAIN": "https://fuzz.auth.us-east-1.amazoncognito.com"}
TOKEN = "f" * 32
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_addresses = (f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 1}" for n in itertools.count())


class MissingSecurityHeaders(AssertionError):
    pass


def security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every response carries the security headers with their values; HTML also the strict CSP."""
    headers = {name.lower(): values for name, values in response.headers.items()}
    missing = [name for name, value in SECURITY_HEADERS if value not in headers.get(name.lower(), [])]
    content_type = ",".join(headers.get("content-type", []))
    if content_type.startswith("text/html") and HTML_CONTENT_SECURITY_POLICY not in headers.get(
            "content-security-policy", []):
        missing.append("Content-Security-Policy")
    if missing:
        raise MissingSecurityHeaders(f"{response.status_code} without {', '.join(missing)}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, security_headers]


@dataclass
class Summary:
    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_caller: Counter[tuple[str, int]] = field(default_factory=Counter)  # (guest | user | key, status)
    failures: list[str] = field(default_factory=list)
    stateful_steps: int = 0
    files_posted: int = 0
    notes: list[str] = field(default_factory=list)
    stateful_labels: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        by_status = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        steps = ", ".join(f"{label} {count}" for label, count in sorted(self.stateful_labels.items()))
        five = sum(count for status, count in self.statuses.items() if status >= 500)
        return [f"fuzz: {self.operations} operations, {self.cases} cases in {self.seconds:.1f} s (seed {SEED})",
                f"stateful: {self.stateful_steps} steps, {self.files_posted} files posted ({steps})",
                f"statuses: {by_status}",
                "by caller: " + ", ".join(f"{caller} {status}: {count}"
                                          for (caller, status), count in sorted(self.by_caller.items())),
                f"5xx: {five}, failures: {len(self.failures)}", *self.failures]


def sign_in(url: str, name: str, plan: str = "enterprise") -> str:
    """A session id of a user on `plan` (the development sign-in of the local stack)."""
    answer = httpx.post(f"{url}/api/dev/login", json={"email": f"fuzz-{name}@example.com", "plan": plan},
                        headers={"Origin": url, "X-CSRF-Token": TOKEN, CLIENT_IP_HEADER: next(_addresses)},
                        cookies={"csrf_token": TOKEN}, timeout=30)
    answer.raise_for_status()
    return answer.cookies["session_id"]


SESSION_ENDING = ("POST /api/auth/logout", "DELETE /api/auth/account")


def create_key(url: str, session_id: str) -> str:
    """An API key of the session's user with every scope (README "API keys")."""
    answer = httpx.post(f"{url}/api/keys", json={"name": "fuzz", "scopes": ["enhance", "jobs:read"]},
                        headers={"Origin": url, "X-CSRF-Token": TOKEN, CLIENT_IP_HEADER: next(_addresses)},
                        cookies={"csrf_token": TOKEN, "session_id": session_id}, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["data"]["key"])


def takes_key(document: dict[str, Any]) -> set[str]:
    """The operations whose security lists the API key, as "METHOD path"."""
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method, operation in item.items()
            if any("apiKey" in requirement for requirement in operation.get("security", []))}


def _prepare(case: Any, url: str, session_id: str | None,
             key: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    headers = {CLIENT_IP_HEADER: next(_addresses)}
    cookies: dict[str, str] = {}
    if key:  # a server with its key: no cookies, no Origin, no CSRF token
        headers["Authorization"] = f"Bearer {key}"
        if case.headers:
            case.headers.pop("Authorization", None)
        return headers, cookies
    if case.method.upper() in UNSAFE:
        headers |= {"Origin": url, "X-CSRF-Token": TOKEN}
        cookies["csrf_token"] = TOKEN
    if session_id:
        cookies["session_id"] = session_id
        # A generated bearer token would decide the identity instead of the session (guests keep theirs: made-up
        # keys are fuzzed there).
        if case.headers:
            case.headers.pop("Authorization", None)
    # Generated cookie and header values are kept unless they would defeat the CSRF check on every case.
    if case.cookies:
        case.cookies.pop("csrf_token", None)
    if case.headers:
        for name in list(case.headers):
            if name.lower() in ("x-csrf-token", "origin", CLIENT_IP_HEADER.lower()):
                del case.headers[name]
    return headers, cookies


def _describe(operation: Any, response: Any, caller: str, error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    title = getattr(error, "title", type(error).__name__)
    body = response.text[:300] if hasattr(response, "text") else ""
    return (f"{operation.label} [{response.status_code}] {caller}: {title}: "
            f"{' | '.join(lines[:8])[:800]} — body {body}")


def _fuzz_operation(operation: Any, url: str, session_id: str, key: str | None, examples: int,
                    summary: Summary) -> None:
    """Cases in turn as a guest, the signed-in user and, where the operation takes one, the user's API key."""
    counter = itertools.count()
    callers = ("guest", "user", "key") if key else ("guest", "user")

    @seed(SEED)
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def test(case: Any) -> None:
        caller = callers[next(counter) % len(callers)]
        headers, cookies = _prepare(case, url, session_id if caller == "user" else None,
                                    key if caller == "key" else None)
        summary.cases += 1
        try:
            response = case.call(base_url=url, headers=headers, cookies=cookies, timeout=60)
        except Exception as error:  # a transport error (the stack died, a timeout) is a finding too
            summary.failures.append(f"{operation.label}: {type(error).__name__}: {error}")
            return
        summary.statuses[response.status_code] += 1
        summary.by_caller[caller, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as group:  # schemathesis's FailureGroup: one Failure per failed check
            for failure in group.exceptions:
                summary.failures.append(_describe(operation, response, caller, failure))
        except AssertionError as failed:
            summary.failures.append(_describe(operation, response, caller, failed))

    test()


def run(url: str, *, examples: int = 12, stateful: bool = True, operations: tuple[str, ...] = ()) -> Summary:
    url = url.rstrip("/")
    document = httpx.get(f"{url}/openapi.json", timeout=30).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(document)
    session_id = sign_in(url, "operations")
    key, keyed = create_key(url, session_id), takes_key(document)
    summary = Summary()
    started = time.monotonic()
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation schemathesis cannot read is a finding in the document
            summary.failures.append(f"the document: {result.err()}")
            continue
        found.append(result.ok())
    # Sign-out, then account deletion, last: they end the signed-in user's session (and delete the user), whose
    # later cases would otherwise all be 401s that never reach the routes' logic (the API key routes, billing
    # and sign-in come after them in path order).
    for operation in sorted(found, key=lambda op: SESSION_ENDING.index(op.label) if op.label in SESSION_ENDING else -1):
        if operations and operation.label not in operations:
            continue
        summary.operations += 1
        _fuzz_operation(operation, url, session_id, key if operation.label in keyed else None, examples, summary)
    if stateful:
        from tests.fuzz.stateful import run_stateful

        # A user of its own, so the allowance the first phase spent does not turn the chains into 403s.
        run_stateful(document, url, sign_in(url, "stateful"), examples, summary)
    summary.seconds = time.monotonic() - started
    return summary
