"""Which storage keys the image proxy may touch, and If-None-Match matching."""

from __future__ import annotations

import pytest

from enhancer.domain.image_keys import MAX_KEY_LENGTH, ImageCategory, etag_matches, parse_image_key
from enhancer.domain.plans import OwnerType

GUEST_KEY = "3f9a0c1e5b7d4e2f8a6c0b1d2e3f4a5b"
NAME = "6c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b.png"


@pytest.mark.parametrize("key, category, owner_type, owner_key", [
    (f"ai-enhancer/uploads/user/user-123/{NAME}", ImageCategory.UPLOADS, OwnerType.USER, "user-123"),
    (f"ai-enhancer/results/user/user_123/{NAME}", ImageCategory.RESULTS, OwnerType.USER, "user_123"),
    (f"ai-enhancer/uploads/guest/{GUEST_KEY}/{NAME}", ImageCategory.UPLOADS, OwnerType.GUEST, GUEST_KEY),
    (f"ai-enhancer/results/guest/{GUEST_KEY}/out.webp", ImageCategory.RESULTS, OwnerType.GUEST, GUEST_KEY),
    ("ai-enhancer/results/guest/abc/2024/05/x.jpg", ImageCategory.RESULTS, OwnerType.GUEST, "abc"),
    ("ai-enhancer/uploads/user/u/name.with.dots.jpeg", ImageCategory.UPLOADS, OwnerType.USER, "u"),
])
def test_accepted_keys(key: str, category: ImageCategory, owner_type: OwnerType, owner_key: str) -> None:
    parsed = parse_image_key(key)

    assert parsed is not None
    assert parsed.key == key
    assert parsed.category is category
    assert parsed.owner_type is owner_type
    assert parsed.owner_key == owner_key
    assert parsed.is_public is (category is ImageCategory.UPLOADS)


def test_uploads_are_public_and_results_are_not() -> None:
    upload = parse_image_key(f"ai-enhancer/uploads/guest/{GUEST_KEY}/{NAME}")
    result = parse_image_key(f"ai-enhancer/results/guest/{GUEST_KEY}/{NAME}")

    assert upload is not None and upload.is_public is True
    assert result is not None and result.is_public is False


@pytest.mark.parametrize("key", [
    pytest.param("", id="empty"),
    pytest.param("not-allowed/x.png", id="wrong-prefix"),
    pytest.param(f"other-app/uploads/user/u/{NAME}", id="other-prefix-5-segments"),
    pytest.param(f"AI-ENHANCER/uploads/user/u/{NAME}", id="prefix-case"),
    pytest.param("ai-enhancer/results/guest/x.png", id="too-few-segments"),
    pytest.param("ai-enhancer/results/guest", id="no-owner"),
    pytest.param("ai-enhancer", id="prefix-only"),
    pytest.param(f"/ai-enhancer/uploads/user/u/{NAME}", id="leading-slash"),
    pytest.param(f"ai-enhancer/uploads/user/u/{NAME}/", id="trailing-slash"),
    pytest.param(f"ai-enhancer//uploads/user/u/{NAME}", id="empty-segment"),
    pytest.param(f"ai-enhancer/uploads/user//{NAME}", id="empty-owner"),
    pytest.param(f"ai-enhancer/uploads/user/u//{NAME}", id="double-slash-in-name"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/../../uploads/user/u/x.png", id="dotdot"),
    pytest.param(f"ai-enhancer/results/guest/../user/u/{NAME}", id="dotdot-owner"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/./{NAME}", id="dot"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/.hidden", id="leading-dot-name"),
    pytest.param(f"ai-enhancer/results/guest/.{GUEST_KEY}/{NAME}", id="leading-dot-owner"),
    pytest.param(f".ai-enhancer/results/guest/{GUEST_KEY}/{NAME}", id="leading-dot-key"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}%2F..%2F{NAME}", id="pct-2F"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/%2e%2e/{NAME}", id="pct-2e2e"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/a%20b.png", id="pct-20"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}\\..\\{NAME}", id="backslash-traversal"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/a\\b.png", id="backslash"),
    pytest.param(f"ai-enhancer/downloads/guest/{GUEST_KEY}/{NAME}", id="unknown-category"),
    pytest.param(f"ai-enhancer/Uploads/guest/{GUEST_KEY}/{NAME}", id="category-case"),
    pytest.param(f"ai-enhancer/results/admin/{GUEST_KEY}/{NAME}", id="unknown-owner-type"),
    pytest.param(f"ai-enhancer/results/users/{GUEST_KEY}/{NAME}", id="owner-type-plural"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/a b.png", id="space"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/x.png\n", id="trailing-newline"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/x.png?a=1", id="query"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/x.png#frag", id="fragment"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/x\x00.png", id="nul"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/ünïcode.png", id="non-ascii"),
    pytest.param(f"ai-enhancer/results/guest/{GUEST_KEY}/a:b.png", id="colon"),
    pytest.param("ai-enhancer/uploads/user/u/" + "a" * 10_000, id="very-long"),
])
def test_rejected_keys(key: str) -> None:
    assert parse_image_key(key) is None


def _key_of_length(length: int) -> str:
    prefix = "ai-enhancer/uploads/user/u/"
    segments: list[str] = []
    remaining = length - len(prefix)
    while remaining > 0:
        take = min(100, remaining)
        if remaining - take == 1:  # never leave a one-character tail that needs its own slash
            take -= 2
        segments.append("a" * take)
        remaining -= take + 1
    key = prefix + "/".join(segments)
    assert len(key) == length
    return key


def test_keys_up_to_the_maximum_length_are_accepted() -> None:
    assert parse_image_key(_key_of_length(MAX_KEY_LENGTH)) is not None


def test_over_long_keys_are_rejected() -> None:
    assert parse_image_key(_key_of_length(MAX_KEY_LENGTH + 1)) is None


# --- etag_matches ------------------------------------------------------------------------------

@pytest.mark.parametrize("if_none_match, etag, expected", [
    ('"abc"', '"abc"', True),
    ('W/"abc"', '"abc"', True),
    ('"abc"', 'W/"abc"', True),
    ('W/"abc"', 'W/"abc"', True),
    ('"x", "abc"', '"abc"', True),
    ('"x",W/"abc","y"', '"abc"', True),
    ('  "abc"  ', '"abc"', True),
    ("*", '"abc"', True),
    (" * ", '"abc"', True),
    ('"abd"', '"abc"', False),
    ('"ab"', '"abc"', False),
    ('"abc', '"abc"', False),
    ('abc', '"abc"', False),
    ('"x", "y"', '"abc"', False),
    ('W/"x"', '"abc"', False),
    (None, '"abc"', False),
    ("", '"abc"', False),
    ('"abc"', "", False),
    ("*", "", False),
])
def test_etag_matches(if_none_match: str | None, etag: str, expected: bool) -> None:
    assert etag_matches(if_none_match, etag) is expected
