"""Owner identity: guest owner keys, guest id validation, masking and ownership."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

import pytest

from enhancer.domain.identity import (
    Identity,
    User,
    guest_cookie_value,
    guest_id_from_cookie,
    guest_owner_key,
    is_valid_guest_id,
    mask_id,
)
from enhancer.domain.plans import OwnerType, Plan

SECRET = b"unit-test-owner-key-secret-0123456789abcdef"
OTHER_SECRET = b"another-owner-key-secret-0123456789abcdef!"
GUEST_ID = "0b8f1c3e-2f4a-4d5b-9c6e-7a8b9c0d1e2f"
OTHER_GUEST_ID = "5d1e7f0a-9b3c-4e2d-8f6a-1b2c3d4e5f60"


# --- guest_owner_key ---------------------------------------------------------------------------

def test_guest_owner_key_is_deterministic() -> None:
    assert guest_owner_key(SECRET, GUEST_ID) == guest_owner_key(SECRET, GUEST_ID)


def test_guest_owner_key_is_the_truncated_hmac_sha256() -> None:
    expected = hmac.new(SECRET, GUEST_ID.encode(), hashlib.sha256).hexdigest()[:32]
    assert guest_owner_key(SECRET, GUEST_ID) == expected


def test_guest_owner_key_differs_across_secrets() -> None:
    assert guest_owner_key(SECRET, GUEST_ID) != guest_owner_key(OTHER_SECRET, GUEST_ID)


def test_guest_owner_key_differs_across_guest_ids() -> None:
    assert guest_owner_key(SECRET, GUEST_ID) != guest_owner_key(SECRET, OTHER_GUEST_ID)


def test_guest_owner_keys_of_many_ids_are_distinct() -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]
    assert len({guest_owner_key(SECRET, guest_id) for guest_id in ids}) == len(ids)


@pytest.mark.parametrize("guest_id", [GUEST_ID, OTHER_GUEST_ID, *(str(uuid.uuid4()) for _ in range(5))])
def test_guest_owner_key_is_32_lowercase_hex_without_the_raw_id(guest_id: str) -> None:
    key = guest_owner_key(SECRET, guest_id)

    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert guest_id not in key
    assert guest_id.replace("-", "") != key
    for part in guest_id.split("-"):
        assert part not in key or len(part) < 8  # no long run of the cookie value leaks through


# --- is_valid_guest_id -------------------------------------------------------------------------

@pytest.mark.parametrize("value", [GUEST_ID, OTHER_GUEST_ID, *(str(uuid.uuid4()) for _ in range(10))])
def test_canonical_lowercase_uuid4_is_accepted(value: str) -> None:
    assert is_valid_guest_id(value) is True


@pytest.mark.parametrize("value", [
    pytest.param(str(uuid.uuid1()), id="uuid1"),
    pytest.param(str(uuid.uuid3(uuid.NAMESPACE_DNS, "x")), id="uuid3"),
    pytest.param(str(uuid.uuid5(uuid.NAMESPACE_DNS, "x")), id="uuid5"),
    pytest.param(str(uuid.UUID(int=0)), id="nil"),
    pytest.param(GUEST_ID.upper(), id="uppercase"),
    pytest.param(GUEST_ID[:-1] + "F", id="one-uppercase-char"),
    pytest.param("{" + GUEST_ID + "}", id="braces"),
    pytest.param("urn:uuid:" + GUEST_ID, id="urn"),
    pytest.param(GUEST_ID.replace("-", ""), id="no-hyphens"),
    pytest.param(GUEST_ID.replace("-", "") + "----", id="hyphens-moved"),
    pytest.param("0b8f1c3e-2f4a-4d5b-0c6e-7a8b9c0d1e2f", id="wrong-variant"),
    pytest.param("", id="empty"),
    pytest.param(None, id="none"),
    pytest.param("junk", id="junk"),
    pytest.param("x" * 36, id="36-junk-chars"),
    pytest.param(GUEST_ID + "a", id="37-chars"),
    pytest.param(GUEST_ID + "\n", id="trailing-newline"),
    pytest.param(" " + GUEST_ID, id="leading-space"),
    pytest.param(GUEST_ID[:-1] + "\n", id="newline-in-place"),
    pytest.param("../x", id="dot-dot-slash"),
    pytest.param("a:b", id="colon"),
    pytest.param("../../../../../../../../etc/passwd-0000", id="traversal-36ish"),
    pytest.param("0b8f1c3e-2f4a-4d5b-9c6e-7a8b9c0d1e2/", id="slash"),
    pytest.param("0b8f1c3e-2f4a-4d5b-9c6e-7a8b9c0d1e2g", id="non-hex"),
])
def test_anything_but_a_canonical_uuid4_is_rejected(value: str | None) -> None:
    assert is_valid_guest_id(value) is False


# --- the signed guest cookie -------------------------------------------------------------------

def test_an_issued_guest_cookie_gives_back_its_guest_id() -> None:
    assert guest_id_from_cookie(SECRET, guest_cookie_value(SECRET, GUEST_ID)) == GUEST_ID


def test_the_cookie_signature_is_not_the_owner_key_that_urls_reveal() -> None:
    signature = guest_cookie_value(SECRET, GUEST_ID).partition(".")[2]

    assert re.fullmatch(r"[0-9a-f]{32}", signature)
    assert signature != guest_owner_key(SECRET, GUEST_ID)
    assert guest_id_from_cookie(SECRET, f"{GUEST_ID}.{guest_owner_key(SECRET, GUEST_ID)}") is None


@pytest.mark.parametrize("cookie", [None, "", GUEST_ID, GUEST_ID + ".", "." + "0" * 32, f"{GUEST_ID}.{'0' * 32}",
                                    "not-a-uuid." + "0" * 32])
def test_a_cookie_without_a_valid_signature_names_no_guest(cookie: str | None) -> None:
    assert guest_id_from_cookie(SECRET, cookie) is None


def test_a_cookie_signed_with_another_secret_names_no_guest() -> None:
    assert guest_id_from_cookie(SECRET, guest_cookie_value(OTHER_SECRET, GUEST_ID)) is None


# --- mask_id -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, ""])
def test_mask_id_of_nothing_is_a_dash(value: str | None) -> None:
    assert mask_id(value) == "-"


def test_mask_id_keeps_the_last_four_characters_and_the_length() -> None:
    assert mask_id(GUEST_ID) == "…1e2f(36)"


@pytest.mark.parametrize("value", [GUEST_ID, "user_0123456789abcdef", "g:" + "a1" * 16])
def test_mask_id_does_not_reveal_the_rest_of_the_value(value: str) -> None:
    masked = mask_id(value)

    assert value not in masked
    assert value[:-4] not in masked
    assert masked.endswith(f"{value[-4:]}({len(value)})")


# --- Identity ----------------------------------------------------------------------------------

GUEST_KEY = guest_owner_key(SECRET, GUEST_ID)
OTHER_GUEST_KEY = guest_owner_key(SECRET, OTHER_GUEST_ID)
USER = User(id="user-123", email="ada@example.com", plan=Plan.PRO)


def user_identity(guest_key: str | None = None) -> Identity:
    return Identity(owner_type=OwnerType.USER, owner_key=USER.id, user=USER, guest_key=guest_key)


def guest_identity(*, issued: str | None = None) -> Identity:
    return Identity(owner_type=OwnerType.GUEST, owner_key=GUEST_KEY, user=None, guest_key=GUEST_KEY,
                    issued_guest_cookie=issued)


@pytest.mark.parametrize("owner_type", ["user", OwnerType.USER])
def test_user_owns_objects_filed_under_its_id(owner_type: str) -> None:
    assert user_identity().owns(owner_type, "user-123") is True


@pytest.mark.parametrize("owner_key", ["user-124", "user-12", "USER-123", "", GUEST_KEY])
def test_user_does_not_own_another_users_objects(owner_key: str) -> None:
    assert user_identity(guest_key=GUEST_KEY).owns("user", owner_key) is False


def test_user_without_a_guest_cookie_owns_no_guest_objects() -> None:
    assert user_identity().owns("guest", GUEST_KEY) is False


def test_signed_in_user_holding_an_old_guest_cookie_owns_that_guests_objects() -> None:
    identity = user_identity(guest_key=GUEST_KEY)

    assert identity.owns("guest", GUEST_KEY) is True
    assert identity.owns("guest", OTHER_GUEST_KEY) is False


@pytest.mark.parametrize("owner_type", ["guest", OwnerType.GUEST])
def test_guest_owns_objects_filed_under_its_key(owner_type: str) -> None:
    assert guest_identity().owns(owner_type, GUEST_KEY) is True


@pytest.mark.parametrize("owner_key", [OTHER_GUEST_KEY, GUEST_KEY[:-1], GUEST_KEY.upper(), "", GUEST_ID])
def test_guest_does_not_own_other_guest_keys(owner_key: str) -> None:
    assert guest_identity().owns("guest", owner_key) is False


def test_guest_owns_no_user_objects_even_with_a_matching_string() -> None:
    assert guest_identity().owns("user", GUEST_KEY) is False


@pytest.mark.parametrize("owner_type", ["admin", "", "USER", "Guest", "users", "guests", "user ", "*"])
@pytest.mark.parametrize("make", [lambda: user_identity(guest_key=GUEST_KEY), guest_identity],
                         ids=["user", "guest"])
def test_unknown_owner_types_are_never_owned(owner_type: str, make) -> None:  # type: ignore[no-untyped-def]
    identity = make()
    assert identity.owns(owner_type, USER.id) is False
    assert identity.owns(owner_type, GUEST_KEY) is False


def test_rate_limit_subject_of_a_user_is_its_id() -> None:
    assert user_identity(guest_key=GUEST_KEY).rate_limit_subjects == ("u:user-123",)


def test_rate_limit_subject_of_a_guest_presenting_its_cookie_is_its_key() -> None:
    assert guest_identity().rate_limit_subjects == (f"g:{GUEST_KEY}",)


def test_a_guest_created_by_this_request_counts_in_the_anonymous_window_and_its_own() -> None:
    assert guest_identity(issued=GUEST_ID).rate_limit_subjects == ("anonymous", f"g:{GUEST_KEY}")


def test_plan_is_the_users_plan_and_none_for_guests() -> None:
    assert user_identity().plan is Plan.PRO
    assert guest_identity().plan is None
