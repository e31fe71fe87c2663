"""The JSON envelope of every API response (docs/architecture.md §3)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from enhancer.domain.errors import AppError, RateLimited


def success(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status, headers=headers)


def failure(error: AppError) -> JSONResponse:
    body: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    payload: dict[str, Any] = {"success": False, "error": body}
    if isinstance(error, RateLimited):
        payload["retryAfter"] = error.retry_after  # clients of the old system read it at the top level
    return JSONResponse(payload, status_code=error.status, headers=error.headers or None)
