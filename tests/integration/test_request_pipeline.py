"""Origin + CSRF on unsafe methods, and the development sign-in that exercises them."""

from __future__ import annotations

import pytest

from enhancer import bootstrap
from local.events import LambdaContext, response_parts
from local.gateway import load_handler
from local.template import ROOT
from tests.integration.conftest import Reply, assert_security_headers, load_event

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def dev_login(aws, accounts, monkeypatch):
    """The development sign-in handler, built fresh under the current environment."""

    def build(environment: str = "development", allowed_origins: str | None = None):
        monkeypatch.setenv("ENVIRONMENT", environment)
        if allowed_origins:
            monkeypatch.setenv("ALLOWED_ORIGINS", allowed_origins)
        bootstrap.reset()
        handler = load_handler(ROOT / "local", "dev_login.handler", f"DevLogin_{environment}")
        return lambda event: Reply(*response_parts(handler(event, LambdaContext("DevLogin", "req"))))

    return build


def test_dev_login_signs_in_and_the_session_is_a_user(dev_login, invoke):
    reply = dev_login()(load_event("dev-login-post"))

    assert reply.status == 200
    user = reply.json()["data"]["user"]
    assert user["email"] == "pro@example.com" and user["plan"] == "pro"
    session_cookie = next(c for c in reply.set_cookies if c.startswith("session_id="))
    assert "HttpOnly" in session_cookie and "Secure" in session_cookie
    assert any(c.startswith("__Host-session=") and "SameSite=Strict" in c for c in reply.set_cookies)
    session = session_cookie.split(";")[0].split("=", 1)[1]

    usage = invoke("UsageFunction", load_event("usage-get", cookies={"session_id": session})).json()["data"]
    assert usage["ownerType"] == "user" and usage["plan"] == "pro" and usage["usage"]["limit"] == 30


def test_dev_login_again_updates_the_plan_of_the_same_user(dev_login):
    login = dev_login()
    first = login(load_event("dev-login-post")).json()["data"]["user"]
    event = load_event("dev-login-post")
    event["body"] = '{"email": "PRO@example.com", "plan": "enterprise"}'
    second = login(event).json()["data"]["user"]

    assert second["id"] == first["id"] and second["plan"] == "enterprise"


def test_dev_login_is_refused_outside_development(dev_login):
    reply = dev_login("testing")(load_event("dev-login-post"))

    assert reply.status == 404
    assert not reply.set_cookies


@pytest.mark.parametrize(("change", "message"), [
    ({"drop": ["origin"]}, "Missing Origin/Referer header"),
    ({"headers": {"origin": "https://evil.example"}}, "Origin not allowed"),
    ({"headers": {"origin": "null"}}, "Origin not allowed"),
    ({"headers": {"x-csrf-token": "f" * 32}}, "Invalid CSRF token"),
    ({"drop": ["x-csrf-token"]}, "Invalid CSRF token"),
    ({"cookies": {}}, "Invalid CSRF token"),
])
def test_unsafe_requests_without_a_matching_origin_and_token_are_403(dev_login, change, message):
    event = load_event("dev-login-post", headers=change.get("headers"), cookies=change.get("cookies"))
    for name in change.get("drop", []):
        event["headers"].pop(name)

    reply = dev_login()(event)

    assert reply.status == 403
    assert reply.json()["error"] == {"type": "forbidden", "message": message}
    assert not reply.set_cookies
    assert_security_headers(reply)


def test_referer_stands_in_for_a_missing_origin(dev_login):
    event = load_event("dev-login-post", headers={"referer": "https://api.example.com/app/page?x=1"})
    event["headers"].pop("origin")

    assert dev_login()(event).status == 200


def test_allowed_origins_admit_a_second_front_end(dev_login):
    event = load_event("dev-login-post", headers={"origin": "https://app.example.org"})

    assert dev_login()(event).status == 403
    assert dev_login(allowed_origins="https://app.example.org")(event).status == 200


def test_invalid_body_is_a_400_envelope(dev_login):
    event = load_event("dev-login-post")
    event["body"] = '{"email": "not-an-email", "plan": "gold"}'

    reply = dev_login()(event)

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "validation_error"
    assert {tuple(issue["path"]) for issue in error["details"]["issues"]} == {("body", "email"), ("body", "plan")}


def test_get_on_the_dev_login_path_is_405(dev_login):
    reply = dev_login()(load_event("dev-login-post", method="GET"))

    assert reply.status == 405 and reply.header("Allow") == "POST"
