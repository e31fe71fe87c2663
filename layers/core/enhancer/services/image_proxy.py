"""Serve stored images: uploads to anyone, results to their owner only (docs/architecture.md §5)."""

from __future__ import annotations

from collections.abc import Callable

from enhancer.domain.errors import Forbidden, NotFound
from enhancer.domain.identity import Identity
from enhancer.domain.image_keys import ImageKey, etag_matches, parse_image_key
from enhancer.domain.values import value_class
from enhancer.services.ports import ImageStore

PUBLIC_CACHE = "public, max-age=900, immutable"
PRIVATE_CACHE = "private, max-age=31536000, immutable"
SERVABLE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


@value_class
class ImageReply:
    """What to answer: `status` 200 (body unless HEAD), 304, or 302 to `location`."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    location: str | None = None


def _headers(image: ImageKey, etag: str, content_type: str | None, size: int | None) -> dict[str, str]:
    headers = {"Cache-Control": PUBLIC_CACHE if image.is_public else PRIVATE_CACHE, "ETag": etag}
    if content_type in SERVABLE_TYPES:
        headers["Content-Type"] = content_type
    else:
        # Whatever else sits in the bucket is never rendered by a browser on our origin.
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


def authorize(raw_key: str, identity: Callable[[], Identity], store: ImageStore) -> ImageKey:
    """The parsed key if the caller may read it; `identity` is only resolved for private results. Someone
    else's result is 403 while it exists and 404 once it is gone (deleted with its job or its account): result
    keys are random, so the difference tells nobody anything they could not already see."""
    image = parse_image_key(raw_key)
    if image is None:
        raise NotFound("Not found")
    if not image.is_public and not identity().owns(image.owner_type, image.owner_key):
        if store.head(image.key) is None:
            raise NotFound("File not found")
        raise Forbidden("Forbidden")
    return image


def read_image(image: ImageKey, store: ImageStore, *, head_only: bool, if_none_match: str | None,
               inline_max_bytes: int, presign_seconds: int) -> ImageReply:
    if head_only:
        info = store.head(image.key)
        if info is None:
            raise NotFound("File not found")
        headers = _headers(image, info.etag, info.content_type, info.size)
        if etag_matches(if_none_match, info.etag):
            return ImageReply(status=304, headers=_not_modified(headers))
        return ImageReply(status=200, headers=headers)

    stored = store.get(image.key)
    if stored is None:
        raise NotFound("File not found")
    info = stored.info
    headers = _headers(image, info.etag, info.content_type, None)
    if etag_matches(if_none_match, info.etag):
        stored.discard()
        return ImageReply(status=304, headers=_not_modified(headers))
    if info.size > inline_max_bytes:
        # A Lambda response cannot carry it (6 MB, base64): send the client to S3 for a short while.
        stored.discard()
        return ImageReply(status=302, headers={"Cache-Control": "private, no-store"},
                          location=store.presigned_get_url(image.key, presign_seconds))
    return ImageReply(status=200, headers=headers, body=stored.read())


def _not_modified(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in ("Cache-Control", "ETag")}
