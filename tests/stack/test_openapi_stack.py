"""The local stack serves docs/openapi.json at /openapi.json, and what the stack really answers fits it: each
answer's status is one its operation declares, with the declared required headers and a body that validates
against the declared schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from local.samples import png_bytes
from local.stripe_events import DEVELOPMENT_WEBHOOK_SECRET, event, sign
from tests.stack.jobs import unsafe, wait_for
from tests.stack.test_local_stack import assert_security_headers, sign_in

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    target = node.get("$ref")
    if target is None:
        return node
    value: Any = document
    for part in target[2:].split("/"):
        value = value[part]
    return value


def conforms(document: dict[str, Any], response: httpx.Response, path: str) -> dict[str, Any] | None:
    """Assert that `response` is an answer the document declares for its method on `path` (the document's path
    template); the JSON body, when there is one."""
    method = response.request.method
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is not None:
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, \
            f"{method} {path} answered {response.status_code}, which the document does not declare: {response.text}"
    else:  # a method or a path the API does not serve
        declared = document["components"]["responses"][
            "MethodNotAllowed" if response.status_code == 405 else "NotFound"]
    for name, header in declared.get("headers", {}).items():
        header = _resolve(document, header)
        if header.get("required"):
            assert name in response.headers, f"{method} {path} {response.status_code}: no {name}"
        if "const" in header.get("schema", {}):
            assert response.headers[name] == header["schema"]["const"], name
    assert_security_headers(response)
    content = declared.get("content")
    if method == "HEAD" or not content:
        assert response.content == b"", f"{method} {path} {response.status_code} has a body"
        return None
    media = response.headers["content-type"].split(";")[0].strip()
    assert media in content, f"{method} {path} {response.status_code}: {media} is not declared"
    if media != "application/json":
        return None
    body = response.json()
    schema = {**content[media]["schema"], "components": document["components"]}
    problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in Draft202012Validator(schema).iter_errors(body)]
    assert problems == [], f"{method} {path} {response.status_code}: {problems}\n{json.dumps(body)[:2000]}"
    return body


def test_the_stack_serves_the_document(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == DOCUMENT.read_bytes()
    assert response.json()["openapi"] == "3.1.0"
    assert_security_headers(response)
    head = client.head("/openapi.json")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(DOCUMENT.read_bytes())


def test_a_guest_enhancing_an_image_gets_the_declared_answers(client, document):
    assert conforms(document, client.get("/api/ai-image/usage"), "/api/ai-image/usage")
    assert conforms(document, client.get("/api/ai-image/models"), "/api/ai-image/models")

    ticket = client.post("/api/ai-image/uploads", headers=unsafe(client),
                         json={"contentType": "image/png", "size": 1234})
    assert ticket.status_code == 201 and conforms(document, ticket, "/api/ai-image/uploads")
    refused = client.post("/api/ai-image/uploads", headers=unsafe(client), json={"contentType": "image/gif"})
    assert refused.status_code == 400 and conforms(document, refused, "/api/ai-image/uploads")

    image = {"image": ("photo.png", png_bytes(64, 64), "image/png")}
    no_csrf = client.post("/api/ai-image/generate", data={"model": "real-esrgan"}, files=image,
                          headers={"Origin": str(client.base_url).rstrip("/")})
    assert no_csrf.status_code == 403 and conforms(document, no_csrf, "/api/ai-image/generate")
    too_big = client.post("/api/ai-image/generate", data={"model": "real-esrgan", "scale": "4"}, files=image,
                          headers=unsafe(client))
    assert too_big.status_code == 403 and conforms(document, too_big, "/api/ai-image/generate")
    unknown = client.post("/api/ai-image/generate", json={"model": "nope", "uploadKey": "x"}, headers=unsafe(client))
    assert unknown.status_code == 400 and conforms(document, unknown, "/api/ai-image/generate")
    enhanced = client.post("/api/ai-image/generate", data={"model": "real-esrgan"}, files=image,
                           headers=unsafe(client))
    assert enhanced.status_code == 200, enhanced.text
    result = conforms(document, enhanced, "/api/ai-image/generate")["data"]

    key = result["imageUrl"].split("/r2-ai/", 1)[1]
    served = client.get(f"/r2-ai/{key}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    conforms(document, served, "/r2-ai/{key}")
    headers_only = client.head(f"/r2-ai/{key}")
    assert headers_only.status_code == 200
    conforms(document, headers_only, "/r2-ai/{key}")
    unchanged = client.get(f"/r2-ai/{key}", headers={"If-None-Match": served.headers["etag"]})
    assert unchanged.status_code == 304
    conforms(document, unchanged, "/r2-ai/{key}")
    with httpx.Client(base_url=str(client.base_url), timeout=30) as stranger:
        someone_elses = stranger.get(f"/r2-ai/{key}")
        assert someone_elses.status_code == 403 and conforms(document, someone_elses, "/r2-ai/{key}")
    missing = client.get("/r2-ai/not-a-key")
    assert missing.status_code == 404 and conforms(document, missing, "/r2-ai/{key}")


def test_a_job_gets_the_declared_answers(client, document):
    job_path = "/api/ai-image/jobs/{job_id}"
    created = client.post("/api/ai-image/jobs", headers={**unsafe(client), "Idempotency-Key": "openapi-1"},
                          data={"model": "real-esrgan"},
                          files={"image": ("photo.png", png_bytes(48, 48), "image/png")})
    assert created.status_code == 202, created.text
    job = conforms(document, created, "/api/ai-image/jobs")["data"]
    other = client.post("/api/ai-image/jobs", headers={**unsafe(client), "Idempotency-Key": "openapi-1"},
                        json={"model": "real-esrgan", "uploadKey": "x"})
    assert other.status_code == 409 and conforms(document, other, "/api/ai-image/jobs")

    assert conforms(document, client.get(f"/api/ai-image/jobs/{job['id']}"), job_path)
    wait_for(client, job["id"])
    assert conforms(document, client.get("/api/ai-image/jobs?limit=5"), "/api/ai-image/jobs")
    bad = client.get("/api/ai-image/jobs?status=done")
    assert bad.status_code == 400 and conforms(document, bad, "/api/ai-image/jobs")
    canceled = client.post(f"/api/ai-image/jobs/{job['id']}/cancel", headers=unsafe(client))
    assert canceled.status_code == 200 and conforms(document, canceled, job_path + "/cancel")
    deleted = client.delete(f"/api/ai-image/jobs/{job['id']}", headers=unsafe(client))
    assert deleted.status_code == 200 and conforms(document, deleted, job_path)
    gone = client.get(f"/api/ai-image/jobs/{job['id']}")
    assert gone.status_code == 404 and conforms(document, gone, job_path)


def test_sign_in_billing_and_account_get_the_declared_answers(client, document):
    guest = client.get("/api/auth/me")
    assert guest.status_code == 401 and conforms(document, guest, "/api/auth/me")
    login = client.get("/api/auth/login")  # no Cognito in the stack
    assert login.status_code == 503 and conforms(document, login, "/api/auth/login")
    callback = client.get("/api/auth/callback?code=c&state=s")
    assert callback.status_code == 302 and conforms(document, callback, "/api/auth/callback") is None

    sign_in(client, "free")
    assert conforms(document, client.get("/api/auth/me"), "/api/auth/me")
    assert conforms(document, client.get("/api/ai-image/usage"), "/api/ai-image/usage")
    checkout = client.post("/api/billing/session", headers=unsafe(client), json={"plan": "pro"})
    assert checkout.status_code == 200 and conforms(document, checkout, "/api/billing/session")
    invalid = client.post("/api/billing/session", headers=unsafe(client), json={"plan": "free"})
    assert invalid.status_code == 400 and conforms(document, invalid, "/api/billing/session")
    pack = client.post("/api/billing/credits", headers=unsafe(client), json={"pack": 100})
    assert pack.status_code == 200 and conforms(document, pack, "/api/billing/credits")
    portal = client.get("/api/billing/portal?returnTo=/account")
    assert portal.status_code == 302 and conforms(document, portal, "/api/billing/portal") is None
    removed = client.delete("/api/auth/account", headers=unsafe(client))
    assert removed.status_code == 200 and conforms(document, removed, "/api/auth/account")
    signed_out = client.post("/api/auth/logout", headers=unsafe(client))
    assert signed_out.status_code == 200 and conforms(document, signed_out, "/api/auth/logout")

    sign_in(client, "free")  # a window of its own: sensitiveAction counts per client IP and user, 5 an hour
    answers = [client.post("/api/billing/session", headers=unsafe(client), json={"plan": "pro"}) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert conforms(document, answers[-1], "/api/billing/session")["retryAfter"] >= 1

def test_the_webhooks_and_the_fallback_get_the_declared_answers(client, document):
    body = json.dumps(event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}))
    signed = client.post("/api/billing/stripe-webhook", content=body, headers={
        "Content-Type": "application/json", "Stripe-Signature": sign(body, DEVELOPMENT_WEBHOOK_SECRET)})
    assert signed.status_code == 200 and conforms(document, signed, "/api/billing/stripe-webhook") == {
        "received": True}
    forged = client.post("/api/billing/stripe-webhook", content=body, headers={
        "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})
    assert forged.status_code == 400 and conforms(document, forged, "/api/billing/stripe-webhook")
    no_job = client.post("/api/ai-image/webhooks/replicate", content=b"{}")
    assert no_job.status_code == 400 and conforms(document, no_job, "/api/ai-image/webhooks/replicate")

    not_allowed = client.put("/api/ai-image/usage")
    assert not_allowed.status_code == 405 and conforms(document, not_allowed, "/api/ai-image/usage")
    unknown = client.get("/api/ai-image/nothing-here")
    assert unknown.status_code == 404 and conforms(document, unknown, "/api/ai-image/nothing-here")
