"""Billing use cases (docs/architecture.md §8): what a verified Stripe event changes, and where checkout and
the customer portal send a signed-in user.

Every event is safe to apply again and in any order: packs are added once per checkout session, refunds
withdraw a cumulative share once, subscriptions are stored only when the event is newer than the row. The
webhook route adds Powertools idempotency on the event id on top, so a retried delivery does nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from enhancer.domain.billing import (
    Interval,
    PriceTables,
    SubscriptionState,
    first_price,
    invoice_subscription,
    metadata,
    period_end,
    same_site_path,
    text,
    user_of,
)
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed
from enhancer.domain.plans import ACTIVE_SUBSCRIPTION_STATUSES, Plan
from enhancer.domain.quota import pack_expiry
from enhancer.domain.usage import TENTHS_PER_CREDIT
from enhancer.domain.values import value_class
from enhancer.observability import logger, metrics
from enhancer.services.ports import BillingAccounts, CheckoutRequest, CreditPurchases, Payments

CREDITS_PURPOSE = "credits"
PAID_CHECKOUT_STATUSES = frozenset({"paid", "no_payment_required"})


@value_class
class BillingDeps:
    accounts: BillingAccounts
    credits: CreditPurchases
    prices: PriceTables


# --- the webhook ----------------------------------------------------------------------------------------------

def apply_event(event: Mapping[str, Any], deps: BillingDeps) -> str:
    """Apply one verified Stripe event; the outcome, for the log (`ignored` for a type we do not handle)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    handle = _HANDLERS.get(str(event.get("type")))
    if handle is None or not isinstance(obj, Mapping):
        return "ignored"
    created = event.get("created")
    event_at = created if isinstance(created, int) and not isinstance(created, bool) else int(time.time())
    return handle(obj, event_at, deps)


def _checkout_completed(session: Mapping[str, Any], event_at: int, deps: BillingDeps) -> str:
    if session.get("mode") == "payment" and metadata(session).get("purpose") == CREDITS_PURPOSE:
        return _credit_pack_paid(session, event_at, deps)
    if session.get("mode") != "subscription":
        return "ignored"
    user_id, customer_id, subscription_id = user_of(session), text(session.get("customer")), \
        text(session.get("subscription"))
    if not (user_id and customer_id and subscription_id):
        logger.warning("stripe_checkout_incomplete", extra={"session": text(session.get("id")),
                                                            "user": bool(user_id), "customer": bool(customer_id)})
        return "incomplete"
    plan = deps.prices.plan_for_price(text(metadata(session).get("price")))
    if plan is None:
        return _unknown_price(text(metadata(session).get("price")), session)
    if not deps.accounts.user_exists(user_id):
        return _unknown_user(user_id)
    # A payment still pending (a delayed method) buys nothing yet: the subscription is `incomplete` until its
    # own event says otherwise. A trial needs no payment.
    paid = session.get("payment_status") in PAID_CHECKOUT_STATUSES
    recorded = deps.accounts.record_checkout(SubscriptionState(
        id=subscription_id, user_id=user_id, customer_id=customer_id, plan=plan,
        status="active" if paid else "incomplete", current_period_end=None, cancel_at_period_end=False,
        event_at=event_at))
    return f"plan:{recorded.user_plan.value}" if recorded.user_plan else "stored"


def _credit_pack_paid(session: Mapping[str, Any], event_at: int, deps: BillingDeps) -> str:
    if session.get("payment_status") != "paid":  # a delayed payment method: its async_payment_succeeded will do
        return "unpaid"
    session_id, user_id = text(session.get("id")), user_of(session)
    price = text(metadata(session).get("price"))
    size = deps.prices.pack_for_price(price)
    if size is None or str(metadata(session).get("pack")) != str(size):
        return _unknown_price(price, session)
    if not session_id or not user_id:
        logger.warning("stripe_checkout_incomplete", extra={"session": session_id, "user": bool(user_id)})
        return "incomplete"
    if not deps.accounts.user_exists(user_id):
        return _unknown_user(user_id)
    created = session.get("created")
    bought_at = created if isinstance(created, int) and not isinstance(created, bool) else event_at
    added = deps.credits.add_credit_pack(user_id, session_id, size * TENTHS_PER_CREDIT, bought_at,
                                         pack_expiry(bought_at),
                                         payment_ref=text(session.get("payment_intent")) or session_id)
    if added:
        metrics.add_metric(name="credit_packs_added", unit="Count", value=1)
    return f"pack:{size}" if added else "pack:already_added"


def _subscription_changed(sub: Mapping[str, Any], event_at: int, deps: BillingDeps) -> str:
    subscription_id, customer_id = text(sub.get("id")), text(sub.get("customer"))
    status = str(sub.get("status") or "")
    if not subscription_id or not customer_id or not status:
        return "incomplete"
    user_id = user_of(sub) or deps.accounts.user_for_customer(customer_id)
    if user_id is None or not deps.accounts.user_exists(user_id):
        return _unknown_user(user_id or f"customer:{customer_id}")
    price = first_price(sub)
    plan = deps.prices.plan_for_price(price)
    if plan is None:
        stored = deps.accounts.subscription(subscription_id)
        if status in ACTIVE_SUBSCRIPTION_STATUSES or stored is None:  # never a silent downgrade
            return _unknown_price(price, sub)
        plan = stored.plan  # an ending subscription on a price we no longer sell still ends
    recorded = deps.accounts.record_subscription(SubscriptionState(
        id=subscription_id, user_id=user_id, customer_id=customer_id, plan=plan, status=status,
        current_period_end=period_end(sub), cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        event_at=event_at), price)
    if not recorded.applied:
        return "older"
    return f"plan:{recorded.user_plan.value}" if recorded.user_plan else "stored"


