"""POST /api/billing/stripe-webhook through its real handler: events signed with the Stripe SDK's own scheme
(local/stripe_events.py), DynamoDB (credits, idempotency records) in moto, users and subscriptions in SQLite;
what they change read back through GET /api/ai-image/usage, as the user sees it."""

from __future__ import annotations

import json
import random
import time

import pytest

from local import stripe_events as se
from tests.integration.conftest import assert_security_headers, both_engines, load_event

# The SQL store is this module's subject: every test runs on SQLite and on PostgreSQL.
engine = both_engines

SECRET = "whsec_integration_test_0123456789abcdef"
PRICES = {"pro": "price_pro_m", "premium": "price_premium_m"}
ANNUAL = {"pro": "price_pro_y"}
PACKS = {"100": "price_pack_100", "500": "price_pack_500", "1500": "price_pack_1500"}


@pytest.fixture
def billing_env(monkeypatch):
    for name, value in {"STRIPE_WEBHOOK_SECRET": SECRET, "PRICING_TABLE": json.dumps(PRICES),
                        "PRICING_TABLE_ANNUAL": json.dumps(ANNUAL),
                        "CREDITS_PRICING_TABLE": json.dumps(PACKS)}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def stripe(invoke, billing_env):
    """stripe(event, **signing) → the webhook's reply to the event, signed (now, unless `timestamp`)."""
    def deliver(event: dict | str, *, secret: str = SECRET, timestamp: int | None = None,
                signature: str | None = None):
        body = event if isinstance(event, str) else json.dumps(event)
        header = signature if signature is not None else se.sign(body, secret, timestamp=timestamp)
        return invoke("StripeWebhookFunction", load_event("stripe-webhook-post", headers={"stripe-signature": header},
                                                          body=body.encode()))

    return deliver


class User:
    def __init__(self, accounts, invoke, email: str) -> None:
        account = accounts.upsert_user(email, "free")
        self.id, self.email, self._invoke = account.user_id, email, invoke
        self.session = accounts.create_session(self.id, int(time.time()) + 3600)
        self.customer, self.subscription = f"cus_{self.id[:8]}", f"sub_{self.id[:8]}"

    def usage(self) -> dict:
        reply = self._invoke("UsageFunction", load_event("usage-get", cookies={"session_id": self.session}))
        assert reply.status == 200, reply.body
        return reply.json()["data"]

    def checkout(self, plan: str = "pro", *, created: int, price: str | None = None) -> dict:
        price = price or PRICES[plan]
        return se.event("checkout.session.completed", se.checkout_session(
            session_id=f"cs_{self.id[:8]}_{created}", mode="subscription", user_id=self.id, email=self.email,
            metadata={"userId": self.id, "plan": plan, "price": price}, customer=self.customer,
            subscription=self.subscription, created=created), created=created)

    def subscription_event(self, kind: str, status: str, *, created: int, plan: str = "pro",
                           price: str | None = None, with_user: bool = True) -> dict:
        return se.event(f"customer.subscription.{kind}", se.subscription(
            subscription_id=self.subscription, customer=self.customer, user_id=self.id if with_user else None,
            price=price or PRICES[plan], status=status, period_end=created + se.MONTH_SECONDS), created=created)

    def pack(self, size: int, *, created: int, payment_intent: str | None = None, pack: str | None = None) -> dict:
        price = PACKS[str(size)]
        return se.event("checkout.session.completed", se.checkout_session(
            session_id=f"cs_pack_{self.id[:8]}_{created}", mode="payment", user_id=self.id, email=self.email,
            metadata={"userId": self.id, "purpose": "credits", "pack": pack or str(size), "price": price},
            customer=self.customer, payment_intent=payment_intent or f"pi_{self.id[:8]}_{created}",
            created=created), created=created)


@pytest.fixture
def user(accounts, invoke):
    return User(accounts, invoke, "buyer@example.com")


NOW = int(time.time())


# --- plans ------------------------------------------------------------------------------------------------------

def test_a_pro_checkout_makes_the_user_pro_and_the_deletion_makes_them_free(stripe, user):
    assert user.usage()["plan"] == "free"

    reply = stripe(user.checkout("pro", created=NOW))

    assert reply.status == 200 and reply.json() == {"received": True}
    assert_security_headers(reply)
    pro = user.usage()
    assert pro["plan"] == "pro" and pro["usage"]["limit"] == 30 and pro["entitlements"]["maxUpscale"] == 4
    assert stripe(user.subscription_event("deleted", "canceled", created=NOW + 60)).status == 200
    free = user.usage()
    assert free["plan"] == "free" and free["entitlements"]["maxUpscale"] < 4


def test_an_annual_price_buys_the_same_plan(stripe, user):
    stripe(user.checkout("pro", created=NOW, price=ANNUAL["pro"]))
    assert user.usage()["plan"] == "pro"


