"""Reading requests: the routed path, and bodies into plain values with a clear 400 for anything malformed."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from enhancer.domain.errors import ValidationFailed

MAX_FORM_FIELDS = 30
Body = TypeVar("Body", bound=BaseModel)


def routed_path(request: Request) -> str:
    """The path API Gateway routed on and handed over as `rawPath`, already percent-decoded once
    (`route_table.decode_path`). Starlette's `url.path` is not it: Mangum decodes the path a second time."""
    event = request.scope.get("aws.event") or {}
    return event.get("rawPath") or request.url.path


def path_parameter(name: str) -> Any:
    """A route's path parameter as a dependency: `job_id: Annotated[str, path_parameter("job_id")]`, the same
    string FastAPI would hand over for `job_id: str`. Why not `job_id: str`: FastAPI makes a pydantic field of
    every parameter it parses, and the first one imports `pydantic.v1` (to refuse v1 models), about 100 ms of a
    cold start the route never uses. ops/openapi.py documents the path's parameters itself."""

    def read(request: Request) -> str:
        return str(request.path_params[name])

    read.__name__ = f"path_{name}"
    return Depends(read)


def json_body(model: type[Body]) -> Any:
    """A route's JSON body validated into `model`, as a dependency: `body: Annotated[PlanCheckout,
    json_body(PlanCheckout)]` answers what `body: PlanCheckout` would (the same pydantic errors under `body`, a
    400 `validation_error` with `details.issues` from the app's RequestValidationError handler), without FastAPI
    making a field of it, which imports `pydantic.v1` (see `path_parameter`). ops/openapi.py describes the body
    from `model`, found as this dependency's `body_model`."""

    async def read(request: Request) -> Body:
        raw = await request.body()
        errors: list[dict[str, Any]]
        if not raw:
            errors = [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        elif not _is_json(request.headers.get("content-type")):
            errors = [{"type": "model_attributes_type", "loc": ("body",), "input": None,
                       "msg": "Input should be a valid dictionary or object to extract fields from"}]
        else:
            try:
                return model.model_validate_json(raw)
            except ValidationError as exc:
                errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors)

    read.__name__ = f"{model.__name__}_body"
    read.body_model = model  # type: ignore[attr-defined]
    return Depends(read)


def _is_json(content_type: str | None) -> bool:
    """`application/json` or `application/…+json`, parameters aside: the bodies FastAPI reads as JSON (it
    refuses a body without a content type)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


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
    # Here, not at the top: the routes that take images load the image checks at init anyway (services/generate),
    # and the many that only want `routed_path` or `json_body` never do.
    from enhancer.domain.image_checks import MAX_IMAGE_BYTES

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
