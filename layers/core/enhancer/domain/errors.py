"""Error types the whole application raises; the HTTP layer maps each `type` to its status (docs/architecture.md §3)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error a client may see: a stable `type`, an English message and optional details."""

    type: str = "server_error"
    status: int = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class ValidationFailed(AppError):
    type, status = "validation_error", 400


class AuthRequired(AppError):
    type, status = "auth_error", 401


class Forbidden(AppError):
    type, status = "forbidden", 403


class NotFound(AppError):
    type, status = "not_found", 404


class MethodNotAllowed(AppError):
    type, status = "method_not_allowed", 405

    def __init__(self, allowed: tuple[str, ...] | list[str]) -> None:
        super().__init__("Method Not Allowed", headers={"Allow": ", ".join(allowed)})
        self.allowed = tuple(allowed)


class PayloadTooLarge(AppError):
    type, status = "payload_too_large", 413


class RateLimited(AppError):
    type, status = "rate_limit", 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests, please retry later",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ProviderFailed(AppError):
    type, status = "provider_error", 502


class ProviderTimedOut(ProviderFailed):
    """The model did not finish within the request's deadline; retrying later may succeed."""

    def __init__(self, message: str = "The enhancement took too long, please retry") -> None:
        super().__init__(message, details={"retryable": True}, headers={"Retry-After": "5"})


class ServiceUnavailable(AppError):
    type, status = "service_unavailable", 503


class ConfigurationError(Exception):
    """Raised at start-up when the environment does not describe a valid configuration."""
