"""Checkout and the customer portal through their real handlers, Stripe's API answered at the HTTP layer (respx
in front of the SDK's httpx client): what our code sends to Stripe, and what it answers the browser."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from tests.integration.conftest import assert_security_headers, load_event

KEY = "sk_test_checkout_0123456789abcdef"
SITE = "https://api.example.com"
PRICES = {"pro": "price_pro_m", "premium": "price_premium_m"}
ANNUAL = {"pro": "price_pro_y"}
PACKS = {"500": "price_pack_500"}
CSRF = "0123456789abcdef0123456789abcdef"
SESSION_URL = "https://checkout.stripe.com/c/pay/cs_test_1"


@pytest.fixture
def stripe_api(monkeypatch, settings_env):
    for name, value in {"STRIPE_SECRET": KEY, "PRICING_TABLE": json.dumps(PRICES), "BASE_URL": SITE,
                        "PRICING_TABLE_ANNUAL": json.dumps(ANNUAL), "CREDITS_PRICING_TABLE": json.dumps(PACKS),
                        "PUBLIC_ENABLE_CREDITS_CTA": "1"}.items():
        monkeypatch.setenv(name, value)
    with respx.mock(assert_all_called=False) as mock:
        mock.post("https://api.stripe.com/v1/checkout/sessions").mock(return_value=httpx.Response(
            200, json={"id": "cs_test_1", "object": "checkout.session", "url": SESSION_URL}))
        mock.post("https://api.stripe.com/v1/billing_portal/sessions").mock(return_value=httpx.Response(
            200, json={"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.com/p/s"}))
        yield mock


@pytest.fixture
def session(accounts):
    user = accounts.upsert_user("buyer@example.com", "free")
    return type("Signed", (), {"id": user.user_id,
                               "cookie": accounts.create_session(user.user_id, int(time.time()) + 3600)})


def _post(invoke, route: str, body: dict, *, session: str | None, csrf: bool = True, origin: str = SITE):
    function, event_name = {"session": ("BillingSessionFunction", "billing-session-post"),
                            "credits": ("BillingCreditsFunction", "billing-credits-post")}[route]
    cookies = {"csrf_token": CSRF, **({"session_id": session} if session else {})}
    headers = {"origin": origin, "x-csrf-token": CSRF if csrf else ""}
    return invoke(function, load_event(event_name, cookies=cookies, headers=headers, body=json.dumps(body).encode()))


def _sent(mock) -> dict[str, list[str]]:
    [call] = [c for c in mock.calls if c.request.url.path == "/v1/checkout/sessions"]
    assert call.request.headers["authorization"] == f"Bearer {KEY}"
    assert call.request.headers["idempotency-key"]
    return parse_qs(call.request.content.decode())


def test_a_plan_checkout_sends_our_price_and_the_user_and_answers_stripes_url(invoke, stripe_api, session):
    reply = _post(invoke, "session", {"plan": "pro", "interval": "annual", "returnTo": "/pricing?x=1"},
                  session=session.cookie)

    assert reply.status == 200 and reply.json()["data"] == {"url": SESSION_URL}
    assert_security_headers(reply)
    sent = _sent(stripe_api)
    assert sent["mode"] == ["subscription"] and sent["line_items[0][price]"] == ["price_pro_y"]
    assert sent["client_reference_id"] == [session.id] and sent["metadata[userId]"] == [session.id]
    assert sent["subscription_data[metadata][userId]"] == [session.id]
    assert sent["success_url"] == [f"{SITE}/pricing?x=1&billing=success"]
    assert sent["cancel_url"] == [f"{SITE}/pricing?x=1&billing=canceled"]


@pytest.mark.parametrize("return_to", ["https://evil.example", "//evil.example/x", "/\\evil.example"])
def test_a_return_address_off_this_site_is_not_used(invoke, stripe_api, session, return_to):
    assert _post(invoke, "session", {"plan": "pro", "returnTo": return_to}, session=session.cookie).status == 200
    assert _sent(stripe_api)["success_url"] == [f"{SITE}/dashboard?billing=success"]


def test_checkout_without_sign_in_is_401_and_without_csrf_or_from_elsewhere_is_403(invoke, stripe_api, session):
    anonymous = _post(invoke, "session", {"plan": "pro"}, session=None)
    no_csrf = _post(invoke, "session", {"plan": "pro"}, session=session.cookie, csrf=False)
    elsewhere = _post(invoke, "credits", {"pack": 500}, session=session.cookie, origin="https://evil.example")

    assert anonymous.status == 401 and anonymous.json()["error"]["type"] == "auth_error"
    assert no_csrf.status == 403 and elsewhere.status == 403
    assert not stripe_api.calls


@pytest.mark.parametrize("body", [{"plan": "free"}, {"plan": "gold"}, {"plan": "premium", "interval": "annual"},
                                  {"plan": "pro", "interval": "weekly"}, {}])
def test_a_plan_that_is_not_on_sale_is_400(invoke, stripe_api, session, body):
    reply = _post(invoke, "session", body, session=session.cookie)
    assert reply.status == 400 and not stripe_api.calls


def test_a_credit_pack_checkout_is_a_payment_for_our_pack_price(invoke, stripe_api, session):
    reply = _post(invoke, "credits", {"pack": 500}, session=session.cookie)

    assert reply.status == 200
    sent = _sent(stripe_api)
    assert sent["mode"] == ["payment"] and sent["line_items[0][price]"] == ["price_pack_500"]
    assert sent["metadata[purpose]"] == ["credits"] and sent["metadata[pack]"] == ["500"]
    assert sent["payment_intent_data[metadata][pack]"] == ["500"]
    assert sent["success_url"] == [f"{SITE}/dashboard?credits=1"]


def test_a_pack_without_a_price_is_503_and_a_size_we_do_not_sell_is_400(invoke, stripe_api, session):
    missing = _post(invoke, "credits", {"pack": 100}, session=session.cookie)
    assert missing.status == 503 and "100-credit pack" in missing.json()["error"]["message"]
    assert _post(invoke, "credits", {"pack": 42}, session=session.cookie).status == 400
    assert not stripe_api.calls


def test_credit_packs_switched_off_answer_503_clearly(invoke, stripe_api, session, monkeypatch):
    from enhancer import bootstrap

    monkeypatch.setenv("PUBLIC_ENABLE_CREDITS_CTA", "0")
    bootstrap.reset()  # before this test's first call loads the settings

    reply = _post(invoke, "credits", {"pack": 500}, session=session.cookie)

    assert reply.status == 503 and "Credit packs are not on sale" in reply.json()["error"]["message"]
    assert not stripe_api.calls


def test_stripe_refusing_our_key_is_503_with_none_of_stripes_words(invoke, session, monkeypatch, logs):
    monkeypatch.setenv("STRIPE_SECRET", KEY)
    monkeypatch.setenv("PRICING_TABLE", json.dumps(PRICES))
    with respx.mock() as mock:
        mock.post("https://api.stripe.com/v1/checkout/sessions").mock(return_value=httpx.Response(
            401, json={"error": {"message": "Invalid API Key provided: sk_test_***", "type": "invalid_request_error"}}))
        reply = _post(invoke, "session", {"plan": "pro"}, session=session.cookie)

    assert reply.status == 503 and "Invalid API Key" not in reply.body.decode()
    assert KEY not in json.dumps(logs()) and KEY not in reply.body.decode()


def test_the_portal_sends_a_paying_user_to_stripe_and_others_back(invoke, stripe_api, session, settings_env):
    event = load_event("billing-portal-get", cookies={"session_id": session.cookie})
    back = invoke("BillingPortalFunction", event)
    assert back.status == 302 and back.header("location") == f"{SITE}/dashboard?billing=no_customer"
    assert not stripe_api.calls

    import sqlite3

    with sqlite3.connect(settings_env) as conn:
        conn.execute("INSERT INTO stripe_customers (user_id, customer_id) VALUES (?, 'cus_9')", (session.id,))
    portal = invoke("BillingPortalFunction", event)

    assert portal.status == 302 and portal.header("location") == "https://billing.stripe.com/p/s"
    [call] = stripe_api.calls
    assert parse_qs(call.request.content.decode())["customer"] == ["cus_9"]
