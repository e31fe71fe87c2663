"""One OpenAPI 3.1 document for the whole API, kept as `docs/openapi.json` (the README's "API reference").

    python -m ops.openapi           write docs/openapi.json
    python -m ops.openapi --check   exit 1 when docs/openapi.json is not what the code generates

The operations are exactly the HTTP routes template.yaml deploys (`local.template.http_routes`, without the
`ANY` fallback routes and `$default`, which answer 405 with `Allow` and the 404 envelope, and without the local
stack's `/api/dev/*` and `/dev/*`). Each comes from the router its function serves: `functions/<name>/app.py` is
run with `enhancer.entrypoints.http_handler` replaced by a recorder, so the routers (and `verify_origin`) are
the ones the function would wrap, and FastAPI's `get_openapi` describes their routes.

What comes from the code:
- from FastAPI: path parameters and pydantic request bodies (billing checkout); the route module's docstring is
  the operation's description;
- from the request pipeline, for every route: the security headers (`http/security.py`), `Cache-Control`, 500
  and 503; for unsafe methods of functions that check origins, the Origin/Referer + CSRF double submit and its 403;
- from each route's dependencies: a rate limiter → 429 naming the window (the limiter's own figures); a
  signed-in user → 401 and the session cookies; the caller's identity → the session or guest cookie; a
  pydantic body → 400 with `details.issues`;
- the error envelope of each type with its status (`http/envelope.py:STATUS_BY_TYPE`), the model registry's
  options (generate's and a job's request bodies), plans, job statuses, upload types.

What FastAPI cannot see is written below, in `OPERATIONS`: the bodies routes parse by hand (multipart with the
`image` file, url-encoded or JSON with an `uploadKey`; uploads; the signed webhook bodies), the success bodies
(every route answers a `Response` it builds), the errors only the use cases raise, and the headers and query
parameters routes read themselves. Nothing here ships to Lambda: the functions serve no schema (`create_app`
sets `openapi_url=None`, `docs_url=None`, `redoc_url=None`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import json
import re
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from enhancer.domain.api_keys import DISPLAY_PREFIX_CHARS, KEY_PREFIX, MAX_ACTIVE_KEYS, Scope
from enhancer.domain.image_checks import EXTENSIONS, MAX_IMAGE_BYTES
from enhancer.domain.jobs import DEFAULT_PAGE, MAX_PAGE, JobStatus

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
LOCAL_ONLY_PREFIXES = ("/api/dev/", "/dev/")  # the local stack's own routes (local/__main__.py), never deployed

JSON = "application/json"
Schema = dict[str, Any]


# --- small schema helpers ---------------------------------------------------------------------------------

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, *,
        description: str | None = None) -> Schema:
    schema: Schema = {"type": "object", "required": sorted(required),
                      "properties": {**required, **(optional or {})}}
    if description:
        schema["description"] = description
    return schema


def text(description: str | None = None, **more: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def integer(description: str | None = None, **more: Any) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **more}


def number(description: str | None = None, **more: Any) -> Schema:
    return {"type": "number", **({"description": description} if description else {}), **more}


def boolean(description: str | None = None, **more: Any) -> Schema:
    return {"type": "boolean", **({"description": description} if description else {}), **more}


TIMESTAMP = text("ISO-8601 UTC with `Z`, to the second", format="date-time")
URL = text(format="uri")


# --- the routes template.yaml deploys, and the routers that serve them --------------------------------------

def deployed_routes(template: dict[str, Any] | None = None) -> list[Any]:
    """Every (method, path) route of template.yaml a client can call: no `ANY` fallback, no `$default`."""
    from local.template import http_routes

    return [route for route in http_routes(template)
            if route.method != "ANY" and route.path != "$default" and not route.path.startswith(LOCAL_ONLY_PREFIXES)]


def openapi_path(template_path: str) -> str:
    """`/r2-ai/{key+}` → `/r2-ai/{key}`: OpenAPI has no greedy path parameters (the parameter says so)."""
    return re.sub(r"\{([A-Za-z0-9_]+)\+\}", r"{\1}", template_path)


@dataclass(frozen=True)
class FunctionApp:
    """What a function's `app.py` hands `http_handler`: its routers and whether origins are checked."""

    routers: tuple[Any, ...]
    verify_origin: bool


@functools.cache
def function_app(code_uri: Path, handler: str) -> FunctionApp:
    """Run the function's handler module with `http_handler` recording its arguments instead of building the
    Lambda handler (no settings are read, no app is built)."""
    from enhancer import entrypoints

    module_name, _, attribute = handler.rpartition(".")
    source = code_uri / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"openapi_{code_uri.name}_{module_name}", source)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {handler} from {code_uri}")
    module = importlib.util.module_from_spec(spec)

    def record(*routers: Any, verify_origin: bool = True) -> FunctionApp:
        return FunctionApp(tuple(routers), verify_origin)

    with mock.patch.object(entrypoints, "http_handler", record):
        spec.loader.exec_module(module)
    app = getattr(module, attribute, None)
    if not isinstance(app, FunctionApp):
        raise RuntimeError(f"{source}: `{attribute}` is not `http_handler(<router>)`")
    return app


@dataclass(frozen=True)
class RoutedOperation:
    """One deployed route and the FastAPI route that serves it."""

    method: str
    template_path: str  # as in template.yaml: `/r2-ai/{key+}`
    function_id: str
    app: FunctionApp
    route: Any  # fastapi.routing.APIRoute

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.template_path}"

    @property
    def path(self) -> str:
        return openapi_path(self.template_path)


def routed_operations(template: dict[str, Any] | None = None) -> list[RoutedOperation]:
    from fastapi.routing import APIRoute

    found = []
    for deployed in deployed_routes(template):
        app = function_app(deployed.code_uri, deployed.handler)
        matches = [route for router in app.routers for route in router.routes
                   if isinstance(route, APIRoute) and route.path_format == openapi_path(deployed.path)
                   and deployed.method in (route.methods or ())]
        if len(matches) != 1:
            raise RuntimeError(f"{deployed.function_id} ({deployed.code_uri.name}/app.py) serves "
                               f"{len(matches)} routes for {deployed.route_key}; it must serve exactly one")
        found.append(RoutedOperation(deployed.method, deployed.path, deployed.function_id, app, matches[0]))
    return found


# --- what a route's dependencies say --------------------------------------------------------------------------

def _dependency_calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


@dataclass(frozen=True)
class RouteFacts:
    limiters: tuple[tuple[str, Any], ...]  # (how it is keyed, Limiter)
    signed_in: bool
    identity: bool
    pydantic_body: bool
    body_model: Any = None  # the pydantic model of a body the route reads itself (http/requests.py:json_body)


LIMITER_KEYS = {
    "rate_limit": "per client IP and caller (user, or guest)",
    "rate_limit_by_ip": "per client IP",
    "guest_rate_limit_by_ip": "for all guests behind one client IP (signed-in users are not counted)",
}


def route_facts(route: Any) -> RouteFacts:
    from enhancer.http import identity as identity_module
    from enhancer.http import rate_limit as rate_limit_module

    limiters, signed_in, identity, body_model = [], False, False, None
    for call in _dependency_calls(route.dependant):
        qualname = getattr(call, "__qualname__", "")
        module = getattr(call, "__module__", "")
        if getattr(call, "body_model", None) is not None:
            body_model = call.body_model  # type: ignore[attr-defined]
        elif module == rate_limit_module.__name__ and qualname.endswith(".<locals>.check"):
            factory = qualname.split(".", 1)[0]
            limiters.append((LIMITER_KEYS[factory], inspect.getclosurevars(call).nonlocals["limiter"]))
        elif call is identity_module.signed_in_user:
            signed_in = identity = True
        elif call is identity_module.current_identity:
            identity = True
    return RouteFacts(tuple(limiters), signed_in, identity, bool(route.dependant.body_params) or body_model is not None,
                      body_model)


