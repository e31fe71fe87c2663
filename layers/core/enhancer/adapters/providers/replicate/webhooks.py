"""Replicate's webhooks, verified with the official SDK's helper (`replicate.webhooks.validate`).

The SDK checks no timestamp unless given a tolerance, so one is always passed: a webhook signed more than
`tolerance_seconds` before or after now is refused, like a bad signature. Nothing a caller sent is echoed in
the errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from enhancer.adapters.secrets import read_secret
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.config import EnhancementSettings

DEFAULT_TOLERANCE_SECONDS = 300


def webhook_secret(settings: EnhancementSettings) -> str | None:
    """The signing secret (`whsec_…`): from the store REPLICATE_WEBHOOK_SECRET_PARAMETER names (cached), else
    REPLICATE_WEBHOOK_SECRET, else None."""
    secret = read_secret(settings.replicate_webhook_secret_parameter, settings.replicate_webhook_secret,
                         purpose="replicate_webhook_secret")
    return (secret or "").strip() or None


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str, *,
                   tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> dict[str, Any]:
    """The prediction a genuine, fresh webhook carries; ValidationFailed (400) for anything else, and
    ServiceUnavailable (503) when the configured secret is not one Replicate issues."""
    from replicate.exceptions import ReplicateError
    from replicate.webhook import (
        InvalidSecretKeyError,
        InvalidTimestampError,
        MissingWebhookHeaderError,
        Webhooks,
        WebhookSigningSecret,
        WebhookValidationError,
    )

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The webhook body is not UTF-8 text") from None
    wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
    found = {name: headers.get(name) for name in wanted}
    try:
        Webhooks.validate(headers={k: v for k, v in found.items() if v is not None}, body=text,
                          secret=WebhookSigningSecret(key=secret), tolerance=tolerance_seconds)
    except InvalidSecretKeyError:
        logger.error("replicate_webhook_secret_invalid", extra={"reason": "not a whsec_<base64> secret"})
        raise ServiceUnavailable("Webhooks are not configured correctly on this deployment") from None
    except MissingWebhookHeaderError:
        raise ValidationFailed("The webhook is missing its signature headers") from None
    except InvalidTimestampError:
        raise ValidationFailed("The webhook is too old or from the future") from None
    except (WebhookValidationError, ReplicateError, ValueError):
        raise ValidationFailed("The webhook signature is not valid") from None
    try:
        prediction = json.loads(text)
    except ValueError:
        prediction = None
    if not isinstance(prediction, dict):
        raise ValidationFailed("The webhook body is not a prediction")
    return prediction
