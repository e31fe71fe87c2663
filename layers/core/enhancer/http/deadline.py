"""How long a request may still work before API Gateway gives up on it (30 s)."""

from __future__ import annotations

import time

from fastapi import Request

# Left for storing the result and answering after the model returns.
RESPONSE_MARGIN_SECONDS = 2.0


def request_deadline(request: Request, budget_seconds: float) -> float:
    """A `time.monotonic()` value: the budget, or less if the Lambda invocation ends sooner."""
    budget = budget_seconds
    context = request.scope.get("aws.context")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        budget = min(budget, remaining() / 1000 - RESPONSE_MARGIN_SECONDS)
    return time.monotonic() + max(0.0, budget)