def body_model_schemas(routes: list[Any]) -> dict[str, Schema]:
    """The component schemas of the bodies routes read themselves, as FastAPI would list `body: Model`."""
    schemas: dict[str, Schema] = {}
    for route in routes:
        model = route_facts(route).body_model
        if model is not None:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
    return schemas


# --- hand-written: what each operation accepts and answers ----------------------------------------------------

@dataclass(frozen=True)
class Operation:
    """What FastAPI cannot see of one route. `responses`: the success (and redirect) answers by status;
    `errors`: the error statuses only the route's use case answers, each with when (the pipeline's and the
    dependencies' own are added). `cookies`: which cookies say who the caller is, where the route reads them
    itself ("identity": session or guest, "sessions": session only); by default the dependencies decide."""

    operation_id: str
    tag: str
    summary: str
    responses: dict[int, dict[str, Any]]
    errors: dict[int, str] = field(default_factory=dict)
    parameters: tuple[dict[str, Any], ...] = ()
    request_body: dict[str, Any] | None = None
    cookies: str | None = None


def enveloped(description: str, data: Schema, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "headers": headers or {},
            "content": {JSON: {"schema": obj({"success": {"const": True}, "data": data})}}}


def redirect(description: str, location: str, *, set_cookie: str | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"Location": {"description": location, "required": True, "schema": URL}}
    if set_cookie:
        headers["Set-Cookie"] = {"description": set_cookie, "schema": text()}
    return {"description": description, "headers": headers}


def query(name: str, description: str, schema: Schema, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def header(name: str, description: str, schema: Schema, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


RETURN_TO = text("A path on this site to come back to (anything else is ignored)", maxLength=512)


def _model_slugs() -> list[str]:
    from enhancer.domain.models import MODELS

    return [model.slug for model in MODELS]


def _option_schemas(*, as_form: bool) -> dict[str, Schema]:
    """Each option of the model registry, with the models that take it and its range; in a form every value is
    text, in JSON a value of its own type (a form's spelling is accepted in JSON too)."""
    from enhancer.domain.models import ALL_OPTION_NAMES, MODELS

    schemas: dict[str, Schema] = {}
    for name in ALL_OPTION_NAMES:
        takers = [model for model in MODELS if model.option(name) is not None]
        spec = takers[0].option(name)
        assert spec is not None
        models = ", ".join(f"`{model.slug}`" for model in takers)
        note = f"Only for {models}: another model refuses it (400 naming the field); blank counts as absent."
        if spec.kind == "bool":
            schema: Schema = ({"type": "string", "enum": ["true", "false", "1", "0", "on", "off", "yes", "no"]}
                              if as_form else boolean())
        elif spec.kind == "text":
            schema = text(maxLength=spec.max_length) if spec.max_length else text()
        elif as_form:
            schema = text()
        else:
            schema = integer() if spec.kind == "int" else number()
        if spec.choices is not None:
            allowed = [str(choice) for choice in spec.choices] if as_form else list(spec.choices)
            schema["enum"] = allowed
            note += " One of " + ", ".join(str(choice) for choice in spec.choices) + "."
        if spec.minimum is not None and spec.maximum is not None:
            if not as_form:
                schema["minimum"], schema["maximum"] = spec.minimum, spec.maximum
            note += f" From {spec.minimum:g} to {spec.maximum:g}."
            if spec.kind == "int":
                note += " A whole number."
        if spec.default is not None:
            schema["default"] = (str(spec.default).lower() if spec.kind == "bool" else str(spec.default)) if as_form \
                else spec.default
        schema["description"] = note
        schemas[name] = schema
    return schemas


def _output_schemas(*, as_form: bool) -> dict[str, Schema]:
    """`outputFormat` and `quality`, which every model takes (README "Output format")."""
    from enhancer.domain.output_format import DEFAULT_QUALITY, FORMAT_NAMES, MAX_QUALITY, MIN_QUALITY

    names = [*FORMAT_NAMES, "jpg"]
    output_format = text("The result's format (`jpg` is `jpeg`, any case); blank or absent: the input's own kind, "
                         "so a JPEG comes back as a JPEG. PNG and WebP keep transparency, JPEG flattens it onto "
                         "white. The result's content type and key extension follow it", enum=names)
    note = (f"For `jpeg` and `webp`: {MIN_QUALITY} to {MAX_QUALITY}, a whole number (default {DEFAULT_QUALITY}); "
            "ignored for `png`, which is lossless; blank counts as absent")
    quality = (text(note, pattern=r"^(100|[1-9][0-9]?)$") if as_form
               else integer(note, minimum=MIN_QUALITY, maximum=MAX_QUALITY))
    return {"outputFormat": output_format, "quality": quality}


def _dry_run_schema(*, as_form: bool) -> dict[str, Schema]:
    """`dryRun` (README "Price quotes"): the words the boolean options take in a form; in JSON a boolean or them."""
    words = ["true", "false", "1", "0", "on", "off", "yes", "no"]
    note = ("true: every check of the real call, then 200 with the charge it would take (`Quote`); nothing is "
            "stored, reserved or charged. Blank or absent: false")
    schema: Schema = ({"type": "string", "enum": words, "description": note} if as_form
                      else {"anyOf": [boolean(), text(enum=words)], "description": note})
    return {"dryRun": schema}


def enhancement_schemas() -> dict[str, Schema]:
    """generate's and a job's request, the one reading both routes share (`http/enhancement_request.py`): the
    multipart form with the `image` file, or a url-encoded form or JSON with an `uploadKey`."""
    model = text("A model's slug (`GET /api/ai-image/models`); the old system's full slugs are accepted too",
                 enum=_model_slugs())
    upload_key = text("An `uploadKey` from `POST /api/ai-image/uploads`, or the key of any original of the "
                      "caller's own (to enhance it again)")
    form_fields = {**_option_schemas(as_form=True), **_output_schemas(as_form=True), **_dry_run_schema(as_form=True)}
    image = {"type": "string", "contentMediaType": "application/octet-stream",
             "description": f"JPEG, PNG or WebP (by magic bytes), at most {MAX_IMAGE_BYTES} bytes; the body as a "
                            "whole must stay under Lambda's 6 MB (larger images: upload them first)"}
    json_fields = {**_option_schemas(as_form=False), **_output_schemas(as_form=False),
                   **_dry_run_schema(as_form=False)}
    # A job's request is generate's and `callbackUrl` (README "Completion callbacks").
    callback = {"callbackUrl": text(
        "Signed-in callers only (a guest's is a 401): an https URL on port 443, at most 2048 characters, whose "
        "host resolves only to public addresses (never loopback, private, link-local, metadata or other "
        "reserved ranges; checked now and again before each attempt). When the job has ended, the job object "
        "is POSTed there with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, "
        "`webhook-signature`)", format="uri", maxLength=2048)}
    return {
        "EnhancementMultipart": obj({"model": model, "image": image}, form_fields),
        "EnhancementForm": obj({"model": model, "uploadKey": upload_key}, form_fields),
        "EnhancementJson": obj({"model": model, "uploadKey": upload_key}, json_fields),
        "JobMultipart": obj({"model": model, "image": image}, {**form_fields, **callback}),
        "JobForm": obj({"model": model, "uploadKey": upload_key}, {**form_fields, **callback}),
        "JobJson": obj({"model": model, "uploadKey": upload_key}, {**json_fields, **callback}),
    }


def enhancement_body(what: str, schemas: str = "Enhancement") -> dict[str, Any]:
    """The request body of generate (`Enhancement…` schemas) or of a job's create (`Job…`)."""
    return {
        "required": True,
        "description": f"{what}: `multipart/form-data` with the file field `image`, or a url-encoded form or JSON "
                       "with an `uploadKey` instead of the file; `model` and the model's options either way.",
        "content": {
            "multipart/form-data": {"schema": ref(f"{schemas}Multipart"),
                                    "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp"}}},
            "application/x-www-form-urlencoded": {"schema": ref(f"{schemas}Form")},
            JSON: {"schema": ref(f"{schemas}Json")},
        },
    }


