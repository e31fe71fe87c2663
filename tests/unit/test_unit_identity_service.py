"""resolve_identity with an in-memory Accounts port fake."""

from __future__ import annotations

import uuid

import pytest

from enhancer.domain.identity import guest_cookie_value, guest_id_from_cookie, guest_owner_key, is_valid_guest_id
from enhancer.domain.plans import OwnerType, Plan
from enhancer.services.identity import resolve_identity
from enhancer.services.ports import AccountRecord
from tests.fakes import FakeAccounts

SECRET = b"unit-test-owner-key-secret-0123456789abcdef"
NOW = 1_716_000_000.0
GUEST_ID = "0b8f1c3e-2f4a-4d5b-9c6e-7a8b9c0d1e2f"
GUEST_COOKIE = guest_cookie_value(SECRET, GUEST_ID)


ADA = AccountRecord(user_id="user-ada", email="ada@example.com", user_plan="free",
                    subscription_plan="premium", subscription_status="active")
BOB = AccountRecord(user_id="user-bob", email="bob@example.com", user_plan="pro")
ACCOUNTS = {"sess-ada": ADA, "sess-bob": BOB}


def resolve(session_ids: list[str], guest_cookie: str | None, accounts: FakeAccounts | None = None):  # type: ignore[no-untyped-def]
    return resolve_identity(session_ids=session_ids, guest_cookie=guest_cookie,
                            accounts=accounts or FakeAccounts(ACCOUNTS), secret=SECRET, now=NOW)


def test_valid_session_makes_a_user_with_the_effective_plan() -> None:
    identity = resolve(["sess-ada", ""], None)

    assert identity.owner_type is OwnerType.USER
    assert identity.owner_key == "user-ada"
    assert identity.user is not None
    assert identity.user.id == "user-ada"
    assert identity.user.email == "ada@example.com"
    assert identity.user.plan is Plan.PREMIUM  # the active subscription, not users.plan = free
    assert identity.plan is Plan.PREMIUM
    assert identity.guest_key is None
    assert identity.issued_guest_cookie is None


@pytest.mark.parametrize("status, expected", [
    ("active", Plan.ENTERPRISE), ("trialing", Plan.ENTERPRISE), ("past_due", Plan.ENTERPRISE),
    ("canceled", Plan.PRO), ("unpaid", Plan.PRO), ("incomplete", Plan.PRO), ("paused", Plan.PRO), (None, Plan.PRO),
])
def test_session_user_plan_follows_the_subscription_rule(status: str | None, expected: Plan) -> None:
    record = AccountRecord(user_id="u1", email="u1@example.com", user_plan="pro",
                           subscription_plan="enterprise", subscription_status=status)
    identity = resolve(["s1"], None, FakeAccounts({"s1": record}))

    assert identity.plan is expected


def test_session_user_with_unknown_plan_is_free() -> None:
    record = AccountRecord(user_id="u1", email="u1@example.com", user_plan="legacy-gold")
    assert resolve(["s1"], None, FakeAccounts({"s1": record})).plan is Plan.FREE


def test_the_session_port_is_asked_with_the_request_time() -> None:
    accounts = FakeAccounts(ACCOUNTS)
    resolve(["sess-bob"], None, accounts)

    assert accounts.calls == [("sess-bob", NOW)]


def test_first_session_in_the_list_is_preferred() -> None:
    # The list order is __Host-session, then session_id.
    assert resolve(["sess-ada", "sess-bob"], None).owner_key == "user-ada"
    assert resolve(["sess-bob", "sess-ada"], None).owner_key == "user-bob"


def test_preferred_session_is_not_looked_up_twice_once_found() -> None:
    accounts = FakeAccounts(ACCOUNTS)
    resolve(["sess-ada", "sess-bob"], None, accounts)

    assert [call[0] for call in accounts.calls] == ["sess-ada"]


def test_unknown_first_session_falls_through_to_the_second() -> None:
    accounts = FakeAccounts(ACCOUNTS)
    identity = resolve(["expired-or-forged", "sess-bob"], None, accounts)

    assert identity.owner_key == "user-bob"
    assert [call[0] for call in accounts.calls] == ["expired-or-forged", "sess-bob"]


def test_empty_session_values_are_not_looked_up() -> None:
    accounts = FakeAccounts(ACCOUNTS)
    identity = resolve(["", "sess-bob"], None, accounts)

    assert identity.owner_key == "user-bob"
    assert [call[0] for call in accounts.calls] == ["sess-bob"]


