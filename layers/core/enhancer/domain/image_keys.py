"""Storage keys of images and how the proxy decides who may read them (docs/architecture.md §5)."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum

from enhancer.domain.plans import OwnerType
from enhancer.domain.values import value_class

KEY_PREFIX = "ai-enhancer"
# One key segment: no leading dot (so no `.`/`..`), no slashes, no percent-escapes, nothing exotic.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"  # compiled on first use (re caches it), not at import
MAX_KEY_LENGTH = 512


class ImageCategory(StrEnum):
    UPLOADS = "uploads"
    RESULTS = "results"


@value_class
class ImageKey:
    key: str
    category: ImageCategory
    owner_type: OwnerType
    owner_key: str

    @property
    def is_public(self) -> bool:
        return self.category is ImageCategory.UPLOADS


def parse_image_key(raw_key: str) -> ImageKey | None:
    """The key as it arrived on the wire (undecoded), or None when it may not reach the bucket.

    Only `ai-enhancer/<uploads|results>/<user|guest>/<owner>/<name…>` passes; encoded characters,
    empty segments and dot segments are refused so no path trick can address another object.
    """
    if not raw_key or len(raw_key) > MAX_KEY_LENGTH:
        return None
    segments = raw_key.split("/")
    if len(segments) < 5 or segments[0] != KEY_PREFIX:
        return None
    if not all(re.fullmatch(_SEGMENT, segment) for segment in segments):
        return None
    try:
        category = ImageCategory(segments[1])
        owner_type = OwnerType(segments[2])
    except ValueError:
        return None
    return ImageKey(key=raw_key, category=category, owner_type=owner_type, owner_key=segments[3])


def new_image_key(category: ImageCategory, owner_type: OwnerType, owner_key: str, extension: str) -> str:
    """A fresh, unguessable key under the owner's prefix: nothing is enumerable."""
    return f"{KEY_PREFIX}/{category.value}/{owner_type.value}/{owner_key}/{uuid.uuid4()}.{extension}"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an `If-None-Match` list against the object's ETag."""
    if not if_none_match or not etag:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in if_none_match.split(","))
