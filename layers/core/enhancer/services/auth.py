"""Sign-in use cases (docs/architecture.md §3, Identity): start a managed login, finish it into our own session,
sign out. Cognito proves who the user is; the session cookie and the `sessions` table stay ours, so every other
route works as it does for the development sign-in."""

from __future__ import annotations

from enhancer.domain.auth import (
    SESSION_SECONDS,
    LoginAttempt,
    SignInRefused,
    code_challenge,
    identity_from_claims,
    matches_state,
    seal,
    unseal,
)
from enhancer.domain.billing import same_site_path
from enhancer.observability import logger
from enhancer.services.ports import Accounts, SignInProvider


def begin_login(return_to: str | None, provider: SignInProvider, secret: bytes, now: float) -> tuple[str, str]:
    """(the managed login's URL, the login cookie's value) for a browser about to sign in."""
    attempt = LoginAttempt.start(same_site_path(return_to) or "/", now)
    url = provider.authorize_url(state=attempt.state, nonce=attempt.nonce, challenge=code_challenge(attempt.verifier))
    return url, seal(attempt, secret)


def return_path(cookie: str | None, secret: bytes, now: float) -> str:
    """Where the browser goes back to after a sign-in, failed or not: its attempt's path, else the home page."""
    try:
        return unseal(cookie, secret, now).return_to
    except SignInRefused:
        return "/"


def complete_login(*, code: str | None, state: str | None, error: str | None, cookie: str | None,
                   provider: SignInProvider, accounts: Accounts, secret: bytes, now: float) -> str:
    """The new session's id for the user a callback proves; SignInRefused (and no session) otherwise. The
    attempt's state is checked before the code is spent, so a forged callback spends nothing."""
    attempt = unseal(cookie, secret, now)
    if not matches_state(attempt, state):
        raise SignInRefused("state_mismatch")
    if error or not code:
        raise SignInRefused("denied")
    who = identity_from_claims(provider.verify(provider.exchange(code, attempt.verifier)), attempt.nonce)
    account = accounts.sign_in(who.subject, who.email)
    logger.info("signed_in", extra={"user": account.user_id})
    return accounts.create_session(account.user_id, int(now) + SESSION_SECONDS)


def sign_out(session_ids: list[str], accounts: Accounts) -> bool:
    """Every session the browser presented ends now; whether there was one."""
    ended = False
    for session_id in {s for s in session_ids if s}:
        ended = accounts.delete_session(session_id) or ended
    return ended