def _payment_failed(invoice: Mapping[str, Any], event_at: int, deps: BillingDeps) -> str:
    subscription_id = invoice_subscription(invoice)
    if subscription_id is None:
        return "ignored"
    return "past_due" if deps.accounts.record_payment_failed(subscription_id, event_at).applied else "unchanged"


def _charge_refunded(charge: Mapping[str, Any], event_at: int, deps: BillingDeps) -> str:
    payment_ref = text(charge.get("payment_intent"))
    amount, refunded = charge.get("amount"), charge.get("amount_refunded")
    if payment_ref is None or not isinstance(amount, int) or not isinstance(refunded, int):
        return "ignored"
    withdrawal = deps.credits.withdraw_refund(payment_ref, amount, refunded)
    if withdrawal is None and metadata(charge).get("purpose") == CREDITS_PURPOSE:
        # A pack's refund ahead of the pack's own checkout event (Stripe still retrying that one): refused for
        # now, so Stripe delivers it again once the pack is there. The charge carries the PaymentIntent's
        # metadata, which our credit checkout wrote.
        raise ServiceUnavailable("The credit pack this refund is for has not been recorded yet")
    if withdrawal is None:
        return "not_a_pack"
    logger.info("credit_pack_refunded", extra={"user": withdrawal.user_id, "pack": withdrawal.pack_id,
                                               "withdrawn_tenths": withdrawal.tenths})
    return f"withdrew:{withdrawal.tenths}"


def _unknown_price(price: str | None, obj: Mapping[str, Any]) -> str:
    logger.error("stripe_unknown_price", extra={"price": price, "object": text(obj.get("id"))})
    metrics.add_metric(name="stripe_unknown_price", unit="Count", value=1)
    return "unknown_price"


def _unknown_user(user_id: str) -> str:
    logger.error("stripe_unknown_user", extra={"user": user_id})
    metrics.add_metric(name="stripe_unknown_user", unit="Count", value=1)
    return "unknown_user"


_HANDLERS: dict[str, Callable[[Mapping[str, Any], int, BillingDeps], str]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.payment_failed": _payment_failed,
    "charge.refunded": _charge_refunded,
}
HANDLED_EVENT_TYPES = tuple(_HANDLERS)


# --- checkout and portal --------------------------------------------------------------------------------------

@value_class
class CheckoutDeps:
    payments: Payments
    prices: PriceTables
    base_url: str  # this site's origin, where Stripe sends the browser back


def plan_checkout(user_id: str, email: str, plan: Plan, interval: Interval, return_to: str | None,
                  deps: CheckoutDeps, *, request_id: str) -> str:
    """The URL of a subscription checkout for a paid plan."""
    price = deps.prices.price_for_plan(plan, interval)
    if price is None:
        raise ValidationFailed("This plan is not on sale", details={"field": "plan"})
    back = same_site_path(return_to) or "/dashboard"
    return deps.payments.checkout_url(CheckoutRequest(
        mode="subscription", price_id=price, user_id=user_id, email=email,
        success_url=f"{deps.base_url}{with_query(back, 'billing=success')}",
        cancel_url=f"{deps.base_url}{with_query(back, 'billing=canceled')}",
        metadata={"userId": user_id, "plan": plan.value, "price": price}),
        idempotency_key=f"checkout:{user_id}:{request_id}")


def credits_checkout(user_id: str, email: str, pack: int, return_to: str | None, deps: CheckoutDeps, *,
                     enabled: bool, request_id: str) -> str:
    """The URL of a one-off checkout for a credit pack."""
    if not enabled:
        raise ServiceUnavailable("Credit packs are not on sale on this deployment")
    price = deps.prices.price_for_pack(pack)
    if price is None:
        raise ServiceUnavailable(f"The {pack}-credit pack is not on sale on this deployment")
    back = same_site_path(return_to) or "/dashboard"
    return deps.payments.checkout_url(CheckoutRequest(
        mode="payment", price_id=price, user_id=user_id, email=email,
        success_url=f"{deps.base_url}{with_query(back, 'credits=1')}",
        cancel_url=f"{deps.base_url}{with_query(back, 'credits=canceled')}",
        metadata={"userId": user_id, "purpose": CREDITS_PURPOSE, "pack": str(pack), "price": price}),
        idempotency_key=f"credits:{user_id}:{request_id}")


def portal_url(user_id: str, accounts: BillingAccounts, payments: Callable[[], Payments], base_url: str,
               return_to: str | None) -> str:
    """The customer portal of a user who has paid before; for one Stripe does not know, back to the page with
    `billing=no_customer` (Stripe is not asked, so this holds where it is not configured too)."""
    back = same_site_path(return_to) or "/dashboard"
    customer = accounts.customer_of(user_id)
    if customer is None:
        return f"{base_url}{with_query(back, 'billing=no_customer')}"
    return payments().portal_url(customer, f"{base_url}{back}")


def with_query(path: str, pair: str) -> str:
    path = path.split("#", 1)[0]
    return f"{path}{'&' if '?' in path else '?'}{pair}"