def test_past_due_keeps_the_plan_and_unpaid_ends_it(stripe, user, db):
    stripe(user.checkout("pro", created=NOW))
    invoice = se.event("invoice.payment_failed", se.invoice_payment_failed(
        subscription_id=user.subscription, customer=user.customer), created=NOW + 10)

    assert stripe(invoice).status == 200
    assert db.rows("SELECT status FROM subscriptions WHERE id = ?", user.subscription) == [("past_due",)]
    assert user.usage()["plan"] == "pro"
    stripe(user.subscription_event("updated", "unpaid", created=NOW + 20))
    assert user.usage()["plan"] == "free"


def test_an_unknown_price_on_an_active_subscription_never_downgrades(stripe, user, logs):
    stripe(user.checkout("premium", created=NOW))

    reply = stripe(user.subscription_event("updated", "active", created=NOW + 10, price="price_not_ours"))

    assert reply.status == 200 and user.usage()["plan"] == "premium"
    assert any(line.get("message") == "stripe_unknown_price" and line.get("level") == "ERROR" for line in logs())


def test_a_subscription_event_before_its_checkout_ends_as_the_right_order_does(stripe, accounts, invoke):
    right, early = User(accounts, invoke, "right@example.com"), User(accounts, invoke, "early@example.com")

    for event in (right.checkout("pro", created=NOW), right.subscription_event("updated", "active", created=NOW + 5,
                                                                              plan="premium")):
        stripe(event)
    for event in (early.subscription_event("updated", "active", created=NOW + 5, plan="premium"),
                  early.checkout("pro", created=NOW)):
        stripe(event)

    assert right.usage()["plan"] == early.usage()["plan"] == "premium"


def test_an_older_update_arriving_after_a_newer_one_changes_nothing(stripe, user, db):
    stripe(user.checkout("pro", created=NOW))
    stripe(user.subscription_event("updated", "active", created=NOW + 20, plan="premium"))
    before = db.rows("SELECT plan, status, last_event_at FROM subscriptions")

    assert stripe(user.subscription_event("updated", "active", created=NOW + 10, plan="pro")).status == 200

    assert db.rows("SELECT plan, status, last_event_at FROM subscriptions") == before
    assert user.usage()["plan"] == "premium"


def test_a_subscription_without_metadata_finds_its_user_through_the_customer(stripe, user):
    stripe(user.checkout("pro", created=NOW))
    stripe(user.subscription_event("deleted", "canceled", created=NOW + 30, with_user=False))
    assert user.usage()["plan"] == "free"


def _state(user: User, db) -> tuple:
    usage = user.usage()
    return (usage["plan"], usage["creditsBalanceTenths"],
            db.rows("SELECT plan, status, cancel_at_period_end, last_event_at FROM subscriptions "
                           "WHERE user_id = ?", user.id))


def _history(user: User) -> list[dict]:
    return [user.checkout("pro", created=NOW), user.subscription_event("created", "active", created=NOW),
            user.pack(500, created=NOW + 5),
            se.event("invoice.payment_failed", se.invoice_payment_failed(
                subscription_id=user.subscription, customer=user.customer), created=NOW + 10),
            user.subscription_event("updated", "past_due", created=NOW + 10),
            user.subscription_event("updated", "active", created=NOW + 30, plan="premium"),
            user.pack(100, created=NOW + 40)]


def test_every_event_three_times_in_any_order_ends_as_one_ordered_delivery(stripe, accounts, invoke, db):
    ordered, shuffled = User(accounts, invoke, "ordered@example.com"), User(accounts, invoke, "shuffled@example.com")
    for event in _history(ordered):
        assert stripe(event).status == 200
    deliveries = _history(shuffled) * 3
    random.Random(20261206).shuffle(deliveries)

    for event in deliveries:
        assert stripe(event).status == 200

    expected = _state(ordered, db)
    assert expected[0] == "premium" and expected[1] == 6000
    got = _state(shuffled, db)
    assert (got[0], got[1]) == (expected[0], expected[1])
    assert [row[:3] for row in got[2]] == [row[:3] for row in expected[2]]


# --- credit packs -------------------------------------------------------------------------------------------------

def test_a_pack_delivered_three_times_is_added_once_and_its_refund_withdraws_once(stripe, user):
    pack = user.pack(500, created=NOW, payment_intent="pi_500")
    for _ in range(3):
        assert stripe(pack).status == 200
    assert user.usage()["creditsBalanceTenths"] == 5000

    refund = se.event("charge.refunded", se.charge_refunded(payment_intent="pi_500", amount=1500,
                                                            amount_refunded=1500))
    for _ in range(3):
        assert stripe(refund).status == 200
    assert user.usage()["creditsBalanceTenths"] == 0