def _image_headers(*, with_length: bool) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "ETag": {"description": "The stored object's ETag (`If-None-Match` answers 304)", "required": True,
                 "schema": text()},
        "Cache-Control": {"description": "`public, max-age=900, immutable` for uploads, "
                                         "`private, max-age=31536000, immutable` for results", "required": True,
                          "schema": text()},
        "Content-Disposition": {"description": "`attachment`, for an object that is not a JPEG, PNG or WebP",
                                "schema": text()},
    }
    if with_length:
        headers["Content-Length"] = {"description": "The object's size in bytes", "schema": integer()}
    return headers


def _image_content() -> dict[str, Any]:
    from enhancer.services.image_proxy import SERVABLE_TYPES

    binary = {"type": "string", "format": "binary"}
    return {media: {"schema": binary} for media in [*sorted(SERVABLE_TYPES), "application/octet-stream"]}


def image_operation(method: str) -> Operation:
    head = method == "HEAD"
    ok: dict[str, Any] = {"description": "The image's headers, no body" if head else
                          "The image (served inline up to `IMAGE_PROXY_INLINE_MAX_BYTES`)",
                          "headers": _image_headers(with_length=head)}
    if not head:
        ok["content"] = _image_content()
    responses: dict[int, dict[str, Any]] = {
        200: ok,
        304: {"description": "`If-None-Match` names the current ETag", "headers": {
            key: value for key, value in _image_headers(with_length=False).items()
            if key in ("ETag", "Cache-Control")}},
    }
    if not head:
        responses[302] = {"description": "Too large to answer inline: a short-lived presigned S3 URL", "headers": {
            "Location": {"description": "A presigned GET of the object (`IMAGE_PROXY_PRESIGN_SECONDS`)",
                         "required": True, "schema": URL},
            "Cache-Control": {"description": "`private, no-store`", "required": True, "schema": text()}}}
    return Operation(
        operation_id="headImage" if head else "getImage", tag="images",
        summary="An image's headers" if head else "A stored image",
        responses=responses,
        errors={403: "A result of someone else's that still exists",
                404: "Not a key of this service, or nothing stored under it (a result deleted with its job or "
                     "account)"},
        parameters=(
            {"name": "key", "in": "path", "required": True, "schema": text(),
             "description": "The stored object's key, e.g. `ai-enhancer/uploads/<type>/<owner>/<id>.png` or "
                            "`ai-enhancer/results/…`, its slashes as they are: the deployed route is the greedy "
                            "`/r2-ai/{key+}` (one or more segments), which OpenAPI cannot express."},
            header("If-None-Match", "An ETag the client holds: 304 when it is current", text()),
        ),
        cookies="identity")


JOB_ID = "job_id"  # the path parameter FastAPI finds in the job routes
# OpenAPI links from a created job to what its owner does next (schemathesis's stateful phase follows them,
# tests/fuzz): poll it, cancel it, delete it once it has ended.
JOB_LINKS = {
    name: {"operationId": operation_id, "parameters": {JOB_ID: "$response.body#/data/id"}, "description": what}
    for name, operation_id, what in (("GetJob", "getJob", "Poll the job just created"),
                                     ("CancelJob", "cancelJob", "Cancel the job just created"),
                                     ("DeleteJob", "deleteJob", "Delete the job (400 until it has ended)"))
}
# From an upload form to the enhancement that names it (once the client has posted the file to `url`).
UPLOAD_LINKS = {
    name: {"operationId": operation_id, "description": what,
           "requestBody": {"uploadKey": "$response.body#/data/uploadKey", "model": "real-esrgan"}}
    for name, operation_id, what in (("EnhanceUpload", "enhanceImage", "Enhance the uploaded image now"),
                                     ("CreateJobFromUpload", "createJob", "Enhance the uploaded image as a job"))
}
KEY_ID = "key_id"  # the path parameter of the key routes
# From a created key to its revocation (schemathesis's stateful phase follows it).
KEY_LINKS = {"RevokeKey": {"operationId": "revokeApiKey", "parameters": {KEY_ID: "$response.body#/data/id"},
                           "description": "Revoke the key just created"}}
JOB_STATUSES = [status.value for status in JobStatus]
UPLOAD_TYPES = sorted(EXTENSIONS)


