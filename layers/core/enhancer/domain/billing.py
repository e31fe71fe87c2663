"""Billing, pure (docs/architecture.md §8): our price tables, what a Stripe event means for a user, which of two
events about one subscription is the newer, and where a checkout may send the browser back to.

Stripe objects arrive as plain dicts (the webhook's JSON); the readers below take only the fields they need
and never trust a client: a plan or pack size is what *our* price table says a price is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from enhancer.domain.plans import ACTIVE_SUBSCRIPTION_STATUSES, Plan
from enhancer.domain.values import value_class

PACK_SIZES = (100, 500, 1500)
PAID_PLANS = (Plan.PRO, Plan.PREMIUM, Plan.ENTERPRISE)
Interval = Literal["monthly", "annual"]

# Subscription states that end the paid plan; any other state (incomplete, paused, …) leaves users.plan as is.
ENDED_SUBSCRIPTION_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired"})

MAX_RETURN_TO_CHARS = 512
_SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*:"  # compiled on first use (re caches it), not at import


# --- price tables ---------------------------------------------------------------------------------------------

def parse_table(raw: str | Mapping[str, Any] | None) -> dict[str, str]:
    """A JSON object key → Stripe price id (`{"pro": "price_…"}`); empty values dropped. ValueError when it is
    not such an object, so a broken table stops the function at its first use instead of billing wrongly."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    table = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise ValueError("a price table is a JSON object of strings")
    return {key.strip(): value.strip() for key, value in table.items() if value.strip()}


@value_class
class PriceTables:
    """plan → price per interval, and pack size → price (PRICING_TABLE, PRICING_TABLE_ANNUAL,
    CREDITS_PRICING_TABLE)."""

    monthly: Mapping[Plan, str]
    annual: Mapping[Plan, str]
    packs: Mapping[int, str]

    @classmethod
    def parse(cls, monthly: str | None, annual: str | None, packs: str | None) -> PriceTables:
        def plans(raw: str | None) -> dict[Plan, str]:
            table = parse_table(raw)
            unknown = sorted(set(table) - {p.value for p in PAID_PLANS})
            if unknown:
                raise ValueError(f"a plan price table names plans that cannot be sold: {unknown}")
            return {Plan(name): price for name, price in table.items()}

        pack_table = parse_table(packs)
        if not set(pack_table) <= {str(size) for size in PACK_SIZES}:
            raise ValueError(f"the credit price table's keys are pack sizes {list(PACK_SIZES)}")
        tables = cls(plans(monthly), plans(annual), {int(size): price for size, price in pack_table.items()})
        prices = [*tables.monthly.values(), *tables.annual.values(), *tables.packs.values()]
        if len(prices) != len(set(prices)):
            raise ValueError("one Stripe price is named twice in the price tables")
        return tables

    def price_for_plan(self, plan: Plan, interval: Interval) -> str | None:
        return (self.annual if interval == "annual" else self.monthly).get(plan)

    def plan_for_price(self, price_id: str | None) -> Plan | None:
        """The plan a subscription price buys, either interval; None for a price that is not ours."""
        for table in (self.monthly, self.annual):
            for plan, price in table.items():
                if price_id and price == price_id:
                    return plan
        return None

    def price_for_pack(self, size: int) -> str | None:
        return self.packs.get(size)

    def pack_for_price(self, price_id: str | None) -> int | None:
        return next((size for size, price in self.packs.items() if price_id and price == price_id), None)


# --- subscriptions ----------------------------------------------------------------------------------------------

def plan_after(status: str, plan: Plan) -> Plan | None:
    """`users.plan` once a subscription of `plan` is in `status`: the plan while paid (past_due included), free
    once it ended, None (unchanged) for a state in between."""
    if status in ACTIVE_SUBSCRIPTION_STATUSES:
        return plan
    if status in ENDED_SUBSCRIPTION_STATUSES:
        return Plan.FREE
    return None


@value_class
class SubscriptionState:
    """A subscription as one Stripe event describes it, stamped with that event's `created` (`event_at`)."""

    id: str
    user_id: str
    customer_id: str
    plan: Plan
    status: str
    current_period_end: int | None
    cancel_at_period_end: bool
    event_at: int


@value_class
class Recorded:
    """What storing one event did: whether it changed anything, and the `users.plan` it set (None: left as is)."""

    applied: bool
    user_plan: Plan | None = None


def supersedes(new_event_at: int, new_status: str, old_event_at: int | None, old_status: str | None) -> bool:
    """Whether an event about a subscription may overwrite what an earlier one stored: a newer one may, an older
    one never; of two in the same second (Stripe's `created` counts seconds), an ending state is not undone."""
    if old_event_at is None:
        return True
    if new_event_at != old_event_at:
        return new_event_at > old_event_at
    return not (old_status in ENDED_SUBSCRIPTION_STATUSES and new_status not in ENDED_SUBSCRIPTION_STATUSES)


# --- reading Stripe objects -----------------------------------------------------------------------------------

def text(value: object) -> str | None:
    """A Stripe id field: a string id, or the id of an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value.strip() if isinstance(value, str) and value.strip() else None


def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, Mapping) else {}


def user_of(obj: Mapping[str, Any]) -> str | None:
    """The user a checkout session or subscription belongs to: the `userId` our checkout wrote in its metadata,
    else the session's `client_reference_id`."""
    return text(metadata(obj).get("userId")) or text(obj.get("client_reference_id"))


def first_price(subscription: Mapping[str, Any]) -> str | None:
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], Mapping):
        return None
    return text(data[0].get("price"))


def period_end(subscription: Mapping[str, Any]) -> int | None:
    """`current_period_end`: on the subscription in older API versions, on its items since 2025-03-31."""
    value = subscription.get("current_period_end")
    if not isinstance(value, int):
        items = subscription.get("items")
        data = items.get("data") if isinstance(items, Mapping) else None
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], Mapping) else {}
        value = first.get("current_period_end")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """The subscription an invoice bills: `subscription` in older API versions, `parent.subscription_details`
    since 2025-03-31."""
    found = text(invoice.get("subscription"))
    if found:
        return found
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    return text(details.get("subscription")) if isinstance(details, Mapping) else None


def refund_withdrawal(pack_tenths: int, amount: int, amount_refunded: int) -> int:
    """Tenths a refund takes back from a pack of `pack_tenths` bought for `amount`: the refunded share, rounded
    up (a full refund takes the whole pack). Cumulative — Stripe's `amount_refunded` grows with each refund —
    so the same refund seen twice asks for the same total."""
    if amount <= 0 or amount_refunded <= 0:
        return 0
    refunded = min(amount_refunded, amount)
    return min(pack_tenths, -(-pack_tenths * refunded // amount))


@value_class
class Withdrawal:
    """What a refund took back: from whose pack, and how many tenths (0: nothing more to take)."""

    user_id: str
    pack_id: str
    tenths: int


# --- where a checkout returns to ------------------------------------------------------------------------------

def same_site_path(value: object) -> str | None:
    """A return path that stays on this site (`/dashboard?x=1`), or None: no scheme, no `//host`, no backslash,
    no control characters, at most MAX_RETURN_TO_CHARS."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_RETURN_TO_CHARS:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value or re.match(_SCHEME, value):
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    return value
