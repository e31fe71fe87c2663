"""Resolve the caller: an API key or a valid session makes a user, anything else a guest (docs/architecture.md §3,
Identity, API keys)."""

from __future__ import annotations

from enhancer.domain.api_keys import LAST_USED_RESOLUTION_SECONDS, KeyGrant, key_hash, looks_like_key, stored_scopes
from enhancer.domain.errors import AuthRequired
from enhancer.domain.identity import (
    Identity,
    User,
    guest_cookie_value,
    guest_id_from_cookie,
    guest_owner_key,
    new_guest_id,
)
from enhancer.domain.plans import OwnerType, effective_plan
from enhancer.observability import logger
from enhancer.services.api_keys import key_time
from enhancer.services.ports import Accounts, ApiKeys

# Never the key itself: a message may be logged or shown, and the key is the caller's secret.
INVALID_KEY = "The API key is not valid (unknown, revoked or malformed)"


def resolve_identity(*, session_ids: list[str], guest_cookie: str | None, accounts: Accounts,
                     secret: bytes, now: float) -> Identity:
    """`session_ids` in order of preference (`__Host-session`, then `session_id`). Only a guest cookie this
    service signed names a guest; a made-up or altered one is replaced by a new guest, never honoured."""
    guest_id = guest_id_from_cookie(secret, guest_cookie)
    guest_key = guest_owner_key(secret, guest_id) if guest_id else None
    for session_id in session_ids:
        if not session_id:
            continue
        account = accounts.session_account(session_id, now)
        if account is not None:
            plan = effective_plan(account.subscription_plan, account.subscription_status, account.user_plan)
            user = User(id=account.user_id, email=account.email, plan=plan)
            return Identity(owner_type=OwnerType.USER, owner_key=user.id, user=user, guest_key=guest_key)
    if guest_key is not None:
        return Identity(owner_type=OwnerType.GUEST, owner_key=guest_key, user=None, guest_key=guest_key)
    issued = new_guest_id()
    key = guest_owner_key(secret, issued)
    return Identity(owner_type=OwnerType.GUEST, owner_key=key, user=None, guest_key=key,
                    issued_guest_cookie=guest_cookie_value(secret, issued))


def resolve_key_identity(token: str, *, keys: ApiKeys, now: float) -> Identity:
    """The user a presented API key acts for, with its scopes; AuthRequired for a malformed, unknown or revoked
    key. Cookies play no part (the caller carries no ambient authority), so no guest is created either."""
    found = keys.authenticate(key_hash(token)) if looks_like_key(token) else None
    if found is None:
        raise AuthRequired(INVALID_KEY)
    _record_use(keys, found.key_id, found.last_used_at, now)
    account = found.account
    plan = effective_plan(account.subscription_plan, account.subscription_status, account.user_plan)
    user = User(id=account.user_id, email=account.email, plan=plan)
    return Identity(owner_type=OwnerType.USER, owner_key=user.id, user=user, guest_key=None,
                    key=KeyGrant(key_id=found.key_id, scopes=frozenset(stored_scopes(found.scopes))))


def _record_use(keys: ApiKeys, key_id: str, last_used_at: str | None, now: float) -> None:
    """`last_used_at`, written at most once a minute per key (the read that found the key tells whether it is due,
    and the UPDATE is conditional, so racing requests write it once); the request goes on whether or not the write
    lands."""
    stale_before = key_time(now - LAST_USED_RESOLUTION_SECONDS)
    if last_used_at is not None and last_used_at >= stale_before:
        return  # written within the last minute: no write at all
    try:
        keys.touch(key_id, key_time(now), stale_before=stale_before)
    except Exception:  # a lost timestamp is not worth a failed request
        logger.warning("api_key_last_used_not_recorded", extra={"key_id": key_id}, exc_info=True)