OPERATIONS: dict[str, Operation] = {
    "POST /api/ai-image/generate": Operation(
        operation_id="enhanceImage", tag="enhancement", summary="Enhance one image now",
        request_body=enhancement_body("The image and how to enhance it"),
        responses={
            200: enveloped("Enhanced: both URLs, the day's usage and the charge; with `dryRun` true, the charge it "
                           "would take (`Quote`), nothing stored or charged",
                           ref("EnhancementOrQuote")),
            202: enveloped("The deadline cut the work short where this deployment runs jobs: it carries on as a "
                           "job, charged once", ref("Job"), headers={
                               "Location": {"description": "`/api/ai-image/jobs/<id>`", "required": True,
                                            "schema": text()}}),
        },
        errors={
            400: "A field, option or image that is invalid (`details.field`): an unknown model, an option the "
                 "model does not take or out of range, an `outputFormat` not png, jpeg or webp, a `quality` not "
                 "a whole number from 1 to 100, no image and no `uploadKey`, a file over 10 MiB, not JPEG, "
                 "PNG or WebP, too many pixels, corrupt; an `uploadKey` that is no key or has nothing stored; a "
                 "`dryRun` not true or false",
            403: "The plan does not allow the option (`scale` above `maxUpscale`, `face_enhance`; `details.field`); "
                 "the daily cap or monthly allowance is used up (`details {scope: daily|monthly, used, limit, "
                 "resetAt}`); all guests' budget for the day is used up (`details.scope: guestBudget`, `signIn`); "
                 "the `uploadKey` is someone else's",
            413: "The local engine could not finish this image before the deadline and this deployment runs no "
                 "jobs (it names the size); or the body is larger than Lambda accepts (6 MB: upload first; "
                 "API Gateway answers this with its own body, the local stack in the envelope)",
            429: "The guests behind this client IP have had the hour's enhancements (`details {scope: guestIp, "
                 "used, limit, resetAt, signIn: true}`)",
            502: "The model failed or did not finish by the deadline (`details.retryable`, `Retry-After`); the "
                 "charge is given back",
            503: "No provider is configured, or the model needs Replicate (the local engine runs `real-esrgan` "
                 "only); the work could not be handed to a job",
        }),
    "GET /api/ai-image/usage": Operation(
        operation_id="getUsage", tag="usage", summary="The caller's usage, plan and entitlements",
        responses={200: enveloped("The daily and monthly usage", ref("UsageOverview"), headers={
            "Cache-Control": {"description": "`no-store, no-cache, must-revalidate`", "required": True,
                              "schema": text()},
            "Pragma": {"description": "`no-cache`", "schema": text()},
            "Expires": {"description": "`0`", "schema": text()},
            "X-Usage-OwnerType": {"description": "`user` or `guest`", "schema": text(enum=["user", "guest"])},
            "X-Usage-Plan": {"description": "The user's plan; empty for a guest", "schema": text()},
            "X-Usage-Limit": {"description": "The daily cap", "schema": text()},
        })}),
    "GET /api/ai-image/models": Operation(
        operation_id="listModels", tag="enhancement", summary="The model registry and the page's flags",
        responses={200: enveloped("The models, their options with ranges, and the provider in use",
                                  ref("ModelCatalogue"), headers={
                                      "Cache-Control": {"description": "`public, max-age=300`", "required": True,
                                                        "schema": text()}})}),
    "POST /api/ai-image/uploads": Operation(
        operation_id="createUpload", tag="uploads", summary="A presigned S3 POST for one image",
        request_body={"required": True, "content": {JSON: {"schema": obj({
            "contentType": text(enum=UPLOAD_TYPES),
            "size": integer("The file's size in bytes", minimum=1, maximum=MAX_IMAGE_BYTES)})}}},
        responses={201: {**enveloped("Post the file to `url` with `fields`, then send `uploadKey` to generate or a "
                                     "job", ref("UploadTicket")), "links": UPLOAD_LINKS}},
        errors={400: "The body is not a JSON object; `contentType` is not JPEG, PNG or WebP; `size` is not 1 byte "
                     "to 10 MiB (`details.field`)"}),
    "POST /api/ai-image/jobs": Operation(
        operation_id="createJob", tag="jobs", summary="Enhance an image as a job",
        request_body=enhancement_body("The image and how to enhance it, as for generate, and optionally where to "
                                      "call back when the job has ended", "Job"),
        parameters=(header("Idempotency-Key", "A retried create with the same key answers the same job instead of "
                                              "charging again (per caller, 24 hours); the same key with another "
                                              "request is a 409; with `dryRun` checked but nothing recorded",
                                              text(minLength=1, maxLength=255)),),
        responses={200: enveloped("With `dryRun` true: the charge the create would take (`Quote`); no job, "
                                  "nothing stored or charged", ref("Quote")),
                   202: {**enveloped("The job, `queued`", ref("Job")), "links": JOB_LINKS}},
        errors={
            400: "As generate's 400 (also `dryRun` not true or false); an `Idempotency-Key` that is not 1 to 255 "
                 "printable characters; a `callbackUrl` that is not https on port 443, or whose host does not "
                 "resolve or resolves to any address that is not public (`details.field: callbackUrl`)",
            401: "A `callbackUrl` from a guest (callbacks are signed with a signed-in user's secret)",
            403: "As generate's 403 (plan, quota, guest budget, someone else's `uploadKey`)",
            404: "The job this `Idempotency-Key` created has been deleted since",
            409: "This `Idempotency-Key` was used with a different request, or its first request is still in "
                 "progress (`Retry-After`)",
            413: "The body is larger than Lambda accepts (6 MB: upload first; API Gateway answers this with its "
                 "own body, the local stack in the envelope)",
            429: "As generate's guest cap (`details.scope: guestIp`)",
            503: "The workflow could not start (the job fails, the charge goes back; `Retry-After`); no provider",
        }),
    "GET /api/ai-image/jobs": Operation(
        operation_id="listJobs", tag="jobs", summary="The caller's own jobs, newest first",
        parameters=(
            query("status", "Only jobs in this status", text(enum=JOB_STATUSES)),
            query("limit", "Jobs per page", integer(minimum=1, maximum=MAX_PAGE, default=DEFAULT_PAGE)),
            query("cursor", "`nextCursor` of the previous page", text()),
        ),
        responses={200: enveloped("A page of jobs", ref("JobPage"))},
        errors={400: "`status`, `limit` or `cursor` is not one this API accepts (`details.field`)"}),
    f"GET /api/ai-image/jobs/{{{JOB_ID}}}": Operation(
        operation_id="getJob", tag="jobs", summary="One job, to its owner",
        responses={200: enveloped("The job", ref("Job"))},
        errors={403: "The job belongs to someone else", 404: "No job with this id"}),
    f"POST /api/ai-image/jobs/{{{JOB_ID}}}/cancel": Operation(
        operation_id="cancelJob", tag="jobs", summary="Cancel a job (idempotent)",
        responses={200: {**enveloped("The job, `canceled` and its charge given back; a job that had ended as it "
                                     "is", ref("Job")),
                         "links": {name: JOB_LINKS[name] for name in ("GetJob", "DeleteJob")}}},
        errors={403: "The job belongs to someone else", 404: "No job with this id"}),
    f"DELETE /api/ai-image/jobs/{{{JOB_ID}}}": Operation(
        operation_id="deleteJob", tag="jobs", summary="Delete an ended job and its images",
        responses={200: enveloped("What was removed", ref("JobDeleted"))},
        errors={400: "The job has not ended: cancel it first", 403: "The job belongs to someone else",
                404: "No job with this id"}),
    "POST /api/ai-image/webhooks/replicate": Operation(
        operation_id="replicateWebhook", tag="webhooks", summary="Replicate's signed `completed` webhook",
        parameters=(
            query("job", "The job the prediction runs for (set by the workflow when it creates the prediction)",
                  text(minLength=1, maxLength=64), required=True),
            header("webhook-id", "Replicate's message id (signed)", text(), required=True),
            header("webhook-timestamp", "Seconds since the epoch; more than 300 s off now is refused", text(),
                   required=True),
            header("webhook-signature", "`v1,<base64 HMAC-SHA256>` over id, timestamp and body with the webhook "
                                        "secret", text(), required=True),
        ),
        request_body={"required": True, "description": "The prediction, as Replicate signs it (at most 1 MB)",
                      "content": {JSON: {"schema": obj({"id": text(), "status": text()},
                                                       {"output": {}, "error": {}})}}},
        responses={200: enveloped("Received (also a duplicate, and a job that has ended)", ref("Received"))},
        errors={400: "No `job`, a body over 1 MB, a missing or bad signature, a timestamp more than 300 s off, a "
                     "body that is no prediction",
                503: "No webhook secret is configured, or it is not one Replicate issues"}),
    "POST /api/billing/stripe-webhook": Operation(
        operation_id="stripeWebhook", tag="webhooks", summary="Stripe's signed events",
        parameters=(header("Stripe-Signature", "`t=<timestamp>,v1=<HMAC-SHA256>`: verified with the webhook secret; "
                                               "more than 300 s old or in the future is refused", text(),
                           required=True),),
        request_body={"required": True, "description": "A Stripe event, as Stripe signs it (at most 512 KiB)",
                      "content": {JSON: {"schema": obj({"id": text(), "type": text()},
                                                       {"created": integer(), "data": {"type": "object"}})}}},
        responses={200: {"description": "Received: applied once, also for a type not handled and for a redelivery. "
                                        "Not enveloped: the body the old system answered (Stripe reads the status)",
                         "headers": {}, "content": {JSON: {"schema": ref("StripeReceived")}}}},
        errors={400: "A body over 512 KiB, a missing, bad, stale or future signature, a body that is no event",
                409: "The same event is being applied right now (`Retry-After`)",
                503: "The webhook secret is not configured"}),
    "POST /api/billing/session": Operation(
        operation_id="createPlanCheckout", tag="billing", summary="Checkout for a plan",
        responses={200: enveloped("The Stripe Checkout page (in development without Stripe, the local one)",
                                  ref("CheckoutUrl"))},
        errors={400: "The plan is not on sale here (`details.field`), or Stripe refused the request",
                502: "Stripe failed (`details.retryable`)", 503: "Stripe is not configured"}),
    "POST /api/billing/credits": Operation(
        operation_id="createCreditsCheckout", tag="billing", summary="Checkout for a credit pack",
        responses={200: enveloped("The Stripe Checkout page of the pack", ref("CheckoutUrl"))},
        errors={400: "Stripe refused the request", 502: "Stripe failed (`details.retryable`)",
                503: "Credit packs are off (`PUBLIC_ENABLE_CREDITS_CTA`), the pack has no price here, or Stripe is "
                     "not configured"}),
    "GET /api/billing/portal": Operation(
        operation_id="openBillingPortal", tag="billing", summary="The Stripe customer portal",
        parameters=(query("returnTo", "Where the portal (or the page, without a customer) sends the browser back; "
                                      "`/dashboard` otherwise", RETURN_TO),),
        responses={302: redirect("To the portal; a user Stripe does not know goes back with `billing=no_customer`",
                                 "The portal's URL, or `<returnTo>?billing=no_customer` on this site")},
        errors={400: "Stripe refused the request", 502: "Stripe failed (`details.retryable`)",
                503: "Stripe is not configured"}),
    "GET /api/auth/login": Operation(
        operation_id="startLogin", tag="auth", summary="Sign in with Cognito's managed login",
        parameters=(query("returnTo", "The path on this site to come back to after signing in; `/` otherwise",
                          RETURN_TO),),
        responses={302: redirect("To the managed login (state, nonce, PKCE S256)", "Cognito's authorize URL",
                                 set_cookie="`auth_login`: the attempt, signed, HttpOnly, 10 minutes")},
        errors={503: "Sign-in is not configured on this deployment"}),
    "GET /api/auth/callback": Operation(
        operation_id="completeLogin", tag="auth", summary="Where Cognito sends the browser back",
        parameters=(
            query("code", "The authorization code", text()),
            query("state", "The state the login sent", text()),
            query("error", "Cognito's error, when the login ended without a code", text()),
            {"name": "auth_login", "in": "cookie", "required": False, "schema": text(),
             "description": "The attempt `GET /api/auth/login` sealed (state, nonce, PKCE verifier, the path)"},
        ),
        responses={302: redirect("Signed in: back to the path the login started from with a 30-day session; any "
                                 "failure goes there with `?auth=<reason>` and no session, never an error page",
                                 "The path on this site, with `auth=<unavailable|expired|state_mismatch|denied|"
                                 "code_rejected|token_invalid|email_unverified|email_in_use>` on a failure",
                                 set_cookie="`__Host-session` (https) and `session_id`: the session; `auth_login` "
                                            "cleared")}),
    "POST /api/auth/logout": Operation(
        operation_id="logout", tag="auth", summary="End the browser's sessions",
        responses={200: enveloped("Signed out (also when already signed out); visit `logoutUrl` to end the Cognito "
                                  "session", ref("SignedOut"), headers={
                                      "Set-Cookie": {"description": "The session cookies cleared", "schema": text()}})},
        cookies="sessions"),
    "GET /api/auth/me": Operation(
        operation_id="getMe", tag="auth", summary="The signed-in user",
        responses={200: enveloped("The user", ref("CurrentUser"))}),
    "DELETE /api/auth/account": Operation(
        operation_id="deleteAccount", tag="auth", summary="Delete the signed-in user's account",
        responses={200: enveloped("Removed: subscriptions canceled at period end, the Cognito user, images, "
                                  "counters, credit packs, jobs, sessions", ref("AccountDeleted"), headers={
                                      "Set-Cookie": {"description": "The session cookies cleared", "schema": text()}})},
        errors={400: "Stripe refused to cancel a subscription", 502: "Stripe failed (`details.retryable`)"}),
    "POST /api/keys": Operation(
        operation_id="createApiKey", tag="keys", summary="Create a personal API key (shown once)",
        responses={201: {**enveloped("The key, with `key` itself: the only time it is shown (the store keeps its "
                                     "hash)", ref("NewApiKey")), "links": KEY_LINKS}},
        errors={409: f"The user already has {MAX_ACTIVE_KEYS} active keys: revoke one first "
                     "(`details.maxActiveKeys`)"}),
    "GET /api/keys": Operation(
        operation_id="listApiKeys", tag="keys", summary="The signed-in user's API keys, newest first",
        responses={200: enveloped("Every key of the user, revoked ones with `revokedAt`; never a key or its hash",
                                  ref("ApiKeyList"))}),
    f"DELETE /api/keys/{{{KEY_ID}}}": Operation(
        operation_id="revokeApiKey", tag="keys", summary="Revoke an API key (idempotent)",
        responses={200: enveloped("The key, `revokedAt` set: it stops working at once", ref("ApiKey"))},
        errors={404: "No key of this user with this id (someone else's, or none)"}),
    "GET /r2-ai/{key+}": image_operation("GET"),
    "HEAD /r2-ai/{key+}": image_operation("HEAD"),
}

