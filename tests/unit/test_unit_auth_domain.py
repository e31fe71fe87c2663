"""The sign-in rules that need no network: PKCE, the sealed login attempt, the ID token's claims."""

from __future__ import annotations

import base64
import hashlib

import pytest

from enhancer.domain.auth import (
    LOGIN_SECONDS,
    LoginAttempt,
    SignInRefused,
    code_challenge,
    identity_from_claims,
    matches_state,
    seal,
    unseal,
)

SECRET = b"s" * 32
NOW = 1_800_000_000


def test_a_started_attempt_has_fresh_secrets_and_a_verifier_pkce_accepts():
    first, second = LoginAttempt.start("/", NOW), LoginAttempt.start("/", NOW)
    assert len({first.state, first.nonce, second.state, second.nonce}) == 4
    assert 43 <= len(first.verifier) <= 128 and first.expires_at == NOW + LOGIN_SECONDS
    digest = base64.urlsafe_b64encode(hashlib.sha256(first.verifier.encode()).digest()).decode().rstrip("=")
    assert code_challenge(first.verifier) == digest


def test_a_sealed_attempt_opens_with_the_same_secret_until_it_expires():
    attempt = LoginAttempt.start("/dashboard", NOW)
    sealed = seal(attempt, SECRET)

    assert unseal(sealed, SECRET, NOW + 10) == attempt
    assert attempt.verifier not in sealed.split(".")[1]
    for value, at in ((sealed, NOW + LOGIN_SECONDS + 1), (sealed, NOW), (None, NOW), ("", NOW), ("x.y", NOW)):
        secret = b"o" * 32 if (value, at) == (sealed, NOW) else SECRET
        with pytest.raises(SignInRefused) as refused:
            unseal(value, secret, at)
        assert refused.value.reason == "expired"


def test_an_altered_attempt_does_not_open():
    payload, _, mac = seal(LoginAttempt.start("/", NOW), SECRET).partition(".")
    forged = base64.urlsafe_b64encode(b'{"state":"a","nonce":"b","verifier":"c","return_to":"/","expires_at":1}')
    # The attempt is random, so is the MAC's last character; a 32-byte MAC's last base64 character carries 4 bits
    # (the low 2 are padding a decoder may ignore), so the replacement differs in those 4: A-D are 0000.., Q is 0100...
    other_last = "Q" if mac[-1] in "ABCD" else "A"
    for value in (f"{payload}A.{mac}", f"{forged.decode().rstrip('=')}.{mac}", f"{payload}.{mac[:-1]}{other_last}"):
        with pytest.raises(SignInRefused):
            unseal(value, SECRET, NOW)


def test_the_state_must_match_exactly():
    attempt = LoginAttempt.start("/", NOW)
    assert matches_state(attempt, attempt.state)
    assert not matches_state(attempt, attempt.state[:-1]) and not matches_state(attempt, None)
    assert not matches_state(attempt, "")


GOOD = {"token_use": "id", "nonce": "n-1", "sub": "sub-1", "email": "A@Example.com", "email_verified": True}


def test_a_good_id_token_names_its_subject_and_lower_cased_email():
    who = identity_from_claims(GOOD, "n-1")
    assert (who.subject, who.email) == ("sub-1", "a@example.com")
    assert identity_from_claims({**GOOD, "email_verified": "true"}, "n-1").subject == "sub-1"


@pytest.mark.parametrize(("change", "reason"), [
    ({"token_use": "access"}, "token_invalid"),
    ({"nonce": "n-2"}, "token_invalid"),
    ({"nonce": None}, "token_invalid"),
    ({"sub": ""}, "token_invalid"),
    ({"email": "not-an-email"}, "token_invalid"),
    ({"email_verified": False}, "email_unverified"),
    ({"email_verified": "false"}, "email_unverified"),
    ({"email_verified": None}, "email_unverified"),
])
def test_claims_that_do_not_hold_are_refused(change, reason):
    claims = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(SignInRefused) as refused:
        identity_from_claims(claims, "n-1")
    assert refused.value.reason == reason
