"""The `Payments` port in development without a Stripe key: checkout goes to the local stack's development
checkout page (`local/dev_checkout.py`; never in template.yaml), which builds and signs the events Stripe would
send and delivers them to the real webhook route. The checkout travels in the page's URL, signed with the
owner-key secret so the page cannot be handed a session it did not get from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict

from enhancer.domain.errors import ValidationFailed
from enhancer.services.ports import CheckoutRequest

CHECKOUT_PATH = "/dev/checkout"
PORTAL_PATH = "/dev/portal"


def _sign(secret: bytes, data: bytes) -> str:
    return hmac.new(secret, b"dev-checkout\0" + data, hashlib.sha256).hexdigest()


def encode_checkout(request: CheckoutRequest, secret: bytes) -> str:
    data = json.dumps(asdict(request), sort_keys=True, separators=(",", ":")).encode()
    return f"{base64.urlsafe_b64encode(data).decode().rstrip('=')}.{_sign(secret, data)}"


def decode_checkout(token: str, secret: bytes) -> CheckoutRequest:
    """The checkout a token names; ValidationFailed for one this deployment did not sign."""
    payload, _, signature = token.partition(".")
    try:
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except ValueError:
        raise ValidationFailed("Not a checkout of this site") from None
    if not hmac.compare_digest(signature, _sign(secret, data)):
        raise ValidationFailed("Not a checkout of this site")
    try:
        return CheckoutRequest(**json.loads(data))
    except (TypeError, ValueError):  # signed here, so only an older shape of the request gets this far
        raise ValidationFailed("Not a checkout of this site") from None


class DevelopmentPayments:
    def __init__(self, base_url: str, secret: bytes) -> None:
        self._base_url = base_url
        self._secret = secret

    def checkout_url(self, request: CheckoutRequest, *, idempotency_key: str) -> str:
        return f"{self._base_url}{CHECKOUT_PATH}?session={encode_checkout(request, self._secret)}"

    def portal_url(self, customer_id: str, return_url: str) -> str:
        from urllib.parse import urlencode

        return f"{self._base_url}{PORTAL_PATH}?{urlencode({'customer': customer_id, 'back': return_url})}"

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """No Stripe holds a development subscription: our own rows are all there is to end."""