TAGS = (
    ("enhancement", "Enhance an image now, and the models"),
    ("uploads", "Presigned S3 uploads for images larger than a Lambda request"),
    ("jobs", "Enhancements run by the workflow: create, list, poll, cancel, delete"),
    ("usage", "What the caller has used and may use"),
    ("billing", "Stripe Checkout for plans and credit packs, and the customer portal"),
    ("auth", "Sign-in through Cognito's managed login, the session, account deletion"),
    ("keys", "Personal API keys: created, listed and revoked with the session; sent as `Authorization: Bearer`"),
    ("images", "Stored originals and results through the API"),
    ("webhooks", "Signed callbacks from Replicate and Stripe (no origin or CSRF check: the signature instead)"),
)


# --- components --------------------------------------------------------------------------------------------

def _data_schemas() -> dict[str, Schema]:
    from enhancer.domain.plans import OwnerType, Plan

    plans = [plan.value for plan in Plan]
    charge_part = number("Credits, to a tenth")
    return {
        "Charge": obj({"total": charge_part, "planPortion": charge_part, "creditsPortion": charge_part},
                      description="What one enhancement cost: the part the monthly allowance covered and the part "
                                  "paid from credit packs"),
        "DailyUsage": obj({"used": integer(minimum=0), "limit": integer(), "remaining": integer(minimum=0),
                           "resetAt": nullable(TIMESTAMP)},
                          description="The 24-hour window that starts at the first use (`resetAt` null: no window "
                                      "open)"),
        "MonthlyUsage": obj({"used": number("Credits used this UTC month, to a tenth"),
                             "limit": integer("The plan's monthly allowance"),
                             "remaining": number(), "resetAt": TIMESTAMP}),
        "Limits": obj({"user": integer("The free plan's daily cap"), "guest": integer("Guests' daily cap")}),
        "Entitlements": obj({"monthlyImages": integer(), "dailyBurstCap": integer(), "maxUpscale": integer(),
                             "faceEnhance": boolean()}),
        "UsageOverview": obj(
            {"ownerType": text(enum=[owner.value for owner in OwnerType]), "usage": ref("DailyUsage"),
             "monthlyUsage": ref("MonthlyUsage"), "limits": ref("Limits"), "entitlements": ref("Entitlements")},
            {"plan": text("Signed-in users only", enum=plans),
             "creditsBalanceTenths": integer("Signed-in users only: the active credit packs, in tenths")}),
        "Enhancement": obj({"model": text(enum=_model_slugs()), "imageUrl": URL, "originalUrl": URL,
                            "usage": ref("DailyUsage"), "limits": ref("Limits"), "entitlements": ref("Entitlements"),
                            "charge": ref("Charge")},
                           description="`imageUrl` and `originalUrl` go through the image proxy (`/r2-ai/…`)"),
        "Quote": obj({"dryRun": {"const": True}, "model": text(enum=_model_slugs()), "charge": ref("Charge"),
                      "affordable": boolean("Whether the real call would be charged now"),
                      "refusal": nullable(ref("Error")), "entitlements": ref("Entitlements")},
                     description="A dry run's answer: what the real call would charge (shaped as its `charge`) "
                                 "and, when it would be refused, `affordable: false` and the error it would "
                                 "answer (`refusal`, e.g. `details.scope` daily, monthly, guestIp, guestBudget). "
                                 "Nothing was stored, reserved or charged"),
        "EnhancementOrQuote": {"anyOf": [ref("Enhancement"), ref("Quote")],
                               "description": "`Enhancement`, or `Quote` when `dryRun` was true"},
        "ModelOption": obj({"type": text(enum=["int", "float", "bool", "text"])},
                           {"choices": {"type": "array", "items": integer()}, "min": number(), "max": number(),
                            "maxLength": integer(), "default": {}}),
        "Model": obj({"slug": text(), "label": text(), "description": text(), "provider": text(),
                      "providerRef": text("The pinned Replicate reference"), "supportsScale": boolean(),
                      "supportsFaceEnhance": boolean(),
                      "options": {"type": "object", "additionalProperties": ref("ModelOption")},
                      "aliases": {"type": "array", "items": text()},
                      "available": boolean("Whether the provider in use runs it")}),
        "ModelCatalogue": obj({
            "models": {"type": "array", "items": ref("Model")},
            "flags": obj({"creditsCta": boolean(), "planGating": boolean(),
                          "developmentSignIn": boolean("The local stack's development sign-in answers")}),
            "provider": nullable(text(enum=["replicate", "local", "echo"])),
            "enhancementAvailable": boolean()}),
        "UploadTicket": obj({"uploadKey": text(), "url": URL,
                             "fields": {"type": "object", "additionalProperties": text(),
                                        "description": "Post these form fields with the file (last) to `url`"},
                             "contentType": text(enum=UPLOAD_TYPES), "maxBytes": integer(),
                             "expiresAt": TIMESTAMP}),
        "ImageRef": obj({"url": URL}),
        "JobError": obj({"type": text(), "message": text()}),
        "Job": obj({"id": text(), "status": text(enum=JOB_STATUSES), "model": text(),
                    "options": {"type": "object", "description": "The options given, with the result's format "
                                                                 "as decided at create: `output_format` (png, jpeg, "
                                                                 "webp) and, for jpeg and webp, `quality`"},
                    "charge": ref("Charge"), "input": ref("ImageRef"), "output": nullable(ref("ImageRef")),
                    "error": nullable(ref("JobError")), "createdAt": TIMESTAMP, "startedAt": nullable(TIMESTAMP),
                    "completedAt": nullable(TIMESTAMP), "canceledAt": nullable(TIMESTAMP)},
                   {"callback": ref("JobCallback")}),
        "JobCallback": obj(
            {"url": URL, "delivered": boolean("An attempt got a 2xx"),
             "attempts": {"type": "array", "maxItems": 20, "items": ref("CallbackAttempt"),
                          "description": "Every delivery attempt so far, oldest first"}},
            description="Only on a job created with a `callbackUrl` (README \"Completion callbacks\")"),
        "CallbackAttempt": obj(
            {"at": TIMESTAMP, "ms": integer("How long the attempt took", minimum=0)},
            {"status": integer("The receiver's HTTP status (2xx: delivered; redirects are not followed)"),
             "error": text("Why no response came: `timed out`, `connection failed`, `TLS failed`, "
                           "`no public address`, `does not resolve`, …")}),
        "JobPage": obj({"jobs": {"type": "array", "items": ref("Job")},
                        "nextCursor": nullable(text("Pass as `cursor` for the next page"))}),
        "JobDeleted": obj({"id": text(), "deleted": {"const": True},
                           "imagesRemoved": {"type": "array", "items": text()}}),
        "Received": obj({"received": {"const": True}}),
        "StripeReceived": obj({"received": {"const": True}}, description="Not in the envelope"),
        "CheckoutUrl": obj({"url": URL}),
        "SignedOut": obj({"signedOut": {"const": True}, "hadSession": boolean(),
                          "logoutUrl": nullable(URL)}),
        "User": obj({"id": text(), "email": text(), "plan": text(enum=plans)}),
        "CurrentUser": obj({"user": ref("User")}),
        "AccountDeleted": obj({"deleted": {"const": True}, "removed": obj({
            "subscriptionsCanceled": {"type": "array", "items": text()}, "signInIdentity": boolean(),
            "images": integer(), "counters": integer(), "jobs": integer(), "apiKeys": integer(),
            "sessions": integer(), "user": boolean()})}),
        **_key_schemas(),
    }


