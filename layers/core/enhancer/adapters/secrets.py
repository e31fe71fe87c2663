"""Secrets by name, from SSM Parameter Store or AWS Secrets Manager through Powertools Parameters (cached).

One function, `read_secret`, for every secret a function needs (the owner-key secret, the Replicate token,
Stripe's next). The setting that names a secret chooses its store:

    arn:<partition>:secretsmanager:…   Secrets Manager, by ARN
    secretsmanager:<name or ARN>       Secrets Manager, by name (the prefix is dropped)
    anything else, normally /<path>    SSM Parameter Store, a SecureString (decrypted)

A value read is cached per process for `max_age` seconds (Powertools' cache), so a rotated secret is picked
up within that time. A secret that cannot be read answers 503; its name is logged, never sent to a client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.config import Secret

SECRET_CACHE_SECONDS = 300
SECRETS_MANAGER_PREFIX = "secretsmanager:"
NOT_READABLE = "The service is not configured correctly, please retry later"

Store = Literal["ssm", "secretsmanager"]


def secret_location(name: str) -> tuple[Store, str]:
    """(store, identifier) for a secret's name, by the rule in the module docstring."""
    if name.startswith(SECRETS_MANAGER_PREFIX):
        return "secretsmanager", name.removeprefix(SECRETS_MANAGER_PREFIX)
    if name.startswith("arn:") and name.split(":")[2:3] == ["secretsmanager"]:
        return "secretsmanager", name
    return "ssm", name


def read_secret(name: str | None, inline: Secret | str | None = None, *, purpose: str,
                max_age: int = SECRET_CACHE_SECONDS) -> str | None:
    """The secret `name` points to (cached `max_age` seconds), else the inline value, else None.

    `purpose` names the secret in the log (`<purpose>_unavailable`) when it cannot be read; the request then
    fails with ServiceUnavailable (503), whose message names neither the secret nor its store.
    """
    if name:
        return _from_store(name, purpose=purpose, max_age=max_age)
    if inline is None:
        return None
    return inline if isinstance(inline, str) else inline.get_secret_value()


def _from_store(name: str, *, purpose: str, max_age: int) -> str:
    # Imported here: only functions deployed with a secret's name pay for Powertools Parameters (and boto3).
    from aws_lambda_powertools.utilities import parameters
    from botocore.exceptions import BotoCoreError

    store, identifier = secret_location(name)
    try:
        if not identifier:
            raise ValueError(f"{SECRETS_MANAGER_PREFIX} needs a secret name or ARN after it")
        if store == "secretsmanager":
            value = parameters.get_secret(identifier, max_age=max_age)
        else:
            value = parameters.get_parameter(identifier, decrypt=True, max_age=max_age)
        if isinstance(value, bytes):  # a Secrets Manager SecretBinary
            value = value.decode()
        if not isinstance(value, str):
            raise TypeError(f"not a string: {type(value).__name__}")
    except (parameters.exceptions.GetParameterError, BotoCoreError, ValueError, TypeError):
        logger.exception(f"{purpose}_unavailable", extra={"parameter": name, "store": store})
        raise ServiceUnavailable(NOT_READABLE) from None
    return value
