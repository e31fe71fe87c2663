"""Build a function's ASGI app from its router(s); `enhancer.entrypoints.http_handler` puts the Lambda handler
around it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from enhancer.config import get_settings
from enhancer.domain.errors import AppError, MethodNotAllowed, NotFound, ValidationFailed, validation_issues
from enhancer.http.envelope import error_type_for, failure
from enhancer.http.pipeline import RequestPipeline


async def _app_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, AppError)
    return failure(error)


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        allow = (error.headers or {}).get("Allow", "")
        return failure(MethodNotAllowed([m.strip() for m in allow.split(",") if m.strip()]))
    if error.status_code == 404:
        return failure(NotFound("Not found"))
    if error.status_code == 400:
        return failure(ValidationFailed(str(error.detail)))
    # Any other refusal of the framework's answers with the type of its status, in the one envelope (an
    # unusual status, say 415, is told as the closest type: 400 validation_error).
    generic = AppError(str(error.detail))
    generic.type = error_type_for(error.status_code)
    return failure(generic)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return failure(ValidationFailed("Invalid parameters", details={"issues": validation_issues(error.errors())}))


def create_app(*routers: APIRouter, verify_origin: bool = True) -> FastAPI:
    """`verify_origin=False` only for routes that authenticate by signature (the two webhooks)."""
    settings = get_settings()  # invalid configuration fails here, at cold start
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(RequestPipeline, verify_origin=verify_origin, allowed_origins=settings.allowed_origins)
    return app