def _key_schemas() -> dict[str, Schema]:
    moment = text("ISO-8601 UTC with `Z`, to the microsecond", format="date-time")
    key = {
        "id": text("The key's id (a UUID)"), "name": text(minLength=1, maxLength=64),
        "prefix": text(f"The key's first {DISPLAY_PREFIX_CHARS} characters, to tell keys apart",
                       minLength=DISPLAY_PREFIX_CHARS, maxLength=DISPLAY_PREFIX_CHARS),
        "scopes": {"type": "array", "items": text(enum=[scope.value for scope in Scope]), "minItems": 1},
        "createdAt": moment, "lastUsedAt": nullable(moment), "revokedAt": nullable(moment),
    }
    return {
        "ApiKey": obj(key, description="A personal API key as its owner sees it: never the key or its hash. "
                                       "`lastUsedAt` is kept to the minute"),
        "NewApiKey": obj({**key, "key": text(f"The key itself: `{KEY_PREFIX}` and 43 characters of URL-safe "
                                             "base64. Send it as `Authorization: Bearer <key>`; it is never shown "
                                             "again", pattern=f"^{KEY_PREFIX}[A-Za-z0-9_-]{{43}}$")}),
        "ApiKeyList": obj({"keys": {"type": "array", "items": ref("ApiKey")},
                           "callbackSigningSecret": text("The secret that signs this user's job callbacks "
                                                         "(Standard Webhooks, `whsec_` + base64)",
                                                         pattern=r"^whsec_[A-Za-z0-9+/]{43}=$")}),
    }


def envelope_name(error_type: str) -> str:
    return "".join(part.capitalize() for part in error_type.split("_")) + "Envelope"


def _error_schemas() -> dict[str, Schema]:
    from enhancer.http.envelope import STATUS_BY_TYPE

    schemas: dict[str, Schema] = {
        "Error": obj({"type": text("Decides the status", enum=list(STATUS_BY_TYPE)),
                      "message": text("English, for people")},
                     {"details": {"type": "object", "description": "What a client can act on: `field`, `issues`, "
                                                                   "`scope`/`used`/`limit`/`resetAt`, `retryable`"}}),
        "ErrorEnvelope": obj({"success": {"const": False}, "error": ref("Error")}),
    }
    for error_type, status in STATUS_BY_TYPE.items():
        schema: Schema = {"allOf": [ref("ErrorEnvelope")], "description": f"Status {status}",
                          "properties": {"error": {"properties": {"type": {"const": error_type}}}}}
        if error_type == "rate_limit":
            schema["required"] = ["retryAfter"]
            schema["properties"]["retryAfter"] = integer("Seconds until a retry may succeed (as `Retry-After`)",
                                                         minimum=1)
        schemas[envelope_name(error_type)] = schema
    return schemas


