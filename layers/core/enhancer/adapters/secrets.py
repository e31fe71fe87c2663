"""Secrets the functions need, from the environment or from SSM Parameter Store (cached)."""

from __future__ import annotations

from enhancer.config import DEVELOPMENT_OWNER_KEY_SECRET, Settings
from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger

SECRET_CACHE_SECONDS = 300


def owner_key_secret(settings: Settings) -> bytes:
    """The HMAC key for guest owner keys. A parameter name wins over an inline value."""
    if settings.owner_key_secret_parameter:
        # Imported here: only functions deployed with a parameter name pay for Powertools Parameters.
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_parameter(settings.owner_key_secret_parameter, decrypt=True,
                                             max_age=SECRET_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError:
            logger.exception("owner_key_secret_unavailable",
                             extra={"parameter": settings.owner_key_secret_parameter})
            raise ServiceUnavailable("The service is not configured correctly, please retry later") from None
        return str(value).encode()
    if settings.owner_key_secret:
        return settings.owner_key_secret.get_secret_value().encode()
    return DEVELOPMENT_OWNER_KEY_SECRET.encode()
