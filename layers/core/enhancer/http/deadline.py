"""How long a request may still work before API Gateway gives up on it (30 s)."""

from __future__ import annotations

import time

from fastapi import Request

# Left for storing the result and answering after the model returns.
RESPONSE_MARGIN_SECONDS = 2.0
# API Gateway's own integration timeout: a request it received longer ago than this is not live (a sample
# event replayed, say), so its timestamp says nothing about the time left.
GATEWAY_TIMEOUT_SECONDS = 30.0


def request_deadline(request: Request, budget_seconds: float) -> float:
    """A `time.monotonic()` value: the budget counted from when API Gateway received the request (so a cold
    start spends it too), or less if the Lambda invocation ends sooner."""
    budget = budget_seconds - _seconds_since_received(request.scope.get("aws.event"))
    context = request.scope.get("aws.context")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        budget = min(budget, remaining() / 1000 - RESPONSE_MARGIN_SECONDS)
    return time.monotonic() + max(0.0, budget)


def _seconds_since_received(event: object) -> float:
    context = event.get("requestContext") if isinstance(event, dict) else None
    received_ms = context.get("timeEpoch") if isinstance(context, dict) else None
    if not isinstance(received_ms, int | float) or isinstance(received_ms, bool):
        return 0.0
    waited = time.time() - received_ms / 1000
    return waited if 0.0 < waited < GATEWAY_TIMEOUT_SECONDS else 0.0
