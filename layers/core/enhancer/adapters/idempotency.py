"""Run something once per key: Powertools idempotency in the table (`pk`, TTL `expiresAt`). A retried call with
the same key answers what the first one returned; the same key with a different fingerprint → Conflict (409);
one still running → Conflict with Retry-After. An attempt that raises leaves no record, so it can be retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from enhancer.domain.errors import Conflict


def run_once(key: str, fingerprint: str, run: Callable[[], dict[str, Any]], *, expires_after_seconds: int,
             lambda_context: Any = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from enhancer.adapters.aws import aws_client
    from enhancer.config import get_settings

    settings = get_settings()
    store = DynamoDBPersistenceLayer(table_name=settings.table_name, key_attr="pk", expiry_attr="expiresAt",
                                     boto3_client=aws_client("dynamodb", settings.aws_region))
    config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="fingerprint",
                               expires_after_seconds=expires_after_seconds)
    if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
        config.register_lambda_context(lambda_context)

    @idempotent_function(data_keyword_argument="attempt", persistence_store=store, config=config)  # type: ignore[untyped-decorator]
    def once(attempt: dict[str, Any]) -> dict[str, Any]:
        return run()

    try:
        result: dict[str, Any] = once(attempt={"key": key, "fingerprint": fingerprint})
    except IdempotencyValidationError:
        raise Conflict("This key was used with a different request") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict("A request with this key is still in progress", retry_after=1) from None
    return result
