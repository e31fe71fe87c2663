"""Who is asking: a signed-in user or a guest, and the owner key their data is filed under."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from enhancer.domain.plans import OwnerType, Plan

OWNER_KEY_HEX_CHARS = 32  # 128 bits of the HMAC: unguessable, short enough for keys and paths


def guest_owner_key(secret: bytes, guest_id: str) -> str:
    """The guest cookie is a bearer secret: storage keys and counters only ever see its HMAC."""
    return hmac.new(secret, guest_id.encode(), hashlib.sha256).hexdigest()[:OWNER_KEY_HEX_CHARS]


def is_valid_guest_id(value: str | None) -> bool:
    """Only ids this service issued (UUIDv4, canonical form) are accepted as guest ids."""
    if not value or len(value) != 36:
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value


def new_guest_id() -> str:
    return str(uuid.uuid4())


def mask_id(value: str | None) -> str:
    """Ids in logs: the last four characters and the length, enough to correlate, not to reuse."""
    if not value:
        return "-"
    return f"…{value[-4:]}({len(value)})"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    plan: Plan  # the effective plan (subscription-aware), not just users.plan


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of one request.

    `owner_key` is the user id for users and the HMAC of the guest cookie for guests.
    `issued_guest_id` is set when this request created the guest cookie and must send it back.
    `guest_key` is the owner key of a guest cookie the caller presented (a signed-in user may still hold one).
    """

    owner_type: OwnerType
    owner_key: str
    user: User | None
    guest_key: str | None
    issued_guest_id: str | None = None

    @property
    def plan(self) -> Plan | None:
        return self.user.plan if self.user else None

    def owns(self, owner_type: str, owner_key: str) -> bool:
        if owner_type == OwnerType.USER:
            return self.user is not None and hmac.compare_digest(self.user.id.encode(), owner_key.encode())
        if owner_type == OwnerType.GUEST:
            return self.guest_key is not None and hmac.compare_digest(self.guest_key.encode(), owner_key.encode())
        return False

    @property
    def rate_limit_subject(self) -> str:
        """Users by id, guests by their key; a cookie-less guest shares the anonymous bucket of its IP."""
        if self.user:
            return f"u:{self.user.id}"
        if self.issued_guest_id is None and self.guest_key:
            return f"g:{self.guest_key}"
        return "anonymous"
