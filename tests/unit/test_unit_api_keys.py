"""Personal API keys without I/O: the key's format and what the store keeps, the Authorization header, scopes,
which routes take a key, and the use cases over the in-memory fake (docs/architecture.md §3, API keys)."""

from __future__ import annotations

import hashlib
import logging

import pytest

from enhancer.domain.api_keys import (
    KEY_CHARS,
    MAX_ACTIVE_KEYS,
    KeyGrant,
    Scope,
    bearer_token,
    display_prefix,
    is_valid_name,
    key_hash,
    looks_like_key,
    new_key,
    parse_scopes,
    stored_scopes,
)
from enhancer.domain.errors import AuthRequired, Conflict, NotFound
from enhancer.domain.identity import Identity, User
from enhancer.domain.plans import OwnerType, Plan
from enhancer.http.key_routes import KEY_ROUTES, key_scopes, refuses_key
from enhancer.http.route_table import API_ROUTES
from enhancer.services.api_keys import create_key, key_time, list_keys, revoke_key
from enhancer.services.identity import INVALID_KEY, resolve_key_identity
from enhancer.services.ports import AccountRecord
from tests.fakes import FakeApiKeys

NOW = 1_800_000_000.0
ALICE = AccountRecord(user_id="user-alice", email="alice@example.com", user_plan="pro")
BOB = AccountRecord(user_id="user-bob", email="bob@example.com", user_plan="free")


# --- the key ------------------------------------------------------------------------------------------------

def test_a_new_key_is_prefixed_43_urlsafe_characters_and_different_every_time():
    keys = {new_key() for _ in range(200)}

    assert len(keys) == 200
    for key in keys:
        assert key.startswith("enh_") and len(key) == KEY_CHARS == 47 and looks_like_key(key)


def test_the_store_gets_the_sha256_of_the_whole_key_and_its_first_12_characters():
    key = new_key()

    assert key_hash(key) == hashlib.sha256(key.encode()).hexdigest() and len(key_hash(key)) == 64
    assert display_prefix(key) == key[:12] and display_prefix(key).startswith("enh_")


@pytest.mark.parametrize("value", ["", "enh_", "enh_" + "a" * 42, "enh_" + "a" * 44, "xyz_" + "a" * 43,
                                   "enh_" + "a" * 42 + "=", "enh_" + "a" * 42 + "/", "enh_" + "é" * 43])
def test_what_is_not_shaped_like_a_key_is_not_one(value):
    assert not looks_like_key(value)


@pytest.mark.parametrize(("header", "token"), [
    (None, None), ("", None), ("Basic dXNlcjpwYXNz", None), ("Bearerx abc", None),
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER   abc  ", "abc"), ("Bearer", ""), ("Bearer ", ""),
])
def test_the_bearer_token_of_an_authorization_header(header, token):
    assert bearer_token(header) == token


def test_scopes_are_parsed_once_each_in_a_stable_order_and_an_unknown_one_is_named():
    assert parse_scopes(["jobs:read", "enhance", "jobs:read"]) == (Scope.ENHANCE, Scope.JOBS_READ)
    with pytest.raises(ValueError, match="'admin'"):
        parse_scopes(["enhance", "admin"])


def test_a_stored_scope_no_longer_known_is_dropped_never_granted():
    assert stored_scopes("enhance admin jobs:read") == (Scope.ENHANCE, Scope.JOBS_READ)
    assert stored_scopes("") == ()


@pytest.mark.parametrize(("name", "valid"), [
    ("CI", True), ("x" * 64, True), ("ci: nightly ✓", True), ("", False), ("   ", False), ("x" * 65, False),
    ("tab\there", False), ("new\nline", False), ("nul\x00", False), ("\ud800", False),
])
def test_a_name_is_1_to_64_printable_characters(name, valid):
    assert is_valid_name(name) is valid


