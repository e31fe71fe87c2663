"""Personal API keys (docs/architecture.md §3, API keys): a signed-in user creates, lists and revokes them.
The key is returned once, by `create_key`; the store gets its hash and display prefix only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from enhancer.domain.api_keys import (
    MAX_ACTIVE_KEYS,
    ApiKey,
    Scope,
    display_prefix,
    is_key_id,
    key_hash,
    new_key,
)
from enhancer.domain.errors import Conflict, NotFound
from enhancer.observability import logger
from enhancer.services.ports import ApiKeys


def key_time(epoch_seconds: float) -> str:
    """Microseconds, so keys created in one second still list newest first; fixed width, so times compare as text."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def create_key(keys: ApiKeys, user_id: str, name: str, scopes: tuple[Scope, ...], now: float) -> tuple[ApiKey, str]:
    """The new key's record and the key itself (shown once). Conflict past MAX_ACTIVE_KEYS unrevoked keys."""
    secret = new_key()
    key = ApiKey(id=str(uuid.uuid4()), user_id=user_id, name=name, prefix=display_prefix(secret), scopes=scopes,
                 created_at=key_time(now), last_used_at=None, revoked_at=None)
    if not keys.insert(key, key_hash(secret), max_active=MAX_ACTIVE_KEYS):
        raise Conflict(f"You already have {MAX_ACTIVE_KEYS} active API keys; revoke one first",
                       details={"maxActiveKeys": MAX_ACTIVE_KEYS})
    logger.info("api_key_created", extra={"user": user_id, "key_id": key.id, "scopes": list(scopes)})
    return key, secret


def list_keys(keys: ApiKeys, user_id: str) -> list[ApiKey]:
    return keys.list_for(user_id)


def revoke_key(keys: ApiKeys, user_id: str, key_id: str, now: float) -> ApiKey:
    """Revoked from now on (idempotent); NotFound for a key that is not this user's (someone else's or none)."""
    key = keys.revoke(user_id, key_id, key_time(now)) if is_key_id(key_id) else None
    if key is None:
        raise NotFound("No such API key")
    logger.info("api_key_revoked", extra={"user": user_id, "key_id": key_id})
    return key
