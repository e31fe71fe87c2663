"""Stripe events as Stripe sends them, for development and tests: the objects our webhook reads, wrapped in an
`event`, signed with `stripe.WebhookSignature` (the SDK's own scheme) and posted to the webhook route.

Used by the development checkout page (local/dev_checkout.py), by the webhook tests, and from the command line:

    python -m local.stripe_events send EVENT.json [--url URL] [--secret whsec_…]   (make stripe-event EVENT=…)

signs any event file (or `-` for standard input) with STRIPE_WEBHOOK_SECRET (the local stack's default unless
set) and delivers it to the running local stack (its URL from .local/stack.json), printing the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEBHOOK_PATH = "/api/billing/stripe-webhook"
API_VERSION = "2025-03-31.basil"
# The local stack's webhook secret when none is configured (development only; see local/__main__.py).
DEVELOPMENT_WEBHOOK_SECRET = "whsec_local_development_only"  # noqa: S105 - a development default, not a secret
MONTH_SECONDS = 30 * 24 * 3600
YEAR_SECONDS = 365 * 24 * 3600


def new_id(prefix: str) -> str:
    return f"{prefix}_dev{secrets.token_hex(12)}"


def event(event_type: str, obj: dict[str, Any], *, created: int | None = None,
          event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or new_id("evt"), "object": "event", "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": event_type, "data": {"object": obj}}


# --- the objects ------------------------------------------------------------------------------------------------

def checkout_session(*, session_id: str, mode: str, user_id: str, email: str, metadata: dict[str, str],
                     customer: str, subscription: str | None = None, payment_intent: str | None = None,
                     amount_total: int = 0, created: int | None = None) -> dict[str, Any]:
    return {"id": session_id, "object": "checkout.session", "mode": mode, "status": "complete",
            "payment_status": "paid", "client_reference_id": user_id, "customer": customer,
            "customer_details": {"email": email}, "subscription": subscription, "payment_intent": payment_intent,
            "amount_total": amount_total, "currency": "usd", "metadata": metadata,
            "created": int(time.time()) if created is None else created}


def subscription(*, subscription_id: str, customer: str, user_id: str | None, price: str, status: str,
                 period_end: int, cancel_at_period_end: bool = False) -> dict[str, Any]:
    """As in API versions since 2025-03-31: the period on the item, not on the subscription."""
    return {"id": subscription_id, "object": "subscription", "customer": customer, "status": status,
            "cancel_at_period_end": cancel_at_period_end, "metadata": {"userId": user_id} if user_id else {},
            "items": {"object": "list", "data": [{
                "id": new_id("si"), "object": "subscription_item", "current_period_end": period_end,
                "price": {"id": price, "object": "price"}}]}}


def invoice_payment_failed(*, subscription_id: str, customer: str) -> dict[str, Any]:
    return {"id": new_id("in"), "object": "invoice", "customer": customer, "status": "open",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription_id}}}


def charge_refunded(*, payment_intent: str, amount: int, amount_refunded: int,
                    metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """`metadata` is the PaymentIntent's, which Stripe copies onto its charge (a credit pack's names the pack)."""
    return {"id": new_id("ch"), "object": "charge", "payment_intent": payment_intent, "amount": amount,
            "amount_refunded": amount_refunded, "refunded": amount_refunded >= amount, "currency": "usd",
            "metadata": metadata or {}}


# --- signing and delivering ---------------------------------------------------------------------------------------

def sign(body: str, secret: str, *, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `body`."""
    import stripe

    return str(stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp))


@dataclass(frozen=True)
class Delivery:
    status: int
    body: str


def deliver(base_url: str, stripe_event: dict[str, Any] | str, secret: str, *,
            timestamp: int | None = None) -> Delivery:
    """POST the event, signed, to the webhook route at `base_url`; what it answered."""
    body = stripe_event if isinstance(stripe_event, str) else json.dumps(stripe_event)
    request = urllib.request.Request(  # noqa: S310 - http(s) URLs of our own stack
        f"{base_url.rstrip('/')}{WEBHOOK_PATH}", data=body.encode(), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (local)",
                 "Stripe-Signature": sign(body, secret, timestamp=timestamp)})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Delivery(response.status, response.read().decode())
    except urllib.error.HTTPError as refused:
        return Delivery(refused.code, refused.read().decode())


def _stack_url() -> str:
    state = Path(os.environ.get("LOCAL_STATE_FILE", Path(__file__).resolve().parent.parent / ".local" / "stack.json"))
    try:
        return str(json.loads(state.read_text())["url"])
    except (OSError, ValueError, KeyError):
        raise SystemExit(f"no running local stack ({state}): start it with `make dev`, or pass --url") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stripe_events", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="sign an event file and deliver it to the webhook route")
    send.add_argument("file", help="an event's JSON (Stripe's `event` object); - for standard input")
    send.add_argument("--url", help="the stack's URL (default: the running local stack's)")
    send.add_argument("--secret", help="the signing secret (default: STRIPE_WEBHOOK_SECRET, else the local one)")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    json.loads(text)  # a file that is not JSON stops here, not at the webhook
    secret = args.secret or os.environ.get("STRIPE_WEBHOOK_SECRET") or DEVELOPMENT_WEBHOOK_SECRET
    answer = deliver(args.url or _stack_url(), text, secret)
    print(answer.status, answer.body)
    return 0 if answer.status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
