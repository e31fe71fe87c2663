"""Reading requests: the routed path, and bodies into plain values with a clear 400 for anything malformed."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.image_checks import MAX_IMAGE_BYTES

MAX_FORM_FIELDS = 30


def routed_path(request: Request) -> str:
    """The path API Gateway routed on and handed over as `rawPath`, already percent-decoded once
    (`route_table.decode_path`). Starlette's `url.path` is not it: Mangum decodes the path a second time."""
    event = request.scope.get("aws.event") or {}
    return event.get("rawPath") or request.url.path


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, huge integers, absurd nesting
        raise ValidationFailed("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object")
    return body


async def form_or_json(request: Request) -> tuple[dict[str, Any], bytes | None]:
    """Fields and the `image` file (if any) of a multipart, url-encoded or JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await json_object(request), None
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ValidationFailed("Send multipart/form-data (with an 'image' file) or JSON (with an 'uploadKey')")
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except Exception:  # Starlette raises its HTTPException or MultiPartException for malformed bodies
        raise ValidationFailed("Invalid form data") from None
    fields: dict[str, Any] = {}
    image: bytes | None = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "image":
                raise ValidationFailed(f"Unexpected file field '{name}'", details={"field": name})
            image = await value.read(MAX_IMAGE_BYTES + 1)
            if len(image) > MAX_IMAGE_BYTES:
                raise ValidationFailed("The image is larger than 10 MB", details={"field": "image"})
        elif name == "image":
            raise ValidationFailed("'image' must be a file", details={"field": "image"})
        else:
            fields[name] = value
    return fields, image
