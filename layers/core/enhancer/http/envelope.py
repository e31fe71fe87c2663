"""The JSON envelope of every API response (docs/architecture.md §3)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from enhancer.domain.errors import AppError, MethodNotAllowed, RateLimited

# Each error type has one status (docs/architecture.md §3); nothing outside the HTTP layer knows these.
STATUS_BY_TYPE: dict[str, int] = {
    "validation_error": 400, "auth_error": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413, "rate_limit": 429, "server_error": 500, "provider_error": 502,
    "service_unavailable": 503,
}


def http_status(error: AppError) -> int:
    return STATUS_BY_TYPE[error.type]


def error_type_for(status: int) -> str:
    """The type of an answer given by status alone (a framework's or the standard library's own refusal)."""
    for error_type, mapped in STATUS_BY_TYPE.items():
        if mapped == status:
            return error_type
    return "server_error" if status >= 500 else "validation_error"


def error_headers(error: AppError) -> dict[str, str]:
    headers = {"Allow": ", ".join(error.allowed)} if isinstance(error, MethodNotAllowed) else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def success(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status, headers=headers)


def error_body(error: AppError) -> dict[str, Any]:
    """`{type, message, details?}`: the `error` of a failure, and the `refusal` of a dry run's quote."""
    body: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return body


def failure(error: AppError) -> JSONResponse:
    payload: dict[str, Any] = {"success": False, "error": error_body(error)}
    if isinstance(error, RateLimited):
        payload["retryAfter"] = error.retry_after  # clients of the old system read it at the top level
    return JSONResponse(payload, status_code=http_status(error), headers=error_headers(error) or None)
