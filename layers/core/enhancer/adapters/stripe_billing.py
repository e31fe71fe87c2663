"""Stripe through its official SDK: webhook signatures, Checkout sessions and the customer portal (the `Payments`
port), and the two Stripe secrets. Nothing Stripe says reaches a client; it goes to the `stripe_error` log.

Imported only by the billing functions: `stripe` is a large package and no other function pays for it.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from enhancer.adapters.secrets import read_secret
from enhancer.domain.errors import ProviderFailed, ServiceUnavailable, ValidationFailed
from enhancer.observability import logger
from enhancer.services.ports import CheckoutRequest

if TYPE_CHECKING:
    from enhancer.config import BillingSettings

TOLERANCE_SECONDS = 300
NOT_CONFIGURED = "Billing is not configured on this deployment"
FAILED = "The payment service failed, please retry"


def stripe_secret(settings: BillingSettings) -> str | None:
    """The API key: from the store STRIPE_SECRET_PARAMETER names (cached), else STRIPE_SECRET, else None."""
    value = read_secret(settings.stripe_secret_parameter, settings.stripe_secret, purpose="stripe_secret")
    return (value or "").strip() or None


def webhook_secret(settings: BillingSettings) -> str:
    """The webhook signing secret (`whsec_…`); ServiceUnavailable (503, the log names it) when there is none."""
    value = read_secret(settings.stripe_webhook_secret_parameter, settings.stripe_webhook_secret,
                        purpose="stripe_webhook_secret")
    if not (value or "").strip():
        logger.error("stripe_not_configured", extra={
            "missing": "STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_PARAMETER"})
        raise ServiceUnavailable(NOT_CONFIGURED)
    return str(value).strip()


def verify_event(payload: bytes, signature: str | None, secret: str, *, now: float | None = None,
                 tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """The event a genuine, fresh `Stripe-Signature` covers, as plain JSON; ValidationFailed (400) otherwise.
    The SDK checks only that a timestamp is not too old, so one from the future is refused here."""
    import stripe

    if not signature:
        raise ValidationFailed("The Stripe-Signature header is missing")
    stamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
    if len(stamps) != 1 or not stamps[0].isdigit():
        raise ValidationFailed("The Stripe-Signature header is not valid")
    if int(stamps[0]) > (time.time() if now is None else now) + tolerance:
        raise ValidationFailed("The Stripe-Signature timestamp is in the future")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
        event = json.loads(text)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise ValidationFailed("The Stripe signature is not valid or too old") from None
    except ValueError:
        raise ValidationFailed("The webhook body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise ValidationFailed("The webhook body is not a Stripe event")
    return event


class StripePayments:
    """Checkout sessions and portal sessions through `stripe.StripeClient` (httpx, no retries of our own: a
    checkout is created under an idempotency key and the browser may simply ask again)."""

    def __init__(self, api_key: str, *, api_base: str | None = None, http_client: Any = None) -> None:
        import stripe

        options: dict[str, Any] = {"base_addresses": {"api": api_base}} if api_base else {}
        self._client = stripe.StripeClient(
            api_key, http_client=http_client or stripe.HTTPXClient(allow_sync_methods=True),
            max_network_retries=1, **options)

    def __repr__(self) -> str:  # never the key
        return "StripePayments()"

    def checkout_url(self, request: CheckoutRequest, *, idempotency_key: str) -> str:
        params: Any = {  # the SDK's TypedDict, built as a plain dict
            "mode": request.mode,
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "success_url": request.success_url, "cancel_url": request.cancel_url,
            "client_reference_id": request.user_id, "customer_email": request.email,
            "metadata": request.metadata,
        }
        if request.mode == "subscription":
            # The subscription's own events then name the user, even when they arrive before the checkout's.
            params["subscription_data"] = {"metadata": {"userId": request.user_id}}
            params["allow_promotion_codes"] = True
        else:
            params["payment_intent_data"] = {"metadata": request.metadata}
        session = self._call("checkout", lambda: self._client.v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key}))
        return _url(session, "checkout")

    def portal_url(self, customer_id: str, return_url: str) -> str:
        session = self._call("portal", lambda: self._client.v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}))
        return _url(session, "portal")

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """The subscription ends when its paid period does (the user keeps what they paid for); idempotent."""
        self._call("cancel", lambda: self._client.v1.subscriptions.update(
            subscription_id, params={"cancel_at_period_end": True},
            options={"idempotency_key": f"cancel-at-period-end:{subscription_id}"}))

    @staticmethod
    def _call(what: str, call: Any) -> Any:
        import stripe

        try:
            return call()
        except stripe.AuthenticationError as exc:
            _log(what, exc)
            raise ServiceUnavailable(NOT_CONFIGURED) from None
        except stripe.InvalidRequestError as exc:
            _log(what, exc)
            raise ValidationFailed("The payment service refused this request") from None
        except stripe.StripeError as exc:
            _log(what, exc)
            raise ProviderFailed(FAILED, details={"retryable": True}) from None


def _url(session: Any, what: str) -> str:
    url = getattr(session, "url", None)
    if not isinstance(url, str) or not url.startswith("https://"):
        logger.error("stripe_error", extra={"call": what, "reason": "no https url in the answer"})
        raise ProviderFailed(FAILED, details={"retryable": True})
    return url


def _log(what: str, exc: Exception) -> None:
    logger.error("stripe_error", extra={"call": what, "type": type(exc).__name__,
                                        "status": getattr(exc, "http_status", None),
                                        "code": getattr(exc, "code", None)})