def test_a_second_partial_refund_withdraws_only_the_new_share_and_never_below_zero(stripe, user):
    stripe(user.pack(100, created=NOW, payment_intent="pi_100"))
    stripe(user.pack(500, created=NOW + 1, payment_intent="pi_other"))

    half = se.charge_refunded(payment_intent="pi_100", amount=500, amount_refunded=250)
    stripe(se.event("charge.refunded", half))
    stripe(se.event("charge.refunded", half))  # a new event id, the same cumulative refund: nothing more
    assert user.usage()["creditsBalanceTenths"] == 5000 + 500
    stripe(se.event("charge.refunded", {**half, "amount_refunded": 500}))
    stripe(se.event("charge.refunded", {**half, "amount_refunded": 900}))  # more than was paid
    assert user.usage()["creditsBalanceTenths"] == 5000  # the other pack untouched


def test_a_pack_size_is_our_price_tables_not_the_metadatas(stripe, user, logs):
    reply = stripe(user.pack(100, created=NOW, pack="1500"))  # the 100 pack's price, metadata edited to 1500
    assert reply.status == 200 and user.usage()["creditsBalanceTenths"] == 0
    assert any(line.get("message") == "stripe_unknown_price" for line in logs())


def test_a_payment_not_yet_paid_adds_nothing_until_it_succeeds(stripe, user):
    pending = user.pack(500, created=NOW)
    pending["data"]["object"]["payment_status"] = "unpaid"
    stripe(pending)
    assert user.usage()["creditsBalanceTenths"] == 0

    paid = user.pack(500, created=NOW)
    stripe(se.event("checkout.session.async_payment_succeeded", paid["data"]["object"], created=NOW + 60))
    assert user.usage()["creditsBalanceTenths"] == 5000


# --- what is refused ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signing", [
    {"secret": "whsec_someone_else"},
    {"offset": -306},  # whole seconds: a few of slack on either side of the 300 s tolerance
    {"offset": 306},
    {"signature": ""},
    {"signature": "t=abc,v1=00"},
])
def test_a_bad_stale_or_future_signature_is_refused_and_changes_nothing(stripe, user, db, signing):
    if "offset" in signing:
        signing = {"timestamp": int(time.time()) + signing["offset"]}
    reply = stripe(user.checkout("pro", created=NOW), **signing)

    assert reply.status == 400 and reply.json()["error"]["type"] == "validation_error"
    assert_security_headers(reply)
    assert user.usage()["plan"] == "free"
    assert db.rows("SELECT COUNT(*) FROM subscriptions") == [(0,)]


def test_a_body_changed_after_signing_is_refused(stripe, user):
    body = json.dumps(user.checkout("pro", created=NOW))
    header = se.sign(body, SECRET)
    reply = stripe(body.replace('"pro"', '"enterprise"'), signature=header)
    assert reply.status == 400 and user.usage()["plan"] == "free"


def test_an_unknown_event_type_is_acknowledged_and_changes_nothing(stripe, user, db):
    reply = stripe(se.event("customer.created", {"id": user.customer, "object": "customer",
                                                 "metadata": {"userId": user.id}}))

    assert reply.status == 200 and reply.json() == {"received": True}
    assert user.usage()["plan"] == "free"
    assert db.rows("SELECT COUNT(*) FROM stripe_customers") == [(0,)]


def test_a_redelivery_that_differs_only_in_pending_webhooks_is_the_same_event(stripe, user, db):
    first = user.checkout("pro", created=NOW)
    stripe(first)
    stripe(user.subscription_event("deleted", "canceled", created=NOW + 10))

    again = {**first, "pending_webhooks": 3}
    assert stripe(again).status == 200
    assert user.usage()["plan"] == "free"


def test_without_a_webhook_secret_the_route_answers_503_and_names_it_in_the_log(invoke, monkeypatch, logs):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    body = json.dumps(se.event("customer.created", {"id": "cus_1"}))

    reply = invoke("StripeWebhookFunction", load_event("stripe-webhook-post", body=body.encode(),
                                                       headers={"stripe-signature": se.sign(body, SECRET)}))

    assert reply.status == 503 and "whsec" not in reply.body.decode()
    assert any("STRIPE_WEBHOOK_SECRET" in json.dumps(line) for line in logs())


def test_a_pack_refund_ahead_of_its_checkout_is_503_until_the_pack_is_there(stripe, user):
    refund = se.event("charge.refunded", se.charge_refunded(
        payment_intent="pi_early", amount=1000, amount_refunded=1000,
        metadata={"purpose": "credits", "pack": "100", "userId": user.id}))

    first = stripe(refund)
    stripe(user.pack(100, created=NOW, payment_intent="pi_early"))
    assert first.status == 503 and user.usage()["creditsBalanceTenths"] == 1000

    assert stripe(refund).status == 200  # Stripe's retry of the same event
    assert user.usage()["creditsBalanceTenths"] == 0
