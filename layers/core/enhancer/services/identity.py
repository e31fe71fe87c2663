"""Resolve the caller: a valid session makes a user, anything else a guest (docs/architecture.md §3, Identity)."""

from __future__ import annotations

from enhancer.domain.identity import (
    Identity,
    User,
    guest_cookie_value,
    guest_id_from_cookie,
    guest_owner_key,
    new_guest_id,
)
from enhancer.domain.plans import OwnerType, effective_plan
from enhancer.services.ports import Accounts


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