def _headers() -> dict[str, Any]:
    from enhancer.http.security import SECURITY_HEADERS

    headers: dict[str, Any] = {
        name: {"description": "On every response, errors included", "required": True,
               "schema": {"type": "string", "const": value}}
        for name, value in SECURITY_HEADERS}
    headers["Cache-Control"] = {"description": "`no-store` unless the route allows caching", "required": True,
                                "schema": text()}
    headers["Retry-After"] = {"description": "Seconds after which the same request may succeed",
                              "schema": integer(minimum=1)}
    headers["Allow"] = {"description": "The methods the path serves", "required": True, "schema": text()}
    headers["SetGuestCookie"] = {
        "description": "`guest_id=<uuid>.<signature>` (HttpOnly, SameSite=Lax, Secure on https, 180 days) when the "
                       "request had no valid guest cookie and no session",
        "schema": text()}
    return headers


def _security_schemes() -> dict[str, Any]:
    from enhancer.http.cookies import CSRF_COOKIE, CSRF_HEADER, GUEST_COOKIE, SESSION_COOKIES

    host_session, session = SESSION_COOKIES
    assert CSRF_HEADER == "x-csrf-token"
    return {
        "hostSession": {"type": "apiKey", "in": "cookie", "name": host_session,
                        "description": "The session (https: Strict, Secure), set by the sign-in callback"},
        "session": {"type": "apiKey", "in": "cookie", "name": session,
                    "description": "The same session (Lax), for top-level navigations and for http in development"},
        "guest": {"type": "apiKey", "in": "cookie", "name": GUEST_COOKIE,
                  "description": "A guest's identity, issued and signed by the service (a made-up or altered one is "
                                 "replaced by a new guest)"},
        "csrfCookie": {"type": "apiKey", "in": "cookie", "name": CSRF_COOKIE,
                       "description": "CSRF double submit: any token the browser chooses, equal to `X-CSRF-Token`"},
        "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                       "description": "CSRF double submit: equal to the `csrf_token` cookie"},
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "A personal API key (`POST /api/keys`) as `Authorization: Bearer enh_…`: the "
                                  "caller is its user, cookies are ignored, no origin or CSRF check; only on the "
                                  "operations that list it, each needing one of its scopes"},
    }


ORIGIN_PARAMETERS = {
    "Origin": header("Origin", "Unsafe methods: this site's origin or one of `ALLOWED_ORIGINS` (an opaque `null` "
                               "is refused); without it, `Referer` must name such an origin. Browsers send it.",
                     text()),
    "Referer": header("Referer", "Read for the origin only when `Origin` is absent", text()),
}

DESCRIPTION = """\
The AI image enhancer's HTTP API: one AWS Lambda function per route behind an API Gateway HTTP API
(`python -m local` serves the same routes, and this document at `/openapi.json`). Generated from the routers by
`python -m ops.openapi`; `python -m ops.openapi --check` fails when it is stale.

- **Envelope**: `{"success": true, "data": …}` or `{"success": false, "error": {"type", "message", "details"?}}`;
  each error type has one status (the `…Envelope` schemas). 429 also carries `Retry-After` and a top-level
  `retryAfter`. The one exception: Stripe's webhook answers `{"received": true}` bare.
- **Every response** carries `X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`,
  `Strict-Transport-Security`, `Permissions-Policy` and, unless the route allows caching, `Cache-Control: no-store`.
- **Unsafe methods** (POST, PUT, PATCH, DELETE) need `Origin` (else `Referer`) equal to the request's own origin or
  one of `ALLOWED_ORIGINS`, and the CSRF double submit: header `X-CSRF-Token` equal to cookie `csrf_token`
  (the security requirements `csrfCookie` + `csrfHeader`); otherwise 403. The signed webhooks check their
  signature instead.
- **Identity**: the session cookie (`__Host-session`, then `session_id`), else the guest cookie `guest_id`,
  issued (`Set-Cookie`) when missing or not the service's own. On the operations whose security lists `apiKey`,
  `Authorization: Bearer <personal API key>` instead: the key alone says who calls (no cookies, no origin or
  CSRF check), and it needs a scope the operation admits (else 403); a key on any other operation is 401.
- **Any other method** on a documented path answers 405 with `Allow` (`components.responses.MethodNotAllowed`);
  **any other path** the 404 envelope (`components.responses.NotFound`). Paths are matched percent-decoded once.
- **Image keys** span several path segments: the deployed route is `/r2-ai/{key+}`, documented as `/r2-ai/{key}`.
- **Bodies** over 6 MB never reach a function: API Gateway answers 413 with its own body (the local stack in the
  envelope). Larger images go through `POST /api/ai-image/uploads`. A body must come with a `Content-Length`:
  one sent chunked is refused with 411 before it reaches a function.
"""


# --- assembling the document --------------------------------------------------------------------------------

