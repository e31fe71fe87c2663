"""What the billing routes share: this site's origin (where Stripe sends the browser back), the checkout
dependencies, and Stripe's idempotency key per request."""

from __future__ import annotations

from fastapi import Request

from enhancer import bootstrap
from enhancer.config import get_billing_settings, get_settings
from enhancer.http.urls import site_origin
from enhancer.services.billing import CheckoutDeps


def base_url(request: Request) -> str:
    return site_origin(request, get_settings().base_url)


def checkout_deps(request: Request) -> CheckoutDeps:
    origin = base_url(request)
    return CheckoutDeps(payments=bootstrap.payments(origin), prices=get_billing_settings().price_tables(),
                        base_url=origin)


def request_id(request: Request) -> str:
    """API Gateway's request id: a retried delivery of one request creates one checkout session."""
    context = request.scope.get("aws.event", {}).get("requestContext", {})
    return str(context.get("requestId") or id(request))
