"""The issue's acceptance list, over HTTP against the running local stack."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from enhancer.domain.identity import guest_owner_key
from enhancer.http.route_table import API_ROUTES
from tests.expectations import security_header_problems

EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def assert_security_headers(response: httpx.Response) -> None:
    problems = security_header_problems(response.headers.get)
    assert problems == [], f"on {response.request.method} {response.url}"


def unsafe_headers(client: httpx.Client, token: str = "t" * 32) -> dict[str, str]:
    client.cookies.set("csrf_token", token)
    return {"Origin": str(client.base_url).rstrip("/"), "X-CSRF-Token": token}


def sign_in(client: httpx.Client, plan: str) -> dict:
    email = f"{plan}-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/api/dev/login", json={"email": email, "plan": plan}, headers=unsafe_headers(client))
    assert response.status_code == 200, response.text
    return response.json()["data"]["user"]


def test_guest_usage_without_cookies(client):
    response = client.get("/api/ai-image/usage")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["ownerType"] == "guest"
    assert data["usage"]["limit"] == 3
    assert data["entitlements"]["monthlyImages"] == 90
    assert "guest_id" in response.cookies
    guest_id, _, signature = response.cookies["guest_id"].partition(".")
    assert uuid.UUID(guest_id).version == 4 and len(signature) == 32
    assert response.headers["X-Usage-Limit"] == "3"
    assert_security_headers(response)


def test_signed_in_pro_user_usage(client):
    user = sign_in(client, "pro")

    data = client.get("/api/ai-image/usage").json()["data"]

    assert data["ownerType"] == "user"
    assert data["plan"] == "pro" and user["plan"] == "pro"
    assert data["usage"]["limit"] == 30


def test_put_usage_is_405_with_allow_get(client):
    response = client.put("/api/ai-image/usage")

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.json()["error"]["type"] == "method_not_allowed"
    assert_security_headers(response)


@pytest.mark.parametrize(("path", "method"), [
    (template, method) for template, allowed in API_ROUTES.items() for method in EVERY_METHOD if method not in allowed
])
def test_every_unserved_method_on_every_api_path_is_405(client, path, method):
    concrete = path.replace("{key+}", "ai-enhancer/uploads/guest/x/y.png")

    response = client.request(method, concrete)

    assert response.status_code == 405
    assert response.headers["Allow"] == ", ".join(API_ROUTES[path])
    assert_security_headers(response)


def test_unsafe_route_without_origin_is_403(client):
    client.cookies.set("csrf_token", "t" * 32)
    response = client.post("/api/dev/login", json={"email": "a@example.com"}, headers={"X-CSRF-Token": "t" * 32})

    assert response.status_code == 403
    assert response.json()["error"] == {"type": "forbidden", "message": "Missing Origin/Referer header"}
    assert_security_headers(response)


def test_unsafe_route_with_a_foreign_origin_is_403(client):
    headers = {**unsafe_headers(client), "Origin": "https://evil.example"}

    response = client.post("/api/dev/login", json={"email": "a@example.com"}, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Origin not allowed"


def test_unsafe_route_with_a_mismatched_csrf_token_is_403(client):
    headers = {**unsafe_headers(client, "a" * 32), "X-CSRF-Token": "b" * 32}

    response = client.post("/api/dev/login", json={"email": "a@example.com"}, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Invalid CSRF token"


def test_a_new_browser_gets_30_usage_requests_a_minute_the_one_that_made_it_a_guest_included(client):
    for _ in range(3):  # a fixed window may turn over mid-burst; a burst inside one window decides
        client.cookies.clear()  # the first request makes a new guest, whose cookie the jar keeps
        started_window = int(time.time() // 60)
        statuses = [client.get("/api/ai-image/usage").status_code for _ in range(30)]
        last = client.get("/api/ai-image/usage")
        if int(time.time() // 60) == started_window:
            break
    assert statuses == [200] * 30
    assert last.status_code == 429
    body = last.json()
    assert body["error"]["type"] == "rate_limit"
    assert isinstance(body["retryAfter"], int) and body["retryAfter"] >= 1
    assert last.headers["Retry-After"] == str(body["retryAfter"])
    assert_security_headers(last)


def test_image_proxy_ownership_and_scope(client, owner_key_secret, s3, stack):
    client.get("/api/ai-image/usage")  # obtain a guest cookie
    mine = guest_owner_key(owner_key_secret, client.cookies["guest_id"].partition(".")[0])
    s3.put_object(Bucket=stack["bucket"], Key="ai-enhancer/results/guest/someone-else/x.png", Body=b"\x89PNG",
                  ContentType="image/png")

    someone_else = client.get("/r2-ai/ai-enhancer/results/guest/someone-else/x.png")
    someone_elses_gone = client.get("/r2-ai/ai-enhancer/results/guest/someone-else/gone.png")
    own_missing = client.get(f"/r2-ai/ai-enhancer/results/guest/{mine}/x.png")
    outside = client.get("/r2-ai/not-allowed/x.png")

    assert someone_else.status_code == 403
    assert someone_elses_gone.status_code == 404
    assert own_missing.status_code == 404
    assert outside.status_code == 404
    for response in (someone_else, own_missing, outside):
        assert_security_headers(response)


def test_an_existing_upload_is_public_and_revalidates(client, s3, stack):
    key = f"ai-enhancer/uploads/guest/stack/{uuid.uuid4()}.png"
    s3.put_object(Bucket=stack["bucket"], Key=key, Body=b"\x89PNG\r\n\x1a\n" + b"\x01" * 64, ContentType="image/png")

    first = client.get(f"/r2-ai/{key}")
    second = client.get(f"/r2-ai/{key}", headers={"If-None-Match": first.headers["ETag"]})
    head = client.head(f"/r2-ai/{key}")

    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=900, immutable"
    assert first.headers["ETag"]
    assert first.content.startswith(b"\x89PNG")
    assert "set-cookie" not in first.headers
    assert second.status_code == 304 and second.content == b""
    assert head.status_code == 200 and head.headers["Content-Length"] == str(8 + 64) and head.content == b""


def test_a_body_over_lambdas_6_mb_is_413_pointing_to_uploads(client):
    response = client.post("/api/dev/login", content=b"x" * (6 * 1024 * 1024 + 1),
                           headers={**unsafe_headers(client), "Content-Type": "application/octet-stream"})

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "payload_too_large"
    assert "/api/ai-image/uploads" in error["message"]
    assert_security_headers(response)


def test_the_web_page_is_served_with_a_strict_csp(client):
    response = client.get("/")

    assert response.status_code == 200
    assert '<script type="module" src="/js/main.js"></script>' in response.text
    assert "<script>" not in response.text and " style=" not in response.text  # nothing inline for the CSP to allow
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert_security_headers(response)
    module = client.get("/js/main.js")
    # A module script is run only when served with a JavaScript type.
    assert module.status_code == 200 and module.headers["content-type"] in ("text/javascript", "application/javascript")


def test_an_unknown_api_path_is_a_404_envelope(client):
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert_security_headers(response)


def test_the_gateway_refuses_bodies_it_cannot_frame(stack):
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(stack["url"])
    for header in ("Content-Length: -5", "Content-Length: many", "Transfer-Encoding: chunked"):
        with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
            connection.sendall(f"POST /api/ai-image/generate HTTP/1.1\r\nHost: {address.netloc}\r\n{header}\r\n\r\n"
                               .encode())
            head = connection.recv(4096).split(b"\r\n\r\n", 1)[0].lower()
        status_line = head.split(b"\r\n", 1)[0]
        assert status_line.split()[1] in (b"400", b"411"), (header, status_line)
        # The headers every error carries (docs/openapi.json requires them), though no function answered.
        assert b"\r\ncache-control: no-store" in head and b"\r\nx-content-type-options: nosniff" in head, head
