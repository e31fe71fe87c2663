"""Who is asking: a signed-in user or a guest, and the owner key their data is filed under."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from enhancer.domain.api_keys import KeyGrant
from enhancer.domain.plans import OwnerType, Plan
from enhancer.domain.values import value_class

OWNER_KEY_HEX_CHARS = 32  # 128 bits of the HMAC: unguessable, short enough for keys and paths


def guest_owner_key(secret: bytes, guest_id: str) -> str:
    """The guest cookie is a bearer secret: storage keys and counters only ever see its HMAC."""
    return hmac.new(secret, guest_id.encode(), hashlib.sha256).hexdigest()[:OWNER_KEY_HEX_CHARS]


def is_valid_guest_id(value: str | None) -> bool:
    """A guest id is a UUIDv4 in canonical form (the part of the guest cookie before its signature)."""
    if not value or len(value) != 36:
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value


def new_guest_id() -> str:
    return str(uuid.uuid4())


# The cookie signature is an HMAC of its own purpose, never the owner key: owner keys appear in image URLs, and
# a signature equal to one would let anyone who saw a guest's URL forge that guest's cookie.
_GUEST_COOKIE_PURPOSE = b"guest-cookie-v1:"


def _guest_cookie_signature(secret: bytes, guest_id: str) -> str:
    return hmac.new(secret, _GUEST_COOKIE_PURPOSE + guest_id.encode(), hashlib.sha256).hexdigest()[:OWNER_KEY_HEX_CHARS]


def guest_cookie_value(secret: bytes, guest_id: str) -> str:
    """What the guest cookie holds: the guest id and the server's signature of it, so only issued ids count."""
    return f"{guest_id}.{_guest_cookie_signature(secret, guest_id)}"


def guest_id_from_cookie(secret: bytes, cookie: str | None) -> str | None:
    """The guest id of a cookie this service issued with `secret`; None for a made-up, altered or foreign one."""
    guest_id, dot, signature = (cookie or "").partition(".")
    if not dot or not is_valid_guest_id(guest_id):
        return None
    expected = _guest_cookie_signature(secret, guest_id)
    return guest_id if hmac.compare_digest(signature.encode(), expected.encode()) else None


def mask_id(value: str | None) -> str:
    """Ids in logs: the last four characters and the length, enough to correlate, not to reuse."""
    if not value:
        return "-"
    return f"…{value[-4:]}({len(value)})"


@value_class
class User:
    id: str
    email: str
    plan: Plan  # the effective plan (subscription-aware), not just users.plan


@value_class
class Identity:
    """The caller of one request.

    `owner_key` is the user id for users and the HMAC of the guest cookie for guests.
    `issued_guest_cookie` is set when this request created the guest (its cookie was missing, made up or altered)
    and must send the new cookie back.
    `guest_key` is the owner key of a guest cookie the caller presented (a signed-in user may still hold one).
    `key` is the API key that identified the caller (`Authorization: Bearer`), and what it may do; None for a
    session or a guest.
    """

    owner_type: OwnerType
    owner_key: str
    user: User | None
    guest_key: str | None
    issued_guest_cookie: str | None = None
    key: KeyGrant | None = None

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
    def rate_limit_subjects(self) -> tuple[str, ...]:
        """The windows a request counts in: users by id, guests by their key. A guest created by this very
        request also counts in the anonymous window of its IP, which bounds clients that never keep a cookie.
        A key counts in its own window and its user's, so creating more keys does not buy more requests."""
        if self.user and self.key:
            return (f"k:{self.key.key_id}", f"u:{self.user.id}")
        if self.user:
            return (f"u:{self.user.id}",)
        if self.issued_guest_cookie is not None:
            return ("anonymous", f"g:{self.guest_key}")
        return (f"g:{self.guest_key}",)