CHUNKED_BODY = "The body is sent chunked (`Transfer-Encoding: chunked`) rather than with a `Content-Length`"
STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               405: "Method Not Allowed", 409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
               429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _header_refs(names: list[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _common_headers() -> dict[str, Any]:
    from enhancer.http.security import SECURITY_HEADERS

    return _header_refs([name for name, _ in SECURITY_HEADERS] + ["Cache-Control"])


def _error_response(status: int, reasons: list[str], *, guest_cookie: bool) -> dict[str, Any]:
    from enhancer.http.envelope import error_type_for

    error_type = error_type_for(status)
    headers = _common_headers()
    if status == 429:
        headers["Retry-After"] = {**_headers()["Retry-After"], "required": True}
    elif status in (409, 502, 503):
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if guest_cookie:
        headers["Set-Cookie"] = {"$ref": "#/components/headers/SetGuestCookie"}
    return {"description": f"`{error_type}` when:\n" + "\n".join(f"- {reason}" for reason in reasons),
            "headers": headers, "content": {JSON: {"schema": ref(envelope_name(error_type))}}}


def _limiter_text(keyed: str, limiter: Any) -> str:
    window = {60: "minute", 3600: "hour"}.get(limiter.window_seconds, f"{limiter.window_seconds} s")
    return f"More than {limiter.max_requests} requests per {window} in the `{limiter.name}` window, {keyed}"


IDENTITY_SCHEMES: dict[str | None, tuple[tuple[str, ...], ...]] = {
    "signedIn": (("hostSession",), ("session",)),
    "identity": (("hostSession",), ("session",), ("guest",), ()),  # () : none yet, a guest cookie is issued
    "sessions": (("hostSession",), ("session",), ()),
    None: (),
}


def _security(cookies: str | None, csrf: bool, *, takes_key: bool = False) -> list[dict[str, list[str]]] | None:
    """The operation's security requirements: one alternative per way of saying who the caller is, each with the
    CSRF double submit where the route checks it; an API key, where the route takes one, alone (no CSRF)."""
    alternatives = [list(schemes) for schemes in IDENTITY_SCHEMES[cookies]]
    if csrf:
        alternatives = [[*schemes, "csrfCookie", "csrfHeader"] for schemes in alternatives or [[]]]
    if takes_key:
        # A public route (no cookie scheme) takes a key and needs none: the key, or nothing.
        alternatives = [["apiKey"], *(alternatives or [[]])]
    return [{scheme: [] for scheme in schemes} for schemes in alternatives] or None


def build_operation(routed: RoutedOperation, generated: dict[str, Any], spec: Operation) -> dict[str, Any]:
    from enhancer.http.key_routes import KEY_ROUTES

    facts = route_facts(routed.route)
    checks_origin = routed.app.verify_origin and routed.method in {"POST", "PUT", "PATCH", "DELETE"}
    cookies = spec.cookies or ("signedIn" if facts.signed_in else "identity" if facts.identity else None)
    guest_cookie = cookies == "identity"
    scopes = KEY_ROUTES.get((routed.method, routed.template_path))

    reasons: dict[int, list[str]] = {}
    if scopes is None:
        reasons.setdefault(401, []).append("An `Authorization: Bearer` API key was sent: keys are not accepted "
                                           "here")
    else:
        reasons.setdefault(401, []).append("The API key (`Authorization: Bearer`) is malformed, unknown or revoked")
        reasons.setdefault(403, []).append("The API key has none of the scopes this route admits ("
                                           + ", ".join(f"`{scope.value}`" for scope in sorted(scopes))
                                           + "; `details.requiredScopes`)")
    if facts.pydantic_body:
        reasons.setdefault(400, []).append("The JSON body does not fit its schema (`details.issues`: each "
                                           "problem's path and message)")
    if facts.signed_in:
        reasons.setdefault(401, []).append("Not signed in")
    if checks_origin:
        reasons.setdefault(403, []).append("The Origin (else Referer) is not this site's or an allowed one, or "
                                           "`X-CSRF-Token` does not equal the `csrf_token` cookie")
    for keyed, limiter in facts.limiters:
        reasons.setdefault(429, []).append(_limiter_text(keyed, limiter))
    for status, when in spec.errors.items():
        reasons.setdefault(status, []).append(when)
    reasons.setdefault(500, []).append("An unexpected error (a bug); the message says nothing more")
    reasons.setdefault(503, []).insert(0, "A backing service (DynamoDB, S3, the database, a secret) cannot be "
                                          "reached, or a setting is invalid")

    responses: dict[str, Any] = {}
    for status, answer in spec.responses.items():
        headers = {**_common_headers(), **answer.get("headers", {})}
        if guest_cookie and "Set-Cookie" not in headers:
            headers["Set-Cookie"] = {"$ref": "#/components/headers/SetGuestCookie"}
        responses[str(status)] = {**answer, "headers": headers}
    for status in sorted(reasons):
        responses[str(status)] = _error_response(status, reasons[status], guest_cookie=guest_cookie)
    if routed.method == "HEAD":
        for answer in responses.values():
            answer.pop("content", None)

    parameters = [dict(parameter) for parameter in generated.get("parameters", [])]
    # Routes read their path parameters themselves (http/requests.py:path_parameter), so FastAPI does not list
    # them: each one of the path not declared below is a required string, as FastAPI would describe `name: str`.
    named = {parameter["name"] for parameter in [*parameters, *spec.parameters] if parameter.get("in") == "path"}
    parameters += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                   for name in re.findall(r"\{([A-Za-z0-9_]+)\}", openapi_path(routed.template_path))
                   if name not in named]
    for parameter in parameters:
        parameter.get("schema", {}).pop("title", None)
        if parameter["name"] == JOB_ID and parameter["in"] == "path":
            parameter["description"] = "The job's id"
        if parameter["name"] == KEY_ID and parameter["in"] == "path":
            parameter["description"] = "The key's id (`id` in the key routes' answers)"
    declared = {(parameter["name"], parameter["in"]) for parameter in parameters}
    parameters += [parameter for parameter in spec.parameters if (parameter["name"], parameter["in"]) not in declared]
    if checks_origin:
        parameters += [{"$ref": f"#/components/parameters/{name}"} for name in ORIGIN_PARAMETERS]

    operation: dict[str, Any] = {
        "operationId": spec.operation_id,
        "tags": [spec.tag],
        "summary": spec.summary,
        "description": inspect.cleandoc(sys.modules[routed.route.endpoint.__module__].__doc__ or ""),
        "responses": responses,
        "x-route-key": routed.route_key,
        "x-function": routed.function_id,
    }
    if parameters:
        operation["parameters"] = parameters
    body = spec.request_body or generated.get("requestBody")
    if body is None and facts.body_model is not None:
        body = {"content": {JSON: {"schema": ref(facts.body_model.__name__)}}, "required": True}
    if body:
        operation["requestBody"] = body
        # Answered before any function runs, so no guest cookie (see the document's notes on bodies).
        responses["411"] = _error_response(411, [CHUNKED_BODY], guest_cookie=False)
        operation["responses"] = dict(sorted(responses.items()))
    security = _security(cookies, checks_origin, takes_key=scopes is not None)
    if security:
        operation["security"] = security
    return operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str):
            yield target
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _prune_schemas(document: dict[str, Any]) -> None:
    """Drop the schemas nothing refers to (FastAPI's 422 `HTTPValidationError`, which the API never answers)."""
    schemas = document["components"]["schemas"]
    prefix = "#/components/schemas/"
    wanted: set[str] = set()
    rest = {key: value for key, value in document.items() if key != "components"}
    rest["components"] = {key: value for key, value in document["components"].items() if key != "schemas"}
    pending = [target[len(prefix):] for target in _refs(rest) if target.startswith(prefix)]
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        pending += [target[len(prefix):] for target in _refs(schemas[name]) if target.startswith(prefix)]
    document["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in wanted}


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def build_document(template: dict[str, Any] | None = None) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    routed = routed_operations(template)
    missing = sorted({r.route_key for r in routed} - set(OPERATIONS))
    extra = sorted(set(OPERATIONS) - {r.route_key for r in routed})
    if missing or extra:
        raise RuntimeError(f"ops/openapi.py OPERATIONS must describe exactly the deployed routes: "
                           f"undescribed {missing}, not deployed {extra}")
    routes = list({id(r.route): r.route for r in routed}.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI's "Duplicate Operation ID" for GET + HEAD of one route
        generated = get_openapi(title="generated", version="0", openapi_version="3.1.0", routes=routes)

    paths: dict[str, dict[str, Any]] = {}
    for operation in routed:
        fastapi_operation = generated["paths"][operation.path][operation.method.lower()]
        paths.setdefault(operation.path, {})[operation.method.lower()] = build_operation(
            operation, fastapi_operation, OPERATIONS[operation.route_key])

    schemas = {**generated.get("components", {}).get("schemas", {}), **body_model_schemas(routes), **_data_schemas(),
               **enhancement_schemas(),
               **_error_schemas()}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "AI Image Enhancer API", "version": project_version(), "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "The API's own origin (the local stack: http://127.0.0.1:8787)"}],
        "tags": [{"name": name, "description": description} for name, description in TAGS],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": _headers(),
            "parameters": ORIGIN_PARAMETERS,
            "securitySchemes": _security_schemes(),
            "responses": {
                "MethodNotAllowed": {
                    "description": "`method_not_allowed`: any method a documented path does not serve",
                    "headers": {**_common_headers(), "Allow": {"$ref": "#/components/headers/Allow"}},
                    "content": {JSON: {"schema": ref(envelope_name("method_not_allowed"))}}},
                "NotFound": {
                    "description": "`not_found`: any path the API does not serve",
                    "headers": _common_headers(),
                    "content": {JSON: {"schema": ref(envelope_name("not_found"))}}},
            },
        },
    }
    _prune_schemas(document)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not what the code generates")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"default: {DOCUMENT.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    expected = render(build_document())
    if args.check:
        current = args.output.read_text() if args.output.exists() else None
        if current != expected:
            print(f"{args.output} is stale: run `python -m ops.openapi`", file=sys.stderr)
            return 1
        print(f"{args.output} is current")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(expected)
    print(f"wrote {args.output} ({sum(len(item) for item in json.loads(expected)['paths'].values())} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