def test_user_with_a_valid_guest_cookie_keeps_the_guest_key() -> None:
    identity = resolve(["sess-bob"], GUEST_COOKIE)

    assert identity.owner_type is OwnerType.USER
    assert identity.guest_key == guest_owner_key(SECRET, GUEST_ID)
    assert identity.owns("guest", guest_owner_key(SECRET, GUEST_ID)) is True
    assert identity.issued_guest_cookie is None


@pytest.mark.parametrize("session_ids", [[], [""], ["unknown"], ["unknown", "also-unknown"]])
def test_no_valid_session_and_a_valid_guest_cookie_is_that_guest(session_ids: list[str]) -> None:
    identity = resolve(session_ids, GUEST_COOKIE)
    key = guest_owner_key(SECRET, GUEST_ID)

    assert identity.owner_type is OwnerType.GUEST
    assert identity.owner_key == key
    assert identity.guest_key == key
    assert identity.user is None
    assert identity.plan is None
    assert identity.issued_guest_cookie is None
    assert GUEST_ID not in identity.owner_key


@pytest.mark.parametrize("session_ids", [[], ["", ""], ["unknown"]])
def test_no_cookies_issue_a_new_guest_id(session_ids: list[str]) -> None:
    identity = resolve(session_ids, None)

    assert identity.owner_type is OwnerType.GUEST
    assert identity.user is None
    issued = guest_id_from_cookie(SECRET, identity.issued_guest_cookie)
    assert issued is not None
    assert is_valid_guest_id(issued)
    assert uuid.UUID(issued).version == 4
    assert identity.owner_key == guest_owner_key(SECRET, issued)
    assert identity.guest_key == identity.owner_key
    assert identity.rate_limit_subjects == ("anonymous", f"g:{identity.owner_key}")


def test_each_cookie_less_request_gets_a_different_guest_id() -> None:
    issued = {resolve([], None).issued_guest_cookie for _ in range(20)}
    assert len(issued) == 20


def test_an_issued_cookie_names_its_guest_on_the_next_request() -> None:
    first = resolve([], None)
    again = resolve([], first.issued_guest_cookie)

    assert again.issued_guest_cookie is None
    assert again.owner_key == first.owner_key


@pytest.mark.parametrize("cookie", [
    pytest.param(GUEST_ID, id="a-made-up-uuid4-without-signature"),
    pytest.param(str(uuid.uuid4()) + "." + "0" * 32, id="a-made-up-signature"),
    pytest.param(GUEST_COOKIE[:-1] + ("0" if GUEST_COOKIE[-1] != "0" else "1"), id="one-signature-char-altered"),
    pytest.param("5d1e7f0a-9b3c-4e2d-8f6a-1b2c3d4e5f60" + GUEST_COOKIE[36:], id="another-id-with-this-signature"),
    pytest.param(guest_cookie_value(b"another-secret-of-another-deployment!!", GUEST_ID), id="another-secret"),
    pytest.param(f"{GUEST_ID}.{guest_owner_key(SECRET, GUEST_ID)}", id="the-public-owner-key-as-signature"),
    pytest.param(GUEST_COOKIE + ".x", id="trailing-part"),
    pytest.param(GUEST_COOKIE.upper(), id="uppercase"),
])
def test_a_made_up_or_altered_guest_cookie_is_replaced_never_honoured(cookie: str) -> None:
    identity = resolve([], cookie)

    assert identity.issued_guest_cookie is not None
    assert identity.issued_guest_cookie != cookie
    assert identity.owner_key != guest_owner_key(SECRET, GUEST_ID)
    assert identity.owner_key != guest_owner_key(SECRET, cookie.partition(".")[0])


@pytest.mark.parametrize("cookie", [
    "junk", "", GUEST_ID.upper(), str(uuid.uuid1()), "{" + GUEST_ID + "}", "../x", "a:b", GUEST_ID + "0",
])
def test_malformed_guest_cookie_is_replaced_by_a_new_one(cookie: str) -> None:
    identity = resolve([], cookie)

    assert identity.owner_type is OwnerType.GUEST
    issued = guest_id_from_cookie(SECRET, identity.issued_guest_cookie)
    assert issued is not None and is_valid_guest_id(issued)
    assert identity.issued_guest_cookie != cookie
    assert identity.owner_key == guest_owner_key(SECRET, issued)
    assert identity.owner_key != guest_owner_key(SECRET, cookie)


def test_malformed_guest_cookie_is_not_kept_on_a_signed_in_user() -> None:
    identity = resolve(["sess-bob"], "../x")

    assert identity.owner_type is OwnerType.USER
    assert identity.guest_key is None
