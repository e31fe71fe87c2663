"""/dev/checkout and /dev/portal — Stripe's hosted pages, for development without a Stripe key. Not in
template.yaml; served by the local stack only, and refused unless ENVIRONMENT=development.

The checkout page shows what `POST /api/billing/session` or `/api/billing/credits` asked for (the checkout
travels in the URL, signed with the owner-key secret: enhancer.adapters.dev_checkout). Its pay button has this
module build the events Stripe would send (local/stripe_events.py), sign them with STRIPE_WEBHOOK_SECRET and
deliver them to the real webhook route of this stack; then the browser goes to the checkout's success URL. The
portal page cancels the customer's subscription the same way (`customer.subscription.deleted`).

The pay and cancel forms are plain HTML posts (the page runs no script), so the double-submit header cannot be
sent: they are checked for this site's Origin instead, and the checkout itself cannot be forged (it is signed).
"""

from __future__ import annotations

import hashlib
import html
import os
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse, Response

from enhancer import bootstrap
from enhancer.adapters.dev_checkout import CHECKOUT_PATH, PORTAL_PATH, decode_checkout
from enhancer.config import get_billing_settings, get_settings
from enhancer.domain.errors import Forbidden, NotFound, ValidationFailed
from enhancer.entrypoints import http_handler
from enhancer.http.security import origin_problem
from enhancer.services.ports import CheckoutRequest
from local import stripe_events

router = APIRouter()


def _development_only() -> None:
    if not get_settings().is_development:
        raise NotFound("Not found")


def _same_origin(request: Request) -> str:
    """This site's origin, once the request is known to come from it."""
    problem = origin_problem(scheme=request.url.scheme, headers=Headers(scope=request.scope),
                             allowed_origins=get_settings().allowed_origins)
    if problem:
        raise Forbidden(problem)
    return f"{request.url.scheme}://{request.url.netloc}"


def _webhook_secret() -> str:
    return os.environ.get("STRIPE_WEBHOOK_SECRET") or stripe_events.DEVELOPMENT_WEBHOOK_SECRET


def _page(title: str, *body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><link rel=\"stylesheet\" href=\"/style.css\"></head>"
        f"<body><main><p class=\"lede\">Development only: no money moves, no Stripe is called.</p>"
        f"<h1>{html.escape(title)}</h1>{''.join(body)}</main></body></html>"))


def _customer_of(user_id: str) -> str:
    """The customer this user already has, else a stable development one."""
    known = bootstrap.billing_accounts().customer_of(user_id)
    return known or f"cus_dev{hashlib.sha256(user_id.encode()).hexdigest()[:20]}"


def _checkout(token: str) -> CheckoutRequest:
    return decode_checkout(token, bootstrap.owner_secret())


@router.get(CHECKOUT_PATH)
async def checkout_page(request: Request, session: str = "") -> Response:
    _development_only()
    checkout = _checkout(session)
    what = (f"{checkout.metadata.get('plan', '?')} plan" if checkout.mode == "subscription"
            else f"{checkout.metadata.get('pack', '?')} credits")
    return _page(
        "Checkout",
        f"<p>{html.escape(checkout.email)} buys the <strong>{html.escape(what)}</strong> "
        f"(price <code>{html.escape(checkout.price_id)}</code>).</p>",
        f"<form method=\"post\" action=\"{CHECKOUT_PATH}\">"
        f"<input type=\"hidden\" name=\"session\" value=\"{html.escape(session)}\">"
        "<button type=\"submit\">Pay</button></form>",
        f"<p><a href=\"{html.escape(checkout.cancel_url)}\">Cancel and go back</a></p>")


