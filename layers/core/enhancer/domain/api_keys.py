"""Personal API keys (docs/architecture.md §3, API keys): their format, what the store keeps of them, their
scopes, and how a request presents one (`Authorization: Bearer <key>`)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from enum import StrEnum

from enhancer.domain.values import value_class

KEY_PREFIX = "enh_"  # recognisable in a config file or a secret scanner's rules
KEY_CHARS = len(KEY_PREFIX) + 43  # 32 random bytes as unpadded urlsafe base64
DISPLAY_PREFIX_CHARS = 12  # what a list shows so its owner can tell keys apart; 8 of them random, useless alone
MAX_ACTIVE_KEYS = 10
MAX_NAME_CHARS = 64
# last_used_at is written at most this often per key, so a busy key does not write on every request.
LAST_USED_RESOLUTION_SECONDS = 60
_KEY_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Scope(StrEnum):
    ENHANCE = "enhance"  # generate, uploads, job create / cancel / delete
    JOBS_READ = "jobs:read"  # job list and get


@value_class
class ApiKey:
    """A key as its owner sees it: never the secret, never its hash."""

    id: str
    user_id: str
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@value_class
class KeyGrant:
    """What a request presenting a valid key may do: the key it is (for rate limits) and its scopes."""

    key_id: str
    scopes: frozenset[Scope]


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What the store keeps: a key is 256 random bits, so a plain SHA-256 (no salt, no stretching) cannot be
    reversed and lets the store find it by an indexed equality."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_CHARS]


def looks_like_key(value: str) -> bool:
    """Shape only (prefix, length, alphabet): what is not shaped like a key is refused without a lookup."""
    return (len(value) == KEY_CHARS and value.startswith(KEY_PREFIX)
            and _KEY_ALPHABET.issuperset(value[len(KEY_PREFIX):]))


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header (the scheme is case-insensitive, RFC 9110 §11.1);
    None when there is no such header. Any other scheme counts as no key."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """Known scopes, each once, in a stable order; ValueError naming the first unknown one."""
    found = set()
    for name in values:
        try:
            found.add(Scope(name))
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
    return tuple(scope for scope in Scope if scope in found)


def stored_scopes(text: str) -> tuple[Scope, ...]:
    """Scopes as the store keeps them (space-separated); one it no longer knows is dropped, never granted."""
    return tuple(scope for scope in Scope if scope.value in text.split())


def is_key_id(value: str) -> bool:
    """A key's id is a UUID in canonical form; anything else names no key (and never reaches the store)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def is_valid_name(name: str) -> bool:
    return 1 <= len(name) <= MAX_NAME_CHARS and name.isprintable() and bool(name.strip())