def test_a_key_caller_counts_in_its_keys_window_and_its_users():
    user = User(id="user-alice", email="alice@example.com", plan=Plan.PRO)
    by_key = Identity(owner_type=OwnerType.USER, owner_key=user.id, user=user, guest_key=None,
                      key=KeyGrant(key_id="key-1", scopes=frozenset({Scope.ENHANCE})))
    by_session = Identity(owner_type=OwnerType.USER, owner_key=user.id, user=user, guest_key=None)

    assert by_key.rate_limit_subjects == ("k:key-1", "u:user-alice")
    assert by_session.rate_limit_subjects == ("u:user-alice",)


# --- which routes take a key ----------------------------------------------------------------------------------

def test_every_route_that_takes_a_key_is_one_the_api_serves():
    for method, template in KEY_ROUTES:
        assert method in API_ROUTES[template], (method, template)


@pytest.mark.parametrize(("method", "path", "scopes"), [
    ("POST", "/api/ai-image/generate", {Scope.ENHANCE}),
    ("POST", "/api/ai-image/uploads", {Scope.ENHANCE}),
    ("POST", "/api/ai-image/jobs", {Scope.ENHANCE}),
    ("POST", "/api/ai-image/jobs/abc/cancel", {Scope.ENHANCE}),
    ("DELETE", "/api/ai-image/jobs/abc", {Scope.ENHANCE}),
    ("GET", "/api/ai-image/jobs", {Scope.JOBS_READ}),
    ("GET", "/api/ai-image/jobs/abc", {Scope.JOBS_READ}),
    ("GET", "/api/ai-image/usage", {Scope.ENHANCE, Scope.JOBS_READ}),
    ("GET", "/api/ai-image/models", {Scope.ENHANCE, Scope.JOBS_READ}),
    ("GET", "/r2-ai/ai-enhancer/results/x.png", {Scope.ENHANCE, Scope.JOBS_READ}),
    ("HEAD", "/r2-ai/ai-enhancer/uploads/x.png", {Scope.ENHANCE, Scope.JOBS_READ}),
])
def test_the_scopes_each_key_route_admits(method, path, scopes):
    assert key_scopes(method, path) == scopes and not refuses_key(method, path)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/keys"), ("POST", "/api/keys"), ("DELETE", "/api/keys/abc"), ("POST", "/api/billing/session"),
    ("GET", "/api/billing/portal"), ("GET", "/api/auth/me"), ("POST", "/api/auth/logout"),
    ("DELETE", "/api/auth/account"), ("POST", "/api/billing/stripe-webhook"),
])
def test_a_key_is_refused_on_every_other_route(method, path):
    assert key_scopes(method, path) is None and refuses_key(method, path)


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/keys"), ("GET", "/api/ai-image/generate"),
                                              ("GET", "/nowhere")])
def test_an_unserved_method_or_path_is_left_to_the_fallback(method, path):
    assert not refuses_key(method, path)


# --- the use cases --------------------------------------------------------------------------------------------

def test_a_created_key_is_returned_once_and_the_store_holds_its_hash_only():
    keys = FakeApiKeys({ALICE.user_id: ALICE})

    record, secret = create_key(keys, ALICE.user_id, "CI", (Scope.ENHANCE,), NOW)

    assert looks_like_key(secret) and record.prefix == secret[:12]
    assert keys.hashes == {key_hash(secret): record.id}
    assert secret not in repr(keys.keys)
    assert list_keys(keys, ALICE.user_id) == [record] and list_keys(keys, BOB.user_id) == []


def test_past_ten_active_keys_is_a_conflict_until_one_is_revoked():
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    made = [create_key(keys, ALICE.user_id, f"k{n}", (Scope.ENHANCE,), NOW + n)[0] for n in range(MAX_ACTIVE_KEYS)]

    with pytest.raises(Conflict) as refused:
        create_key(keys, ALICE.user_id, "one more", (Scope.ENHANCE,), NOW + 20)
    assert refused.value.details == {"maxActiveKeys": 10}
    assert create_key(keys, BOB.user_id, "bob's", (Scope.ENHANCE,), NOW)  # another user has room of their own
    revoke_key(keys, ALICE.user_id, made[0].id, NOW + 30)
    assert create_key(keys, ALICE.user_id, "one more", (Scope.ENHANCE,), NOW + 40)