@router.post(CHECKOUT_PATH)
async def pay(request: Request) -> Response:
    _development_only()
    origin = _same_origin(request)
    checkout = _checkout(str((await request.form()).get("session") or ""))
    now = int(time.time())
    customer = _customer_of(checkout.user_id)
    session_id = stripe_events.new_id("cs")
    events = []
    if checkout.mode == "subscription":
        subscription_id = stripe_events.new_id("sub")
        annual = checkout.price_id in get_billing_settings().price_tables().annual.values()
        period = stripe_events.YEAR_SECONDS if annual else stripe_events.MONTH_SECONDS
        events.append(stripe_events.event("checkout.session.completed", stripe_events.checkout_session(
            session_id=session_id, mode="subscription", user_id=checkout.user_id, email=checkout.email,
            metadata=checkout.metadata, customer=customer, subscription=subscription_id, created=now), created=now))
        events.append(stripe_events.event("customer.subscription.created", stripe_events.subscription(
            subscription_id=subscription_id, customer=customer, user_id=checkout.user_id, price=checkout.price_id,
            status="active", period_end=now + period), created=now))
    else:
        events.append(stripe_events.event("checkout.session.completed", stripe_events.checkout_session(
            session_id=session_id, mode="payment", user_id=checkout.user_id, email=checkout.email,
            metadata=checkout.metadata, customer=customer, payment_intent=stripe_events.new_id("pi"),
            created=now), created=now))
    for stripe_event in events:
        answer = stripe_events.deliver(origin, stripe_event, _webhook_secret())
        if answer.status != 200:
            return _page("The webhook refused the payment",
                         f"<p>{html.escape(stripe_event['type'])} → {answer.status}</p>"
                         f"<pre>{html.escape(answer.body[:2000])}</pre>", status=502)
    return RedirectResponse(checkout.success_url, status_code=303)


def _return_to(origin: str, value: str) -> str:
    """Only back to this site."""
    target = urlsplit(value)
    return value if f"{target.scheme}://{target.netloc}" == origin else f"{origin}/"


@router.get(PORTAL_PATH)
async def portal_page(request: Request, customer: str = "", back: str = "") -> Response:
    _development_only()
    origin = f"{request.url.scheme}://{request.url.netloc}"
    subscription = bootstrap.billing_accounts().current_subscription(customer) if customer else None
    if subscription is None:
        body = "<p>No active subscription.</p>"
    else:
        body = (f"<p>{html.escape(subscription.plan.value)} plan, {html.escape(subscription.status)}.</p>"
                f"<form method=\"post\" action=\"{PORTAL_PATH}\">"
                f"<input type=\"hidden\" name=\"customer\" value=\"{html.escape(customer)}\">"
                f"<input type=\"hidden\" name=\"back\" value=\"{html.escape(back)}\">"
                "<button type=\"submit\">Cancel the subscription</button></form>")
    return _page("Billing portal", body,
                 f"<p><a href=\"{html.escape(_return_to(origin, back))}\">Back to the site</a></p>")


@router.post(PORTAL_PATH)
async def cancel_subscription(request: Request) -> Response:
    _development_only()
    origin = _same_origin(request)
    form = await request.form()
    customer, back = str(form.get("customer") or ""), str(form.get("back") or "")
    subscription = bootstrap.billing_accounts().current_subscription(customer)
    if subscription is None:
        raise ValidationFailed("This customer has no active subscription")
    prices = get_billing_settings().price_tables()
    price = prices.price_for_plan(subscription.plan, "monthly") or prices.price_for_plan(subscription.plan, "annual")
    now = int(time.time())
    answer = stripe_events.deliver(origin, stripe_events.event("customer.subscription.deleted",
        stripe_events.subscription(subscription_id=subscription.id, customer=customer, user_id=subscription.user_id,
                                   price=price or "price_unknown", status="canceled", period_end=now),
        created=now), _webhook_secret())
    if answer.status != 200:
        return _page("The webhook refused the cancel", f"<pre>{html.escape(answer.body[:2000])}</pre>", status=502)
    return RedirectResponse(_return_to(origin, back), status_code=303)


# The pages are HTML forms: the pipeline's double-submit check is replaced by the Origin check above.
handler = http_handler(router, verify_origin=False)
