"""Sign-in through Cognito's managed login, pure (docs/architecture.md §3, Identity): the PKCE pair, the login
attempt kept in a signed cookie between /api/auth/login and /api/auth/callback, and the checks an ID token's
claims must pass once its signature, issuer, audience and expiry are verified.

A failed sign-in never answers an error page: the browser goes back to the site with `?auth=<reason>`, one of
REASONS, and no session is made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from enhancer.domain.errors import AppError
from enhancer.domain.values import value_class

LOGIN_COOKIE = "auth_login"
LOGIN_SECONDS = 600  # the managed login must be finished within this
SESSION_SECONDS = 30 * 24 * 3600

# Why a sign-in went back to the site without a session (`?auth=<reason>`).
REASONS = frozenset({
    "unavailable",  # sign-in is not configured here, or Cognito could not be reached
    "expired",  # no login attempt in this browser, or it is too old (start again)
    "state_mismatch",  # the callback is not the answer to this browser's login
    "denied",  # the user or Cognito ended the login (`error=` on the callback)
    "code_rejected",  # Cognito refused the code: used already, expired, or not for this client
    "token_invalid",  # the ID token failed verification
    "email_unverified",  # Cognito has not verified the email
    "email_in_use",  # the email belongs to another Cognito user here
})


class SignInRefused(AppError):
    """A sign-in that cannot finish; `reason` is one of REASONS."""

    type = "auth_error"

    def __init__(self, reason: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"Sign-in failed: {reason}")
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 §4.2): BASE64URL(SHA256(verifier)), unpadded."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


@value_class
class LoginAttempt:
    """What the callback must find again: the `state` sent to Cognito, the ID token's `nonce`, the PKCE
    verifier, where to go afterwards, and when the attempt expires."""

    state: str
    nonce: str
    verifier: str
    return_to: str
    expires_at: int

    @classmethod
    def start(cls, return_to: str, now: float) -> LoginAttempt:
        return cls(state=new_token(), nonce=new_token(), verifier=new_token() + new_token()[:11],
                   return_to=return_to, expires_at=int(now) + LOGIN_SECONDS)


def _mac(secret: bytes, data: bytes) -> str:
    return hmac.new(secret, b"auth-login\0" + data, hashlib.sha256).hexdigest()


def seal(attempt: LoginAttempt, secret: bytes) -> str:
    """The cookie value: the attempt, signed (its own purpose, so no other signed value of ours passes)."""
    data = json.dumps(asdict(attempt), sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(data)}.{_mac(secret, data)}"


def unseal(value: str | None, secret: bytes, now: float) -> LoginAttempt:
    """The attempt a cookie holds; SignInRefused("expired") when it is missing, altered or too old."""
    payload, _, signature = (value or "").partition(".")
    try:
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except ValueError:
        raise SignInRefused("expired") from None
    if not payload or not hmac.compare_digest(signature, _mac(secret, data)):
        raise SignInRefused("expired")
    try:
        attempt = LoginAttempt(**json.loads(data))
    except (TypeError, ValueError):
        raise SignInRefused("expired") from None
    if attempt.expires_at < now:
        raise SignInRefused("expired")
    return attempt


def matches_state(attempt: LoginAttempt, state: str | None) -> bool:
    return bool(state) and hmac.compare_digest(attempt.state.encode(), (state or "").encode())


@value_class
class SignedInIdentity:
    subject: str
    email: str


def identity_from_claims(claims: Mapping[str, Any], nonce: str) -> SignedInIdentity:
    """What a verified ID token says about the user, once it is known to be an ID token of this login (not an
    access token, not one minted for another attempt) for a verified email."""
    if claims.get("token_use") != "id":
        raise SignInRefused("token_invalid")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise SignInRefused("token_invalid")
    subject, email = claims.get("sub"), claims.get("email")
    if not isinstance(subject, str) or not subject or not isinstance(email, str) or "@" not in email:
        raise SignInRefused("token_invalid")
    if claims.get("email_verified") not in (True, "true"):  # a JSON boolean from Cognito; moto sends "true"
        raise SignInRefused("email_unverified")
    return SignedInIdentity(subject=subject, email=email.strip().lower())