def test_revoking_is_idempotent_and_someone_elses_key_is_not_found():
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    record, _ = create_key(keys, ALICE.user_id, "CI", (Scope.ENHANCE,), NOW)

    first = revoke_key(keys, ALICE.user_id, record.id, NOW + 1)
    again = revoke_key(keys, ALICE.user_id, record.id, NOW + 2)

    assert first.revoked_at == again.revoked_at == key_time(NOW + 1)
    unknown = "8d2f4a6b-1c3e-4f5a-9b7d-2e4f6a8c0b1d"
    for user_id, key_id in ((BOB.user_id, record.id), (ALICE.user_id, unknown), (ALICE.user_id, "nul\x00"),
                            (ALICE.user_id, record.id.upper())):
        with pytest.raises(NotFound):
            revoke_key(keys, user_id, key_id, NOW)


def test_a_key_identifies_its_user_with_their_plan_and_its_scopes():
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    record, secret = create_key(keys, ALICE.user_id, "CI", (Scope.JOBS_READ,), NOW)

    identity = resolve_key_identity(secret, keys=keys, now=NOW)

    assert identity.owner_type == OwnerType.USER and identity.owner_key == ALICE.user_id
    assert identity.user is not None and identity.user.plan == Plan.PRO
    assert identity.guest_key is None and identity.issued_guest_cookie is None
    assert identity.key == KeyGrant(key_id=record.id, scopes=frozenset({Scope.JOBS_READ}))


@pytest.mark.parametrize("how", ["malformed", "unknown", "revoked"])
def test_a_malformed_unknown_or_revoked_key_is_refused_without_echoing_it(how):
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    record, secret = create_key(keys, ALICE.user_id, "CI", (Scope.ENHANCE,), NOW)
    presented = {"malformed": secret + "x", "unknown": new_key(), "revoked": secret}[how]
    if how == "revoked":
        revoke_key(keys, ALICE.user_id, record.id, NOW)

    with pytest.raises(AuthRequired) as refused:
        resolve_key_identity(presented, keys=keys, now=NOW)

    assert refused.value.message == INVALID_KEY and presented not in str(refused.value.details)


def test_last_used_is_written_at_most_once_a_minute_per_key():
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    record, secret = create_key(keys, ALICE.user_id, "CI", (Scope.ENHANCE,), NOW)

    for offset in (0, 1, 30, 59):
        resolve_key_identity(secret, keys=keys, now=NOW + offset)
    assert len(keys.touches) == 1 and keys.keys[record.id].last_used_at == key_time(NOW)

    resolve_key_identity(secret, keys=keys, now=NOW + 61)
    assert len(keys.touches) == 2 and keys.keys[record.id].last_used_at == key_time(NOW + 61)


def test_a_failure_to_record_the_use_is_logged_and_the_request_goes_on(caplog):
    keys = FakeApiKeys({ALICE.user_id: ALICE})
    _, secret = create_key(keys, ALICE.user_id, "CI", (Scope.ENHANCE,), NOW)
    keys.fail_touch = True

    with caplog.at_level(logging.WARNING):
        identity = resolve_key_identity(secret, keys=keys, now=NOW)

    assert identity.user is not None and identity.user.id == ALICE.user_id
    assert keys.touches and "api_key_last_used_not_recorded" in caplog.text and secret not in caplog.text


def test_the_api_grants_no_cors_so_no_other_origin_can_send_an_authorization_header():
    """Skipping origin + CSRF for a key request rests on this: a page on another origin can attach
    `Authorization` only after a CORS preflight, and neither the HTTP API nor any route grants one."""
    from local.template import load_template

    resources = load_template()["Resources"]
    apis = [r for r in resources.values() if r["Type"] in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api")]

    assert apis and all("CorsConfiguration" not in api.get("Properties", {}) for api in apis)
