"""Billing (docs/architecture.md §8): the price tables, what a subscription status means for `users.plan`, event
ordering, reading both Stripe API shapes, refund shares and return paths (`domain.billing`); and the webhook's
`apply_event` and the checkout and portal use cases (`services.billing`) over in-memory ports that keep the
promises of the SQL and DynamoDB adapters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from enhancer.domain.billing import (
    ENDED_SUBSCRIPTION_STATUSES,
    MAX_RETURN_TO_CHARS,
    PACK_SIZES,
    PriceTables,
    Recorded,
    SubscriptionState,
    Withdrawal,
    first_price,
    invoice_subscription,
    metadata,
    parse_table,
    period_end,
    plan_after,
    refund_withdrawal,
    same_site_path,
    supersedes,
    text,
    user_of,
)
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed
from enhancer.domain.plans import ACTIVE_SUBSCRIPTION_STATUSES, Plan
from enhancer.domain.quota import pack_expiry
from enhancer.services.billing import (
    HANDLED_EVENT_TYPES,
    BillingDeps,
    CheckoutDeps,
    apply_event,
    credits_checkout,
    plan_checkout,
    portal_url,
    with_query,
)
from enhancer.services.ports import CheckoutRequest, Payments


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


NOW = ts(2025, 4, 1, 12, 0, 0)
PERIOD_END = ts(2025, 5, 1, 12, 0, 0)
BASE = "https://app.example"

MONTHLY = json.dumps({"pro": "price_pro_m", "premium": "price_premium_m", "enterprise": "price_ent_m"})
ANNUAL = json.dumps({"pro": "price_pro_y"})
PACKS = json.dumps({"100": "price_pack_100", "500": "price_pack_500"})
PRICES = PriceTables.parse(MONTHLY, ANNUAL, PACKS)


# --- parse_table and PriceTables.parse ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [None, "", "   ", "\n\t", {}, "{}"])
def test_an_empty_or_missing_table_is_empty(raw: Any) -> None:
    assert parse_table(raw) == {}


def test_all_three_tables_empty_sell_nothing() -> None:
    tables = PriceTables.parse(None, "", None)

    assert (dict(tables.monthly), dict(tables.annual), dict(tables.packs)) == ({}, {}, {})
    assert tables.plan_for_price("price_pro_m") is None
    assert tables.pack_for_price("price_pack_100") is None
    assert tables.price_for_plan(Plan.PRO, "monthly") is None
    assert tables.price_for_pack(100) is None


@pytest.mark.parametrize("raw", [
    "[]", '["price_pro_m"]', '"price_pro_m"', "42", "null", "true",
    '{"pro": 5}', '{"pro": null}', '{"pro": ["price_pro_m"]}', '{"pro": {"id": "price_pro_m"}}',
    {"pro": 5}, {1: "price_pro_m"},
], ids=repr)
def test_a_table_that_is_not_a_json_object_of_strings_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match="JSON object of strings"):
        parse_table(raw)


@pytest.mark.parametrize("raw", ["{", "{'pro': 'price_pro_m'}", "pro=price_pro_m"])
def test_a_table_that_is_not_json_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_table(raw)


def test_keys_and_values_are_stripped_and_empty_values_dropped() -> None:
    assert parse_table('{" pro ": "  price_pro_m\\n", "premium": "", "enterprise": "   "}') == {"pro": "price_pro_m"}


def test_a_mapping_is_read_like_its_json() -> None:
    assert parse_table({"pro": " price_pro_m "}) == parse_table('{"pro": "price_pro_m"}') == {"pro": "price_pro_m"}


@pytest.mark.parametrize("table", ['{"free": "price_free"}', '{"gold": "price_gold"}', '{"Pro": "price_pro"}',
                                   '{"pro": "price_pro", "basic": "price_basic"}'])
@pytest.mark.parametrize("which", ["monthly", "annual"])
def test_a_plan_table_naming_a_plan_that_cannot_be_sold_is_refused(table: str, which: str) -> None:
    monthly, annual = (table, None) if which == "monthly" else (None, table)

    with pytest.raises(ValueError, match="cannot be sold"):
        PriceTables.parse(monthly, annual, None)


def test_an_unsellable_plan_with_an_empty_price_is_dropped_before_the_check() -> None:
    tables = PriceTables.parse('{"pro": "price_pro_m", "free": ""}', None, None)

    assert dict(tables.monthly) == {Plan.PRO: "price_pro_m"}


@pytest.mark.parametrize("key", ["50", "0", "1000", "100.0", "0100", "one hundred", "pro", "-100"])
def test_pack_keys_other_than_the_pack_sizes_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="pack sizes"):
        PriceTables.parse(None, None, json.dumps({"100": "price_pack_100", key: "price_other"}))


def test_every_pack_size_may_be_priced() -> None:
    tables = PriceTables.parse(None, None, json.dumps({str(size): f"price_{size}" for size in PACK_SIZES}))

    assert dict(tables.packs) == {100: "price_100", 500: "price_500", 1500: "price_1500"}
    assert PACK_SIZES == (100, 500, 1500)


@pytest.mark.parametrize(("monthly", "annual", "packs"), [
    ('{"pro": "price_x", "premium": "price_x"}', None, None),
    ('{"pro": "price_x"}', '{"pro": "price_x"}', None),
    ('{"pro": "price_x"}', '{"premium": "price_x"}', None),
    ('{"pro": "price_x"}', None, '{"100": "price_x"}'),
    (None, '{"enterprise": "price_x"}', '{"1500": "price_x"}'),
    (None, None, '{"100": "price_x", "500": "price_x"}'),
    ('{"pro": "price_x "}', '{"premium": " price_x"}', None),
], ids=["same-table", "monthly-and-annual-same-plan", "monthly-and-annual", "plan-and-pack", "annual-and-pack",
        "two-packs", "after-stripping"])
def test_one_price_named_twice_across_tables_is_refused(monthly: str | None, annual: str | None,
                                                         packs: str | None) -> None:
    with pytest.raises(ValueError, match="named twice"):
        PriceTables.parse(monthly, annual, packs)


def test_parsed_tables_are_keyed_by_plan_and_pack_size() -> None:
    assert dict(PRICES.monthly) == {Plan.PRO: "price_pro_m", Plan.PREMIUM: "price_premium_m",
                                    Plan.ENTERPRISE: "price_ent_m"}
    assert dict(PRICES.annual) == {Plan.PRO: "price_pro_y"}
    assert dict(PRICES.packs) == {100: "price_pack_100", 500: "price_pack_500"}


@pytest.mark.parametrize(("price", "plan"), [
    ("price_pro_m", Plan.PRO), ("price_premium_m", Plan.PREMIUM), ("price_ent_m", Plan.ENTERPRISE),
    ("price_pro_y", Plan.PRO),
    ("price_unknown", None), ("price_pack_100", None), ("", None), (None, None), ("price_pro", None),
    ("PRICE_PRO_M", None),
])
def test_plan_for_price_finds_either_interval_and_nothing_else(price: str | None, plan: Plan | None) -> None:
    assert PRICES.plan_for_price(price) is plan


@pytest.mark.parametrize(("plan", "interval", "price"), [
    (Plan.PRO, "monthly", "price_pro_m"), (Plan.PRO, "annual", "price_pro_y"),
    (Plan.PREMIUM, "monthly", "price_premium_m"), (Plan.PREMIUM, "annual", None),
    (Plan.FREE, "monthly", None), (Plan.FREE, "annual", None),
])
def test_price_for_plan_by_interval(plan: Plan, interval: Any, price: str | None) -> None:
    assert PRICES.price_for_plan(plan, interval) == price


@pytest.mark.parametrize(("price", "size"), [
    ("price_pack_100", 100), ("price_pack_500", 500),
    ("price_pro_m", None), ("price_unknown", None), ("", None), (None, None),
])
def test_pack_for_price(price: str | None, size: int | None) -> None:
    assert PRICES.pack_for_price(price) == size


@pytest.mark.parametrize(("size", "price"), [(100, "price_pack_100"), (500, "price_pack_500"), (1500, None),
                                             (250, None), (0, None)])
def test_price_for_pack(size: int, price: str | None) -> None:
    assert PRICES.price_for_pack(size) == price


# --- plan_after and supersedes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
@pytest.mark.parametrize("plan", [Plan.PRO, Plan.PREMIUM, Plan.ENTERPRISE])
def test_a_paid_subscription_keeps_its_plan(status: str, plan: Plan) -> None:
    assert plan_after(status, plan) is plan


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete_expired"])
@pytest.mark.parametrize("plan", [Plan.PRO, Plan.PREMIUM, Plan.ENTERPRISE])
def test_an_ended_subscription_means_the_free_plan(status: str, plan: Plan) -> None:
    assert plan_after(status, plan) is Plan.FREE


@pytest.mark.parametrize("status", ["incomplete", "paused", "", "something_new"])
def test_a_state_in_between_leaves_the_plan_as_is(status: str) -> None:
    assert plan_after(status, Plan.PRO) is None


def test_active_and_ended_statuses_do_not_overlap() -> None:
    assert not ACTIVE_SUBSCRIPTION_STATUSES & ENDED_SUBSCRIPTION_STATUSES


@pytest.mark.parametrize("new_status", ["active", "canceled", "incomplete"])
@pytest.mark.parametrize("old_status", ["active", "canceled", None])
def test_a_newer_event_always_supersedes(new_status: str, old_status: str | None) -> None:
    assert supersedes(NOW + 1, new_status, NOW, old_status) is True


@pytest.mark.parametrize("new_status", ["active", "canceled", "incomplete"])
@pytest.mark.parametrize("old_status", ["active", "canceled", "past_due"])
def test_an_older_event_never_supersedes(new_status: str, old_status: str) -> None:
    assert supersedes(NOW - 1, new_status, NOW, old_status) is False


@pytest.mark.parametrize(("new_status", "old_status", "expected"), [
    ("active", "canceled", False), ("past_due", "unpaid", False), ("incomplete", "incomplete_expired", False),
    ("canceled", "canceled", True), ("unpaid", "canceled", True), ("canceled", "active", True),
    ("active", "past_due", True), ("past_due", "active", True), ("active", "active", True),
    ("active", None, True),
])
def test_in_the_same_second_an_ended_state_is_not_undone(new_status: str, old_status: str | None,
                                                        expected: bool) -> None:
    assert supersedes(NOW, new_status, NOW, old_status) is expected


@pytest.mark.parametrize("new_status", ["active", "canceled"])
def test_without_a_stored_row_any_event_is_stored(new_status: str) -> None:
    assert supersedes(NOW, new_status, None, None) is True
    assert supersedes(0, new_status, None, "canceled") is True


# --- reading Stripe objects -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("sub_1", "sub_1"), ("  sub_1\n", "sub_1"), ({"id": "sub_1", "object": "subscription"}, "sub_1"),
    ({"id": " cus_1 "}, "cus_1"),
    ("", None), ("   ", None), (None, None), (42, None), (True, None), (["sub_1"], None), ({}, None),
    ({"id": None}, None), ({"id": 7}, None), ({"id": ""}, None), ({"id": {"id": "sub_1"}}, None),
], ids=repr)
def test_text_reads_an_id_or_an_expanded_object(value: object, expected: str | None) -> None:
    assert text(value) == expected


@pytest.mark.parametrize(("obj", "expected"), [
    ({"metadata": {"userId": "u1"}}, {"userId": "u1"}), ({"metadata": {}}, {}), ({}, {}),
    ({"metadata": None}, {}), ({"metadata": "userId=u1"}, {}), ({"metadata": ["userId"]}, {}),
])
def test_metadata_is_a_mapping_or_empty(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    assert metadata(obj) == expected


@pytest.mark.parametrize(("obj", "user"), [
    ({"metadata": {"userId": "u1"}, "client_reference_id": "u2"}, "u1"),
    ({"metadata": {"userId": " u1 "}}, "u1"),
    ({"metadata": {"userId": ""}, "client_reference_id": "u2"}, "u2"),
    ({"metadata": {"userId": 5}, "client_reference_id": "u2"}, "u2"),
    ({"metadata": None, "client_reference_id": "u2"}, "u2"),
    ({"client_reference_id": "u2"}, "u2"),
    ({"metadata": {"user": "u1"}}, None), ({"client_reference_id": None}, None), ({}, None),
])
def test_user_of_prefers_our_metadata_then_the_client_reference(obj: dict[str, Any], user: str | None) -> None:
    assert user_of(obj) == user


@pytest.mark.parametrize(("subscription", "price"), [
    ({"items": {"data": [{"price": "price_pro_m"}]}}, "price_pro_m"),
    ({"items": {"data": [{"price": {"id": "price_pro_m", "object": "price"}}]}}, "price_pro_m"),
    ({"items": {"data": [{"price": "price_a"}, {"price": "price_b"}]}}, "price_a"),
    ({"items": {"data": []}}, None), ({"items": {"data": None}}, None), ({"items": {}}, None),
    ({"items": None}, None), ({"items": [{"price": "price_a"}]}, None), ({}, None),
    ({"items": {"data": ["price_a"]}}, None), ({"items": {"data": [{}]}}, None),
    ({"items": {"data": [{"price": {"unit_amount": 900}}]}}, None),
], ids=repr)
def test_first_price_reads_the_first_item(subscription: dict[str, Any], price: str | None) -> None:
    assert first_price(subscription) == price


@pytest.mark.parametrize(("subscription", "end"), [
    ({"current_period_end": PERIOD_END}, PERIOD_END),
    ({"current_period_end": PERIOD_END, "items": {"data": [{"current_period_end": 1}]}}, PERIOD_END),
    ({"items": {"data": [{"current_period_end": PERIOD_END}]}}, PERIOD_END),
    ({"current_period_end": None, "items": {"data": [{"current_period_end": PERIOD_END}]}}, PERIOD_END),
    ({"current_period_end": "1746100800", "items": {"data": [{"current_period_end": PERIOD_END}]}}, PERIOD_END),
    ({"current_period_end": "1746100800"}, None), ({"current_period_end": 1.5}, None),
    ({"current_period_end": False}, None), ({"items": {"data": [{"current_period_end": True}]}}, None),
    ({"items": {"data": [{"current_period_end": "soon"}]}}, None), ({"items": {"data": []}}, None),
    ({"items": {"data": ["x"]}}, None), ({"items": "x"}, None), ({}, None),
], ids=repr)
def test_period_end_reads_the_old_and_the_new_api_shape(subscription: dict[str, Any], end: int | None) -> None:
    assert period_end(subscription) == end


@pytest.mark.parametrize(("invoice", "subscription"), [
    ({"subscription": "sub_1"}, "sub_1"),
    ({"subscription": {"id": "sub_1", "object": "subscription"}}, "sub_1"),
    ({"subscription": None, "parent": {"subscription_details": {"subscription": "sub_2"}}}, "sub_2"),
    ({"parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_2"}}}, "sub_2"),
    ({"parent": {"subscription_details": {"subscription": {"id": "sub_2"}}}}, "sub_2"),
    ({"subscription": "sub_1", "parent": {"subscription_details": {"subscription": "sub_2"}}}, "sub_1"),
    ({"subscription": "", "parent": {"subscription_details": {"subscription": "sub_2"}}}, "sub_2"),
    ({"parent": None}, None), ({"parent": {"subscription_details": None}}, None),
    ({"parent": {"subscription_details": "sub_2"}}, None), ({"parent": "sub_2"}, None),
    ({"parent": {"quote_details": {"quote": "qt_1"}}}, None), ({}, None), ({"subscription": 3}, None),
], ids=repr)
def test_invoice_subscription_reads_the_old_and_the_new_api_shape(invoice: dict[str, Any],
                                                                  subscription: str | None) -> None:
    assert invoice_subscription(invoice) == subscription


# --- refund_withdrawal ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pack", "amount", "refunded", "tenths"), [
    (1000, 900, 900, 1000),
    (1000, 900, 450, 500),
    (1000, 900, 300, 334),
    (1000, 900, 1, 2),
    (1000, 900, 899, 999),
    (1000, 3, 1, 334),
    (5000, 2900, 1450, 2500),
    (15000, 7900, 7900, 15000),
    (1000, 900, 901, 1000),
    (1000, 900, 10**9, 1000),
    (1000, 900, 0, 0),
    (1000, 900, -100, 0),
    (1000, 0, 900, 0),
    (1000, -900, 900, 0),
    (0, 900, 900, 0),
])
def test_refund_withdrawal_is_the_refunded_share_rounded_up(pack: int, amount: int, refunded: int,
                                                           tenths: int) -> None:
    assert refund_withdrawal(pack, amount, refunded) == tenths


def test_refund_withdrawal_is_cumulative() -> None:
    first = refund_withdrawal(1000, 900, 300)

    assert refund_withdrawal(1000, 900, 300) == first == 334
    assert refund_withdrawal(1000, 900, 600) == 667
    assert refund_withdrawal(1000, 900, 900) == 1000


@pytest.mark.parametrize("refunded", range(1, 901, 7))
def test_refund_withdrawal_never_takes_less_than_the_share_nor_more_than_the_pack(refunded: int) -> None:
    tenths = refund_withdrawal(1000, 900, refunded)

    assert tenths * 900 >= 1000 * refunded
    assert (tenths - 1) * 900 < 1000 * refunded
    assert 0 < tenths <= 1000


# --- same_site_path and with_query ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/dashboard", "/dashboard?x=1", "/dashboard?x=1&y=2#top", "/a/b/c",
                                  "/?from=pricing", "/@evil.example", "/path:with:colons", "/%2F%2Fevil.example",
                                  "/" + "a" * (MAX_RETURN_TO_CHARS - 1), "/café"])
def test_a_path_on_this_site_is_kept(path: str) -> None:
    assert same_site_path(path) == path


@pytest.mark.parametrize("value", [
    "https://evil.example", "http://evil.example/dashboard", "//evil.example", "//evil.example/dashboard",
    "///evil.example", "/\\evil", "\\\\evil.example", "/dash\\board", "javascript:alert(1)",
    "JavaScript:alert(1)", "data:text/html,x", "mailto:a@example.com", "dashboard", "evil.example/dashboard",
    " /dashboard", "", "/dash\nboard", "/dash\rboard", "/dash\tboard", "/\x00", "/dash\x7fboard", "/\x1b[31m",
    "/" + "a" * MAX_RETURN_TO_CHARS,
    None, 42, b"/dashboard", ["/dashboard"], {"path": "/dashboard"},
], ids=repr)
def test_anything_else_is_refused(value: object) -> None:
    assert same_site_path(value) is None


def test_the_longest_accepted_path_is_max_return_to_chars() -> None:
    assert same_site_path("/" + "a" * (MAX_RETURN_TO_CHARS - 1)) is not None
    assert same_site_path("/" + "a" * MAX_RETURN_TO_CHARS) is None


@pytest.mark.parametrize(("path", "expected"), [
    ("/dashboard", "/dashboard?billing=success"),
    ("/dashboard?x=1", "/dashboard?x=1&billing=success"),
    ("/dashboard#plans", "/dashboard?billing=success"),
    ("/dashboard?x=1#plans", "/dashboard?x=1&billing=success"),
    ("/dashboard#plans?x=1", "/dashboard?billing=success"),
    ("/", "/?billing=success"),
])
def test_with_query_appends_a_pair_and_drops_the_fragment(path: str, expected: str) -> None:
    assert with_query(path, "billing=success") == expected


# --- in-memory ports --------------------------------------------------------------------------------------------

@dataclass
class FakeBillingAccounts:
    """`SqlBilling`'s promises in memory: users and their `users.plan`, customers keyed by user, subscriptions
    stored when `supersedes` says so, a checkout inserting nothing over a stored subscription."""

    users: dict[str, Plan] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionState] = field(default_factory=dict)
    prices: dict[str, str | None] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)

    def user_exists(self, user_id: str) -> bool:
        return user_id in self.users

    def user_for_customer(self, customer_id: str) -> str | None:
        return next((user for user, customer in self.customers.items() if customer == customer_id), None)

    def customer_of(self, user_id: str) -> str | None:
        return self.customers.get(user_id)

    def subscription(self, subscription_id: str) -> SubscriptionState | None:
        return self.subscriptions.get(subscription_id)

    def record_checkout(self, state: SubscriptionState) -> Recorded:
        self.writes.append(f"checkout:{state.id}")
        self.customers[state.user_id] = state.customer_id
        stored = self.subscriptions.setdefault(state.id, state)
        return Recorded(True, self._set_user_plan(state.user_id, plan_after(stored.status, stored.plan)))

    def record_subscription(self, state: SubscriptionState, price_id: str | None) -> Recorded:
        self.writes.append(f"subscription:{state.id}")
        stored = self.subscriptions.get(state.id)
        if stored is not None and not supersedes(state.event_at, state.status, stored.event_at, stored.status):
            return Recorded(False)
        self.customers[state.user_id] = state.customer_id
        self.subscriptions[state.id] = state
        self.prices[state.id] = price_id
        return Recorded(True, self._set_user_plan(state.user_id, plan_after(state.status, state.plan)))

    def record_payment_failed(self, subscription_id: str, event_at: int) -> Recorded:
        self.writes.append(f"payment_failed:{subscription_id}")
        stored = self.subscriptions.get(subscription_id)
        if stored is None or stored.status not in ("active", "trialing") or (stored.event_at or 0) > event_at:
            return Recorded(False)
        self.subscriptions[subscription_id] = replace(stored, status="past_due", event_at=event_at)
        return Recorded(True)

    def _set_user_plan(self, user_id: str, plan: Plan | None) -> Plan | None:
        if plan is not None and user_id in self.users:
            self.users[user_id] = plan
        return plan


@dataclass
class Pack:
    user_id: str
    tenths: int
    created_at: int
    expires_at: int


@dataclass
class Purchase:
    user_id: str
    pack_id: str
    tenths: int
    withdrawn: int = 0


@dataclass
class FakeCreditPurchases:
    """`DynamoCredits.add_pack` / `withdraw_refund` in memory: a pack id is added once ever, with its purchase
    keyed by the payment; a refund takes the cumulative share once, never more than is left of the pack."""

    packs: dict[str, Pack] = field(default_factory=dict)
    pack_ids: set[str] = field(default_factory=set)
    purchases: dict[str, Purchase] = field(default_factory=dict)
    added: list[tuple[str, str, int, int, int, str | None]] = field(default_factory=list)

    def add_credit_pack(self, user_id: str, pack_id: str, units_tenths: int, created_at: int, expires_at: int, *,
                        payment_ref: str | None = None) -> bool:
        if pack_id in self.pack_ids or (payment_ref is not None and payment_ref in self.purchases):
            return False
        self.pack_ids.add(pack_id)
        self.packs[pack_id] = Pack(user_id, units_tenths, created_at, expires_at)
        if payment_ref is not None:
            self.purchases[payment_ref] = Purchase(user_id, pack_id, units_tenths)
        self.added.append((user_id, pack_id, units_tenths, created_at, expires_at, payment_ref))
        return True

    def withdraw_refund(self, payment_ref: str, amount: int, amount_refunded: int) -> Withdrawal | None:
        purchase = self.purchases.get(payment_ref)
        if purchase is None:
            return None
        owed = refund_withdrawal(purchase.tenths, amount, amount_refunded)
        if owed <= purchase.withdrawn:
            return Withdrawal(purchase.user_id, purchase.pack_id, 0)
        pack = self.packs.get(purchase.pack_id)
        take = min(owed - purchase.withdrawn, pack.tenths if pack else 0)
        if pack is not None:
            pack.tenths -= take
            if pack.tenths <= 0:
                del self.packs[purchase.pack_id]
        purchase.withdrawn = owed
        return Withdrawal(purchase.user_id, purchase.pack_id, take)

    def balance(self, user_id: str) -> int:
        return sum(pack.tenths for pack in self.packs.values() if pack.user_id == user_id)


@dataclass
class RecordingPayments:
    checkouts: list[tuple[CheckoutRequest, str]] = field(default_factory=list)
    portals: list[tuple[str, str]] = field(default_factory=list)

    def checkout_url(self, request: CheckoutRequest, *, idempotency_key: str) -> str:
        self.checkouts.append((request, idempotency_key))
        return f"https://checkout.stripe.example/{len(self.checkouts)}"

    def portal_url(self, customer_id: str, return_url: str) -> str:
        self.portals.append((customer_id, return_url))
        return f"https://portal.stripe.example/{customer_id}"


def billing(users: dict[str, Plan] | None = None,
            customers: dict[str, str] | None = None) -> tuple[BillingDeps, FakeBillingAccounts, FakeCreditPurchases]:
    accounts = FakeBillingAccounts(users=dict({"u1": Plan.FREE} if users is None else users),
                                   customers=dict(customers or {}))
    purchases = FakeCreditPurchases()
    return BillingDeps(accounts=accounts, credits=purchases, prices=PRICES), accounts, purchases


def event(kind: str, obj: Any, created: Any = NOW) -> dict[str, Any]:
    return {"id": f"evt_{kind}", "type": kind, "created": created, "data": {"object": obj}}


def subscription_checkout(price: str = "price_pro_m", *, user: str = "u1", customer: str | None = "cus_1",
                          subscription: str | None = "sub_1", **extra: Any) -> dict[str, Any]:
    return {"id": "cs_sub", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
            "client_reference_id": user, "customer": customer, "subscription": subscription,
            "metadata": {"userId": user, "plan": "pro", "price": price}, **extra}


def pack_checkout(price: str = "price_pack_100", pack: Any = "100", *, user: str = "u1",
                  payment_status: str = "paid", session: str = "cs_pack", **extra: Any) -> dict[str, Any]:
    return {"id": session, "object": "checkout.session", "mode": "payment", "payment_status": payment_status,
            "client_reference_id": user, "customer": None, "payment_intent": "pi_1", "created": NOW - 30,
            "metadata": {"userId": user, "purpose": "credits", "pack": pack, "price": price}, **extra}


def subscription_object(status: str = "active", price: str = "price_pro_m", *, sub_id: str = "sub_1",
                        customer: str = "cus_1", user: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
            "cancel_at_period_end": False, "metadata": {"userId": user} if user else {},
            "items": {"data": [{"price": {"id": price}, "current_period_end": PERIOD_END}]}, **extra}


def charge(amount: Any = 900, refunded: Any = 900, payment_intent: Any = "pi_1") -> dict[str, Any]:
    return {"id": "ch_1", "object": "charge", "amount": amount, "amount_refunded": refunded,
            "payment_intent": payment_intent}


# --- apply_event: shape and unknown types -----------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    event("customer.created", {"id": "cus_1"}), event("invoice.paid", {"id": "in_1"}),
    event("payment_intent.succeeded", {"id": "pi_1"}), {"type": None, "data": {"object": {}}},
    {}, {"type": "checkout.session.completed"}, {"type": "checkout.session.completed", "data": None},
    {"type": "checkout.session.completed", "data": {"object": None}},
    {"type": "checkout.session.completed", "data": {"object": ["cs_1"]}},
    {"type": "checkout.session.completed", "data": "cs_1"},
], ids=repr)
def test_an_event_we_do_not_handle_is_ignored_and_changes_nothing(raw: dict[str, Any]) -> None:
    deps, accounts, purchases = billing()

    assert apply_event(raw, deps) == "ignored"
    assert accounts.writes == [] and purchases.added == []


def test_the_handled_event_types() -> None:
    assert set(HANDLED_EVENT_TYPES) == {
        "checkout.session.completed", "checkout.session.async_payment_succeeded", "customer.subscription.created",
        "customer.subscription.updated", "customer.subscription.deleted", "invoice.payment_failed",
        "charge.refunded"}


@pytest.mark.parametrize("created", [None, "1743508800", 1.5, True])
def test_an_event_without_an_integer_created_is_stamped_now(created: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("enhancer.services.billing.time.time", lambda: NOW + 0.75)
    deps, accounts, _ = billing()

    apply_event(event("customer.subscription.created", subscription_object(user="u1"), created=created), deps)

    assert accounts.subscriptions["sub_1"].event_at == NOW


# --- apply_event: subscription checkouts ------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "plan"), [("price_pro_m", Plan.PRO), ("price_pro_y", Plan.PRO),
                                             ("price_premium_m", Plan.PREMIUM), ("price_ent_m", Plan.ENTERPRISE)])
@pytest.mark.parametrize("kind", ["checkout.session.completed", "checkout.session.async_payment_succeeded"])
def test_a_subscription_checkout_for_our_price_sets_the_plan(price: str, plan: Plan, kind: str) -> None:
    deps, accounts, _ = billing()

    assert apply_event(event(kind, subscription_checkout(price)), deps) == f"plan:{plan.value}"
    assert accounts.users["u1"] is plan
    assert accounts.customers == {"u1": "cus_1"}
    assert accounts.subscriptions["sub_1"] == SubscriptionState(
        id="sub_1", user_id="u1", customer_id="cus_1", plan=plan, status="active", current_period_end=None,
        cancel_at_period_end=False, event_at=NOW)


def test_a_checkout_reads_expanded_customer_and_subscription_objects() -> None:
    deps, accounts, _ = billing()
    session = subscription_checkout(customer={"id": "cus_1", "object": "customer"},
                                    subscription={"id": "sub_1", "object": "subscription"})

    assert apply_event(event("checkout.session.completed", session), deps) == "plan:pro"
    assert accounts.customer_of("u1") == "cus_1"
    assert "sub_1" in accounts.subscriptions


def test_a_checkout_finds_the_user_by_client_reference_without_metadata_user() -> None:
    deps, accounts, _ = billing()
    session = subscription_checkout()
    session["metadata"] = {"price": "price_pro_m"}

    assert apply_event(event("checkout.session.completed", session), deps) == "plan:pro"
    assert accounts.users["u1"] is Plan.PRO


@pytest.mark.parametrize("price", ["price_unknown", "price_pack_100", "", None])
def test_a_subscription_checkout_for_an_unknown_price_leaves_the_plan(price: str | None) -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PREMIUM})

    assert apply_event(event("checkout.session.completed", subscription_checkout(price)), deps) == "unknown_price"
    assert accounts.users["u1"] is Plan.PREMIUM
    assert accounts.writes == [] and accounts.subscriptions == {} and accounts.customers == {}


def test_a_subscription_checkout_ignores_a_plan_named_in_metadata() -> None:
    deps, accounts, _ = billing()
    session = subscription_checkout("price_pro_m")
    session["metadata"]["plan"] = "enterprise"

    assert apply_event(event("checkout.session.completed", session), deps) == "plan:pro"
    assert accounts.users["u1"] is Plan.PRO


@pytest.mark.parametrize("missing", ["customer", "subscription", "user"])
def test_a_subscription_checkout_missing_an_id_is_incomplete(missing: str) -> None:
    deps, accounts, _ = billing()
    session = subscription_checkout(**{missing: None} if missing != "user" else {})
    if missing == "user":
        session["metadata"].pop("userId")
        session["client_reference_id"] = None

    assert apply_event(event("checkout.session.completed", session), deps) == "incomplete"
    assert accounts.writes == [] and accounts.users["u1"] is Plan.FREE


def test_a_subscription_checkout_for_an_unknown_user_is_refused() -> None:
    deps, accounts, _ = billing(users={})

    assert apply_event(event("checkout.session.completed", subscription_checkout(user="ghost")), deps) == \
        "unknown_user"
    assert accounts.writes == [] and accounts.customers == {}


@pytest.mark.parametrize("mode", ["setup", "payment", None])
def test_a_checkout_that_is_neither_a_subscription_nor_our_pack_is_ignored(mode: str | None) -> None:
    deps, accounts, purchases = billing()
    session = subscription_checkout(mode=mode)

    assert apply_event(event("checkout.session.completed", session), deps) == "ignored"
    assert accounts.writes == [] and purchases.added == []


def test_a_checkout_after_its_subscription_ended_does_not_revive_it() -> None:
    deps, accounts, _ = billing()
    apply_event(event("customer.subscription.created", subscription_object("active", user="u1"), NOW), deps)
    apply_event(event("customer.subscription.deleted", subscription_object("canceled", user="u1"), NOW + 5), deps)

    outcome = apply_event(event("checkout.session.completed", subscription_checkout(), NOW + 1), deps)

    assert outcome == "plan:free"
    assert accounts.users["u1"] is Plan.FREE
    assert accounts.subscriptions["sub_1"].status == "canceled"
    assert accounts.subscriptions["sub_1"].event_at == NOW + 5


def test_a_checkout_after_an_incomplete_subscription_leaves_the_plan() -> None:
    deps, accounts, _ = billing()
    apply_event(event("customer.subscription.created", subscription_object("incomplete", user="u1")), deps)

    assert apply_event(event("checkout.session.completed", subscription_checkout(), NOW + 1), deps) == "stored"
    assert accounts.users["u1"] is Plan.FREE
    assert accounts.subscriptions["sub_1"].status == "incomplete"


def test_an_unpaid_subscription_checkout_does_not_grant_the_paid_plan() -> None:
    deps, accounts, _ = billing()
    pending = subscription_checkout(payment_status="unpaid")

    apply_event(event("checkout.session.completed", pending, NOW + 1), deps)
    apply_event(event("customer.subscription.created", subscription_object("incomplete", user="u1"), NOW), deps)

    assert accounts.users["u1"] is Plan.FREE
    apply_event(event("customer.subscription.updated", subscription_object("active", user="u1"), NOW + 60), deps)
    assert accounts.users["u1"] is Plan.PRO  # paid at last


# --- apply_event: credit packs ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "size"), [("price_pack_100", 100), ("price_pack_500", 500)])
def test_a_paid_pack_checkout_adds_the_pack_our_table_names(price: str, size: int) -> None:
    deps, _, purchases = billing()

    assert apply_event(event("checkout.session.completed", pack_checkout(price, str(size))), deps) == f"pack:{size}"
    assert purchases.added == [("u1", "cs_pack", size * 10, NOW - 30, pack_expiry(NOW - 30), "pi_1")]
    assert purchases.balance("u1") == size * 10


def test_a_pack_is_added_once_per_checkout_session() -> None:
    deps, _, purchases = billing()
    session = pack_checkout()

    assert apply_event(event("checkout.session.completed", session), deps) == "pack:100"
    assert apply_event(event("checkout.session.completed", session), deps) == "pack:already_added"
    assert apply_event(event("checkout.session.async_payment_succeeded", session), deps) == "pack:already_added"
    assert purchases.balance("u1") == 1000 and len(purchases.added) == 1


def test_a_pack_session_without_created_is_stamped_with_the_event() -> None:
    deps, _, purchases = billing()
    session = pack_checkout(created=None)

    apply_event(event("checkout.session.completed", session, NOW + 100), deps)

    assert purchases.added[0][3:5] == (NOW + 100, pack_expiry(NOW + 100))


@pytest.mark.parametrize("payment_intent", [None, "", {"id": None}])
def test_a_pack_without_a_payment_intent_is_keyed_by_its_session(payment_intent: Any) -> None:
    deps, _, purchases = billing()

    apply_event(event("checkout.session.completed", pack_checkout(payment_intent=payment_intent)), deps)

    assert purchases.added[0][5] == "cs_pack"


def test_an_expanded_payment_intent_is_the_payment_ref() -> None:
    deps, _, purchases = billing()

    apply_event(event("checkout.session.completed", pack_checkout(payment_intent={"id": "pi_9"})), deps)

    assert purchases.added[0][5] == "pi_9"


@pytest.mark.parametrize(("price", "pack"), [
    ("price_pack_100", "1500"), ("price_pack_100", "500"), ("price_pack_500", "100"), ("price_pack_100", None),
    ("price_pack_100", ""), ("price_pack_100", " 100"), ("price_pack_100", "100.0"),
    ("price_unknown", "100"), ("price_pro_m", "100"), (None, "100"),
])
def test_a_pack_whose_metadata_disagrees_with_our_table_is_not_credited(price: str | None, pack: Any) -> None:
    deps, _, purchases = billing()

    assert apply_event(event("checkout.session.completed", pack_checkout(price, pack)), deps) == "unknown_price"
    assert purchases.added == [] and purchases.balance("u1") == 0


def test_a_pack_size_given_as_a_number_in_metadata_still_agrees() -> None:
    deps, _, purchases = billing()

    assert apply_event(event("checkout.session.completed", pack_checkout("price_pack_500", 500)), deps) == "pack:500"
    assert purchases.balance("u1") == 5000


@pytest.mark.parametrize("payment_status", ["unpaid", "no_payment_required", "", None])
def test_an_unpaid_pack_checkout_credits_nothing(payment_status: Any) -> None:
    deps, _, purchases = billing()

    assert apply_event(event("checkout.session.completed", pack_checkout(payment_status=payment_status)), deps) == \
        "unpaid"
    assert purchases.added == []


def test_a_delayed_payment_credits_the_pack_once_it_succeeds() -> None:
    deps, _, purchases = billing()
    apply_event(event("checkout.session.completed", pack_checkout(payment_status="unpaid")), deps)

    assert apply_event(event("checkout.session.async_payment_succeeded", pack_checkout()), deps) == "pack:100"
    assert purchases.balance("u1") == 1000


def test_a_pack_for_an_unknown_user_is_not_credited() -> None:
    deps, _, purchases = billing(users={})

    assert apply_event(event("checkout.session.completed", pack_checkout(user="ghost")), deps) == "unknown_user"
    assert purchases.added == []


@pytest.mark.parametrize("drop", ["session", "user"])
def test_a_pack_checkout_without_session_or_user_is_incomplete(drop: str) -> None:
    deps, _, purchases = billing()
    session = pack_checkout()
    if drop == "session":
        session["id"] = None
    else:
        session["metadata"].pop("userId")
        session["client_reference_id"] = None

    assert apply_event(event("checkout.session.completed", session), deps) == "incomplete"
    assert purchases.added == []


def test_a_payment_checkout_without_our_purpose_is_ignored() -> None:
    deps, _, purchases = billing()
    session = pack_checkout()
    session["metadata"]["purpose"] = "donation"

    assert apply_event(event("checkout.session.completed", session), deps) == "ignored"
    assert purchases.added == []


# --- apply_event: subscription events ---------------------------------------------------------------------------

def test_a_subscription_event_before_its_checkout_finds_the_user_by_metadata() -> None:
    deps, accounts, _ = billing()
    assert accounts.user_for_customer("cus_1") is None

    outcome = apply_event(event("customer.subscription.created", subscription_object("active", user="u1")), deps)

    assert outcome == "plan:pro"
    assert accounts.users["u1"] is Plan.PRO
    assert accounts.customers == {"u1": "cus_1"}
    assert accounts.subscriptions["sub_1"] == SubscriptionState(
        id="sub_1", user_id="u1", customer_id="cus_1", plan=Plan.PRO, status="active",
        current_period_end=PERIOD_END, cancel_at_period_end=False, event_at=NOW)
    assert accounts.prices["sub_1"] == "price_pro_m"


def test_the_checkout_after_the_subscription_event_inserts_nothing_over_it() -> None:
    deps, accounts, _ = billing()
    apply_event(event("customer.subscription.created", subscription_object("trialing", user="u1"), NOW + 5), deps)

    assert apply_event(event("checkout.session.completed", subscription_checkout(), NOW), deps) == "plan:pro"
    stored = accounts.subscriptions["sub_1"]
    assert (stored.status, stored.current_period_end, stored.event_at) == ("trialing", PERIOD_END, NOW + 5)


def test_a_subscription_event_without_metadata_finds_the_user_by_customer() -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PRO}, customers={"u1": "cus_1"})

    outcome = apply_event(event("customer.subscription.updated", subscription_object("active", "price_premium_m")),
                          deps)

    assert outcome == "plan:premium"
    assert accounts.users["u1"] is Plan.PREMIUM


def test_a_subscription_event_reads_the_old_api_shape() -> None:
    deps, accounts, _ = billing()
    sub = {"id": "sub_1", "customer": {"id": "cus_1"}, "status": "active", "current_period_end": PERIOD_END,
           "cancel_at_period_end": True, "metadata": {"userId": "u1"},
           "items": {"data": [{"price": "price_pro_y"}]}}

    assert apply_event(event("customer.subscription.updated", sub), deps) == "plan:pro"
    stored = accounts.subscriptions["sub_1"]
    assert (stored.current_period_end, stored.cancel_at_period_end) == (PERIOD_END, True)


@pytest.mark.parametrize("kind", ["customer.subscription.created", "customer.subscription.updated",
                                  "customer.subscription.deleted"])
def test_a_subscription_event_for_nobody_we_know_is_unknown_user(kind: str) -> None:
    deps, accounts, _ = billing()

    assert apply_event(event(kind, subscription_object(customer="cus_stranger")), deps) == "unknown_user"
    assert apply_event(event(kind, subscription_object(user="ghost")), deps) == "unknown_user"
    assert accounts.writes == [] and accounts.users == {"u1": Plan.FREE}


@pytest.mark.parametrize("field_name", ["id", "customer", "status"])
def test_a_subscription_event_missing_an_id_or_status_is_incomplete(field_name: str) -> None:
    deps, accounts, _ = billing()
    sub = subscription_object(user="u1")
    sub[field_name] = None

    assert apply_event(event("customer.subscription.updated", sub), deps) == "incomplete"
    assert accounts.writes == []


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_an_active_subscription_on_an_unknown_price_never_downgrades(status: str) -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PREMIUM}, customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.created", subscription_object("active", "price_premium_m")), deps)

    outcome = apply_event(event("customer.subscription.updated", subscription_object(status, "price_legacy"),
                                NOW + 10), deps)

    assert outcome == "unknown_price"
    assert accounts.users["u1"] is Plan.PREMIUM
    assert accounts.subscriptions["sub_1"].status == "active"


def test_an_unknown_price_on_a_subscription_we_never_stored_is_unknown_price() -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PRO})

    outcome = apply_event(event("customer.subscription.deleted", subscription_object("canceled", "price_legacy",
                                                                                   user="u1")), deps)

    assert outcome == "unknown_price"
    assert accounts.users["u1"] is Plan.PRO and accounts.subscriptions == {}


@pytest.mark.parametrize("status", sorted(ENDED_SUBSCRIPTION_STATUSES))
def test_an_ending_subscription_on_a_price_we_no_longer_sell_still_ends(status: str) -> None:
    deps, accounts, _ = billing(customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.created", subscription_object("active", "price_premium_m")), deps)

    outcome = apply_event(event("customer.subscription.deleted", subscription_object(status, "price_legacy"),
                                NOW + 10), deps)

    assert outcome == "plan:free"
    assert accounts.users["u1"] is Plan.FREE
    assert accounts.subscriptions["sub_1"].plan is Plan.PREMIUM
    assert accounts.prices["sub_1"] == "price_legacy"


@pytest.mark.parametrize("status", sorted(ENDED_SUBSCRIPTION_STATUSES))
def test_an_ended_subscription_means_free(status: str) -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PRO}, customers={"u1": "cus_1"})

    assert apply_event(event("customer.subscription.deleted", subscription_object(status)), deps) == "plan:free"
    assert accounts.users["u1"] is Plan.FREE


@pytest.mark.parametrize("status", ["incomplete", "paused"])
def test_a_subscription_in_between_is_stored_and_leaves_the_plan(status: str) -> None:
    deps, accounts, _ = billing(users={"u1": Plan.PREMIUM}, customers={"u1": "cus_1"})

    assert apply_event(event("customer.subscription.updated", subscription_object(status)), deps) == "stored"
    assert accounts.users["u1"] is Plan.PREMIUM
    assert accounts.subscriptions["sub_1"].status == status


def test_an_older_subscription_event_changes_nothing() -> None:
    deps, accounts, _ = billing(customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.deleted", subscription_object("canceled"), NOW + 10), deps)

    assert apply_event(event("customer.subscription.updated", subscription_object("active"), NOW), deps) == "older"
    assert accounts.users["u1"] is Plan.FREE
    assert accounts.subscriptions["sub_1"].status == "canceled"


def test_in_the_same_second_a_cancellation_is_not_undone() -> None:
    deps, accounts, _ = billing(customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.deleted", subscription_object("canceled"), NOW), deps)

    assert apply_event(event("customer.subscription.updated", subscription_object("active"), NOW), deps) == "older"
    assert accounts.users["u1"] is Plan.FREE


def test_events_in_any_order_end_in_the_newest_state() -> None:
    events = [event("customer.subscription.created", subscription_object("incomplete"), NOW),
              event("customer.subscription.updated", subscription_object("active"), NOW + 1),
              event("customer.subscription.updated", subscription_object("active", "price_premium_m"), NOW + 2)]
    outcomes = []
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]):
        deps, accounts, _ = billing(customers={"u1": "cus_1"})
        for index in order:
            apply_event(events[index], deps)
        outcomes.append((accounts.users["u1"], accounts.subscriptions["sub_1"].plan,
                         accounts.subscriptions["sub_1"].event_at))

    assert set(outcomes) == {(Plan.PREMIUM, Plan.PREMIUM, NOW + 2)}


# --- apply_event: failed payments -------------------------------------------------------------------------------

@pytest.mark.parametrize("invoice", [
    {"id": "in_1", "subscription": "sub_1"},
    {"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_1"}}},
], ids=["old-api", "new-api"])
def test_a_failed_payment_makes_a_paid_subscription_past_due(invoice: dict[str, Any]) -> None:
    deps, accounts, _ = billing(customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.created", subscription_object("active")), deps)

    assert apply_event(event("invoice.payment_failed", invoice, NOW + 5), deps) == "past_due"
    assert accounts.subscriptions["sub_1"].status == "past_due"
    assert accounts.users["u1"] is Plan.PRO


def test_a_failed_payment_older_than_the_row_or_for_an_unknown_subscription_is_unchanged() -> None:
    deps, accounts, _ = billing(customers={"u1": "cus_1"})
    apply_event(event("customer.subscription.created", subscription_object("active"), NOW + 10), deps)

    assert apply_event(event("invoice.payment_failed", {"subscription": "sub_1"}, NOW), deps) == "unchanged"
    assert apply_event(event("invoice.payment_failed", {"subscription": "sub_other"}, NOW + 20), deps) == "unchanged"
    assert accounts.subscriptions["sub_1"].status == "active"


def test_a_failed_payment_on_an_invoice_without_a_subscription_is_ignored() -> None:
    deps, accounts, _ = billing()

    assert apply_event(event("invoice.payment_failed", {"id": "in_1", "parent": None}), deps) == "ignored"
    assert accounts.writes == []


# --- apply_event: refunds ---------------------------------------------------------------------------------------

def test_a_full_refund_withdraws_the_whole_pack() -> None:
    deps, _, purchases = billing()
    apply_event(event("checkout.session.completed", pack_checkout()), deps)

    assert apply_event(event("charge.refunded", charge(900, 900)), deps) == "withdrew:1000"
    assert purchases.balance("u1") == 0


def test_a_partial_refund_withdraws_its_share_once_and_the_rest_later() -> None:
    deps, _, purchases = billing()
    apply_event(event("checkout.session.completed", pack_checkout()), deps)

    assert apply_event(event("charge.refunded", charge(900, 300)), deps) == "withdrew:334"
    assert apply_event(event("charge.refunded", charge(900, 300)), deps) == "withdrew:0"
    assert purchases.balance("u1") == 666
    assert apply_event(event("charge.refunded", charge(900, 900)), deps) == "withdrew:666"
    assert purchases.balance("u1") == 0


def test_a_refund_reads_an_expanded_payment_intent() -> None:
    deps, _, _ = billing()
    apply_event(event("checkout.session.completed", pack_checkout()), deps)

    assert apply_event(event("charge.refunded", charge(payment_intent={"id": "pi_1"})), deps) == "withdrew:1000"


def test_a_refund_of_a_payment_that_bought_no_pack() -> None:
    deps, _, _ = billing()

    assert apply_event(event("charge.refunded", charge(payment_intent="pi_other")), deps) == "not_a_pack"


def test_a_refund_delivered_before_its_pack_checkout_is_refused_until_the_pack_is_there() -> None:
    deps, _, purchases = billing()
    refund = event("charge.refunded", {**charge(900, 900), "metadata": {"purpose": "credits", "pack": "100"}},
                   NOW + 60)

    with pytest.raises(ServiceUnavailable):  # 503: Stripe delivers it again later
        apply_event(refund, deps)
    apply_event(event("checkout.session.completed", pack_checkout(), NOW), deps)
    assert purchases.balance("u1") == 1000

    assert apply_event(refund, deps) == "withdrew:1000"  # the redelivery
    assert purchases.balance("u1") == 0


@pytest.mark.parametrize(("amount", "refunded", "payment_intent"), [
    (None, 900, "pi_1"), (900, None, "pi_1"), ("900", 900, "pi_1"), (900, 9.5, "pi_1"), (900, 900, None),
    (900, 900, ""),
])
def test_a_refund_we_cannot_read_is_ignored(amount: Any, refunded: Any, payment_intent: Any) -> None:
    deps, _, purchases = billing()
    apply_event(event("checkout.session.completed", pack_checkout()), deps)

    assert apply_event(event("charge.refunded", charge(amount, refunded, payment_intent)), deps) == "ignored"
    assert purchases.balance("u1") == 1000


# --- plan_checkout, credits_checkout, portal_url ----------------------------------------------------------------

def checkout_deps() -> tuple[CheckoutDeps, RecordingPayments]:
    payments = RecordingPayments()
    return CheckoutDeps(payments=payments, prices=PRICES, base_url=BASE), payments


EVIL_RETURNS = ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)", "/dash\nboard", "",
                "/" + "a" * MAX_RETURN_TO_CHARS, None]


def test_a_plan_checkout_asks_payments_for_our_price_and_returns_its_url() -> None:
    deps, payments = checkout_deps()

    url = plan_checkout("u1", "u1@example.com", Plan.PRO, "monthly", "/dashboard", deps, request_id="req-1")

    assert url == "https://checkout.stripe.example/1"
    assert payments.checkouts == [(CheckoutRequest(
        mode="subscription", price_id="price_pro_m", user_id="u1", email="u1@example.com",
        success_url=f"{BASE}/dashboard?billing=success", cancel_url=f"{BASE}/dashboard?billing=canceled",
        metadata={"userId": "u1", "plan": "pro", "price": "price_pro_m"}), "checkout:u1:req-1")]


def test_an_annual_plan_checkout_uses_the_annual_price() -> None:
    deps, payments = checkout_deps()

    plan_checkout("u1", "u1@example.com", Plan.PRO, "annual", None, deps, request_id="req-1")

    request = payments.checkouts[0][0]
    assert request.price_id == "price_pro_y"
    assert request.metadata == {"userId": "u1", "plan": "pro", "price": "price_pro_y"}


@pytest.mark.parametrize("return_to", EVIL_RETURNS, ids=repr)
def test_a_plan_checkout_never_returns_off_site(return_to: str | None) -> None:
    deps, payments = checkout_deps()

    plan_checkout("u1", "u1@example.com", Plan.PRO, "monthly", return_to, deps, request_id="req-1")

    request = payments.checkouts[0][0]
    assert request.success_url == f"{BASE}/dashboard?billing=success"
    assert request.cancel_url == f"{BASE}/dashboard?billing=canceled"


@pytest.mark.parametrize(("return_to", "success", "cancel"), [
    ("/", "/?billing=success", "/?billing=canceled"),
    ("/account", "/account?billing=success", "/account?billing=canceled"),
    ("/?from=pricing", "/?from=pricing&billing=success", "/?from=pricing&billing=canceled"),
    ("/account?tab=plan#top", "/account?tab=plan&billing=success", "/account?tab=plan&billing=canceled"),
    ("/account#top", "/account?billing=success", "/account?billing=canceled"),
])
def test_a_plan_checkout_returns_to_a_same_site_path_with_the_outcome(return_to: str, success: str,
                                                                      cancel: str) -> None:
    deps, payments = checkout_deps()

    plan_checkout("u1", "u1@example.com", Plan.PREMIUM, "monthly", return_to, deps, request_id="r")

    request = payments.checkouts[0][0]
    assert (request.success_url, request.cancel_url) == (f"{BASE}{success}", f"{BASE}{cancel}")


@pytest.mark.parametrize(("plan", "interval"), [(Plan.FREE, "monthly"), (Plan.FREE, "annual"),
                                                (Plan.PREMIUM, "annual"), (Plan.ENTERPRISE, "annual")])
def test_a_plan_not_on_sale_is_a_validation_error(plan: Plan, interval: Any) -> None:
    deps, payments = checkout_deps()

    with pytest.raises(ValidationFailed) as raised:
        plan_checkout("u1", "u1@example.com", plan, interval, "/dashboard", deps, request_id="r")

    assert raised.value.details == {"field": "plan"}
    assert payments.checkouts == []


def test_a_credits_checkout_asks_payments_for_the_pack_price() -> None:
    deps, payments = checkout_deps()

    url = credits_checkout("u1", "u1@example.com", 500, "/?from=pricing", deps, enabled=True, request_id="req-2")

    assert url == "https://checkout.stripe.example/1"
    assert payments.checkouts == [(CheckoutRequest(
        mode="payment", price_id="price_pack_500", user_id="u1", email="u1@example.com",
        success_url=f"{BASE}/?from=pricing&credits=1", cancel_url=f"{BASE}/?from=pricing&credits=canceled",
        metadata={"userId": "u1", "purpose": "credits", "pack": "500", "price": "price_pack_500"}),
        "credits:u1:req-2")]


@pytest.mark.parametrize("return_to", EVIL_RETURNS, ids=repr)
def test_a_credits_checkout_never_returns_off_site(return_to: str | None) -> None:
    deps, payments = checkout_deps()

    credits_checkout("u1", "u1@example.com", 100, return_to, deps, enabled=True, request_id="r")

    request = payments.checkouts[0][0]
    assert (request.success_url, request.cancel_url) == (f"{BASE}/dashboard?credits=1",
                                                        f"{BASE}/dashboard?credits=canceled")


def test_a_credits_checkout_round_trips_through_the_webhook() -> None:
    checkout, payments = checkout_deps()
    credits_checkout("u1", "u1@example.com", 500, None, checkout, enabled=True, request_id="r")
    request = payments.checkouts[0][0]
    deps, _, purchases = billing()
    session = {"id": "cs_rt", "mode": request.mode, "payment_status": "paid", "client_reference_id": request.user_id,
               "payment_intent": "pi_rt", "created": NOW, "metadata": request.metadata}

    assert apply_event(event("checkout.session.completed", session), deps) == "pack:500"
    assert purchases.balance("u1") == 5000


def test_a_plan_checkout_round_trips_through_the_webhook() -> None:
    checkout, payments = checkout_deps()
    plan_checkout("u1", "u1@example.com", Plan.ENTERPRISE, "monthly", None, checkout, request_id="r")
    request = payments.checkouts[0][0]
    deps, accounts, _ = billing()
    session = {"id": "cs_rt", "mode": request.mode, "client_reference_id": request.user_id, "customer": "cus_1",
               "subscription": "sub_1", "payment_status": "paid", "metadata": request.metadata}

    assert apply_event(event("checkout.session.completed", session), deps) == "plan:enterprise"
    assert accounts.users["u1"] is Plan.ENTERPRISE


@pytest.mark.parametrize("pack", [100, 500, 1500, 7])
def test_credits_disabled_is_unavailable_whatever_the_pack(pack: int) -> None:
    deps, payments = checkout_deps()

    with pytest.raises(ServiceUnavailable):
        credits_checkout("u1", "u1@example.com", pack, "/dashboard", deps, enabled=False, request_id="r")
    assert payments.checkouts == []


@pytest.mark.parametrize("pack", [1500, 250, 0])
def test_a_pack_not_configured_is_unavailable(pack: int) -> None:
    deps, payments = checkout_deps()

    with pytest.raises(ServiceUnavailable, match=f"The {pack}-credit pack"):
        credits_checkout("u1", "u1@example.com", pack, "/dashboard", deps, enabled=True, request_id="r")
    assert payments.checkouts == []


def payments_factory(payments: RecordingPayments) -> tuple[Callable[[], Payments], list[int]]:
    made: list[int] = []

    def make() -> Payments:
        made.append(1)
        return payments

    return make, made


@pytest.mark.parametrize(("return_to", "expected"), [
    (None, "/dashboard?billing=no_customer"), ("https://evil.example", "/dashboard?billing=no_customer"),
    ("/account?tab=plan", "/account?tab=plan&billing=no_customer"), ("/account#top", "/account?billing=no_customer"),
])
def test_the_portal_of_a_user_without_a_customer_returns_without_asking_payments(return_to: str | None,
                                                                                 expected: str) -> None:
    accounts = FakeBillingAccounts(users={"u1": Plan.FREE})
    payments = RecordingPayments()
    make, made = payments_factory(payments)

    assert portal_url("u1", accounts, make, BASE, return_to) == f"{BASE}{expected}"
    assert made == [] and payments.portals == []


@pytest.mark.parametrize(("return_to", "back"), [
    (None, "/dashboard"), ("https://evil.example", "/dashboard"), ("//evil.example", "/dashboard"),
    ("/account?tab=plan", "/account?tab=plan"),
])
def test_the_portal_of_a_customer_returns_to_a_same_site_path(return_to: str | None, back: str) -> None:
    accounts = FakeBillingAccounts(users={"u1": Plan.PRO}, customers={"u1": "cus_1"})
    payments = RecordingPayments()
    make, made = payments_factory(payments)

    assert portal_url("u1", accounts, make, BASE, return_to) == "https://portal.stripe.example/cus_1"
    assert payments.portals == [("cus_1", f"{BASE}{back}")]
    assert made == [1]
