"""Build a function's ASGI app from its router(s), and the Lambda handler around it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from enhancer.config import get_settings
from enhancer.domain.errors import AppError, MethodNotAllowed, NotFound, ValidationFailed
from enhancer.http.envelope import failure
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
    generic = AppError(str(error.detail))
    generic.status = error.status_code
    return failure(generic)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    issues = [{"path": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in error.errors()]
    return failure(ValidationFailed("Invalid parameters", details={"issues": issues}))


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


def lambda_handler(*routers: APIRouter, verify_origin: bool = True) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from aws_lambda_powertools.logging import correlation_paths
    from mangum import Mangum

    from enhancer.observability import logger, metrics

    # lifespan="off": Mangum would otherwise run start-up and shutdown on every invocation.
    asgi = Mangum(create_app(*routers, verify_origin=verify_origin), lifespan="off")

    @metrics.log_metrics
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(event, context)

    return handler
