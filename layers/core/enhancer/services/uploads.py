"""Presigned browser uploads straight to S3: the way past Lambda's 6 MB request limit (docs/architecture.md §5)."""

from __future__ import annotations

import time

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.identity import Identity
from enhancer.domain.image_checks import EXTENSIONS, MAX_IMAGE_BYTES
from enhancer.domain.image_keys import ImageCategory, new_image_key
from enhancer.domain.values import value_class
from enhancer.services.ports import ImageStore


@value_class
class UploadTicket:
    upload_key: str
    url: str
    fields: dict[str, str]
    expires_at: int
    max_bytes: int
    content_type: str


def create_upload(identity: Identity, content_type: object, size: object, store: ImageStore,
                  expires_in: int) -> UploadTicket:
    if not isinstance(content_type, str) or content_type not in EXTENSIONS:
        raise ValidationFailed("'contentType' must be image/jpeg, image/png or image/webp",
                               details={"field": "contentType"})
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_IMAGE_BYTES):
        raise ValidationFailed("'size' must be a number of bytes from 1 to 10 MB (10485760)",
                               details={"field": "size"})
    key = new_image_key(ImageCategory.UPLOADS, identity.owner_type, identity.owner_key, EXTENSIONS[content_type])
    post = store.presigned_post(key, str(content_type), MAX_IMAGE_BYTES, expires_in)
    return UploadTicket(upload_key=key, url=post["url"], fields=dict(post["fields"]),
                        expires_at=int(time.time()) + expires_in, max_bytes=MAX_IMAGE_BYTES,
                        content_type=str(content_type))
