"""POST /api/billing/stripe-webhook — Stripe's signed events change plans and credit packs, each event once.

Signed, so no origin or CSRF check (its function is built with `verify_origin=False`). A bad, stale or
future-dated signature → 400 and nothing changes; an event type we do not handle → 200 and nothing changes;
a redelivered event → 200 and nothing changes (Powertools idempotency on the event id). A failure answers
5xx, so Stripe delivers the event again; nothing of it was kept.
"""

import hashlib

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from enhancer import bootstrap
from enhancer.config import get_billing_settings
from enhancer.domain.errors import ValidationFailed
from enhancer.observability import logger

router = APIRouter()

MAX_BODY_BYTES = 512 * 1024
EVENT_MEMORY_SECONDS = 30 * 24 * 3600  # Stripe retries a failed delivery for up to three days


@router.post("/api/billing/stripe-webhook")
async def post_stripe_webhook(request: Request) -> Response:
    from enhancer.adapters.idempotency import run_once
    from enhancer.adapters.stripe_billing import verify_event, webhook_secret
    from enhancer.services.billing import apply_event

    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ValidationFailed("The webhook body is too large")
    event = verify_event(body, request.headers.get("stripe-signature"), webhook_secret(get_billing_settings()))
    deps = bootstrap.billing_deps()
    # Not the body's hash: a redelivery of one event may differ in fields such as `pending_webhooks`.
    fingerprint = hashlib.sha256(f"{event['id']}|{event['type']}|{event.get('created')}".encode()).hexdigest()
    result = run_once(f"stripe-event:{event['id']}", fingerprint,
                      lambda: {"outcome": apply_event(event, deps)},
                      expires_after_seconds=EVENT_MEMORY_SECONDS, lambda_context=request.scope.get("aws.context"))
    logger.info("stripe_event", extra={"event": event["id"], "type": event["type"][:60],
                                       "outcome": result.get("outcome")})
    # Stripe reads only the status; the body is what the old system answered.
    return JSONResponse({"received": True})
