"""GET /api/ai-image/usage through the real handler, DynamoDB in moto, accounts in SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from enhancer.adapters.dynamo_keys import credits_key, daily_usage_key, monthly_usage_key
from enhancer.domain.clock import month_key
from tests.integration.conftest import (
    assert_security_headers,
    guest_cookie,
    guest_key,
    load_event,
    start_in_a_fresh_rate_window,
)

GUEST = guest_cookie("3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c")


def _put(aws, item: dict) -> None:
    aws.dynamodb.put_item(TableName="enhancer-test", Item=item)


def _session(accounts, email: str, plan: str, *, expires_in: int = 3600) -> tuple[str, str]:
    account = accounts.upsert_user(email, plan)
    return account.user_id, accounts.create_session(account.user_id, int(time.time()) + expires_in)


def _next_month_iso() -> str:
    now = datetime.now(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return f"{year:04d}-{month:02d}-01T00:00:00Z"


def test_guest_without_cookies_gets_guest_overview_and_a_cookie(invoke):
    reply = invoke("UsageFunction", load_event("usage-get"))

    assert reply.status == 200
    body = reply.json()
    assert body["success"] is True
    data = body["data"]
    assert data["ownerType"] == "guest"
    assert "plan" not in data and "creditsBalanceTenths" not in data
    assert data["usage"] == {"used": 0, "limit": 3, "remaining": 3, "resetAt": None}
    assert data["monthlyUsage"] == {"used": 0, "limit": 90, "remaining": 90, "resetAt": _next_month_iso()}
    assert data["entitlements"] == {"monthlyImages": 90, "dailyBurstCap": 3, "maxUpscale": 2, "faceEnhance": False}
    assert data["limits"] == {"user": 3, "guest": 3}
    assert list(data) == ["ownerType", "usage", "monthlyUsage", "limits", "entitlements"]
    assert reply.header("X-Usage-Limit") == "3"
    assert reply.header("X-Usage-OwnerType") == "guest"
    assert reply.header("X-Usage-Plan") == ""
    assert reply.header("Cache-Control") == "no-store, no-cache, must-revalidate"
    assert reply.header("Pragma") == "no-cache" and reply.header("Expires") == "0"
    assert_security_headers(reply)
    [cookie] = reply.set_cookies
    assert cookie.startswith("guest_id=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Max-Age=15552000", "Path=/", "Secure"):
        assert attribute in cookie


def test_guest_cookie_is_not_reissued_and_counters_are_read(invoke, aws):
    now = int(time.time())
    key = guest_key(GUEST)
    _put(aws, {"pk": {"S": daily_usage_key("guest", key)}, "count": {"N": "2"}, "resetAt": {"N": str(now + 600)}})
    _put(aws, {"pk": {"S": monthly_usage_key("guest", key, month_key(now))}, "usedTenths": {"N": "25"}})

    reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))

    data = reply.json()["data"]
    assert reply.set_cookies == []
    assert data["usage"]["used"] == 2 and data["usage"]["remaining"] == 1
    assert data["usage"]["resetAt"] == datetime.fromtimestamp(now + 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["monthlyUsage"]["used"] == 2.5 and data["monthlyUsage"]["remaining"] == 87.5


def test_an_expired_daily_window_counts_as_unused(invoke, aws):
    key = guest_key(GUEST)
    _put(aws, {"pk": {"S": daily_usage_key("guest", key)}, "count": {"N": "3"},
               "resetAt": {"N": str(int(time.time()) - 1)}})

    data = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST})).json()["data"]

    assert data["usage"] == {"used": 0, "limit": 3, "remaining": 3, "resetAt": None}


def test_a_malformed_guest_cookie_is_replaced(invoke):
    reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": "../../etc/passwd"}))

    assert reply.status == 200
    [cookie] = reply.set_cookies
    assert cookie.startswith("guest_id=") and "passwd" not in cookie


def test_pro_user_sees_plan_limits_and_active_credits(invoke, aws, accounts):
    user_id, session = _session(accounts, "pro@example.com", "pro")
    now = int(time.time())
    _put(aws, {"pk": {"S": credits_key(user_id)}, "version": {"N": "3"}, "packs": {"L": [
        {"M": {"id": {"S": "cs_old"}, "unitsTenths": {"N": "70"}, "createdAt": {"N": str(now - 10)},
               "expiresAt": {"N": str(now + 1000)}}},
        {"M": {"id": {"S": "cs_expired"}, "unitsTenths": {"N": "500"}, "createdAt": {"N": str(now - 99)},
               "expiresAt": {"N": str(now - 1)}}},
    ]}})

    reply = invoke("UsageFunction", load_event("usage-get", cookies={"session_id": session}))

    data = reply.json()["data"]
    assert data["ownerType"] == "user" and data["plan"] == "pro"
    assert data["usage"]["limit"] == 30 and data["monthlyUsage"]["limit"] == 300
    assert data["entitlements"] == {"monthlyImages": 300, "dailyBurstCap": 30, "maxUpscale": 4, "faceEnhance": True}
    assert data["creditsBalanceTenths"] == 70
    assert reply.header("X-Usage-Plan") == "pro" and reply.header("X-Usage-Limit") == "30"
    assert reply.set_cookies == []  # signed-in users get no guest cookie


@pytest.mark.parametrize(("status", "expected"), [("active", "premium"), ("trialing", "premium"),
                                                  ("past_due", "premium"), ("canceled", "free"), ("unpaid", "free")])
def test_plan_follows_the_newest_active_subscription(invoke, accounts, settings_env, status, expected):
    from enhancer.adapters.sql import connect

    user_id, session = _session(accounts, "sub@example.com", "free")
    with connect(f"sqlite:///{settings_env}") as conn:
        conn.execute("INSERT INTO stripe_customers (user_id, customer_id) VALUES (?, 'cus_1')", (user_id,))
        conn.execute("INSERT INTO subscriptions (id, user_id, customer_id, plan, status) "
                     "VALUES ('sub_1', ?, 'cus_1', 'premium', ?)", (user_id, status))

    data = invoke("UsageFunction", load_event("usage-get", cookies={"session_id": session})).json()["data"]

    assert data["plan"] == expected


def test_an_expired_session_is_deleted_and_the_caller_is_a_guest(invoke, accounts, settings_env):
    from enhancer.adapters.sql import connect

    _, session = _session(accounts, "late@example.com", "pro", expires_in=-5)

    data = invoke("UsageFunction", load_event("usage-get", cookies={"session_id": session})).json()["data"]

    assert data["ownerType"] == "guest"
    with connect(f"sqlite:///{settings_env}") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions WHERE id = ?", (session,)).fetchone()[0] == 0


def test_host_session_cookie_wins_over_session_id(invoke, accounts):
    _, pro_session = _session(accounts, "host@example.com", "pro")
    _, free_session = _session(accounts, "plain@example.com", "free")

    data = invoke("UsageFunction", load_event(
        "usage-get", cookies={"__Host-session": pro_session, "session_id": free_session})).json()["data"]

    assert data["plan"] == "pro"


def test_the_31st_request_in_a_window_is_refused_even_by_a_fresh_instance(invoke, aws):
    cookies = {"guest_id": GUEST}
    start_in_a_fresh_rate_window()
    statuses = [invoke("UsageFunction", load_event("usage-get", cookies=cookies)).status for _ in range(30)]
    assert statuses == [200] * 30

    from local.events import LambdaContext, response_parts
    from local.gateway import load_handler
    from local.template import http_routes
    from tests.integration.conftest import Reply

    # A second Lambda instance: its own module, its own clients; the count lives in the table.
    route = next(r for r in http_routes() if r.function_id == "UsageFunction")
    other_instance = load_handler(route.code_uri, route.handler, "UsageFunctionInstance2")
    result = other_instance(load_event("usage-get", cookies=cookies), LambdaContext("UsageFunction", "req-31"))
    reply = Reply(*response_parts(result))

    assert reply.status == 429
    body = reply.json()
    assert body["success"] is False and body["error"]["type"] == "rate_limit"
    assert isinstance(body["retryAfter"], int) and 1 <= body["retryAfter"] <= 60
    assert reply.header("Retry-After") == str(body["retryAfter"])
    assert_security_headers(reply)


def test_rate_limits_are_per_client(invoke, aws):
    for _ in range(30):
        invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))

    other_ip = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}, source_ip="203.0.113.9"))
    other_guest = invoke("UsageFunction", load_event(
        "usage-get", cookies={"guest_id": guest_cookie("9b2e7c41-0d3a-4f6b-8e5c-1a2b3c4d5e6f")}))

    assert other_ip.status == 200 and other_guest.status == 200


def test_rate_window_items_carry_a_ttl(invoke, aws):
    invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))

    items = aws.dynamodb.scan(TableName="enhancer-test")["Items"]
    [window] = [i for i in items if i["pk"]["S"].startswith("rl:api:")]
    assert window["pk"]["S"].startswith(f"rl:api:198.51.100.7:g:{guest_key(GUEST)}:")
    assert GUEST not in window["pk"]["S"]  # the raw cookie never reaches storage
    assert int(window["expiresAt"]["N"]) > time.time()
    assert window["count"]["N"] == "1"


def test_dynamodb_failure_is_a_503_with_headers(invoke, aws, monkeypatch):
    from enhancer import bootstrap

    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    bootstrap.reset()

    reply = invoke("UsageFunction", load_event("usage-get"))

    assert reply.status == 503
    assert reply.json()["error"]["type"] == "service_unavailable"
    assert "no-such-table" not in reply.body.decode()
    assert_security_headers(reply)


def test_unexpected_failure_is_a_500_envelope_without_internals(invoke, aws, monkeypatch, tmp_path):
    from enhancer import bootstrap

    # A file that is no database: a fault no retry mends (a store that cannot be reached or is locked is a 503,
    # tests/faults/test_faults_sql.py).
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database, " * 64)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{garbage}")
    bootstrap.reset()

    reply = invoke("UsageFunction", load_event("usage-get", cookies={"session_id": "abc"}))

    assert reply.status == 500
    assert reply.json() == {"success": False, "error": {"type": "server_error", "message": "Internal server error"}}
    assert_security_headers(reply)


def test_limits_user_is_the_free_plans_cap_and_the_readme_says_it_departs_from_the_old_20(invoke, aws):
    from enhancer.domain.plans import PLAN_ENTITLEMENTS, Plan
    from local.template import ROOT

    data = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST})).json()["data"]
    readme = " ".join((ROOT / "README.md").read_text().split())

    assert data["limits"]["user"] == PLAN_ENTITLEMENTS[Plan.FREE].daily_burst_cap == 3
    assert "`limits` in usage and generate responses is `{user: 3, guest: 3}`" in readme
    assert "The old system always sent `user: 20`" in readme and "deliberate change" in readme
