"""Error types the whole application raises: a stable `type`, an English message, details, and when a retry
may succeed. Nothing here knows HTTP: `enhancer.http.envelope` maps each type to its status and headers
(docs/architecture.md §3), and a state machine matches the type (`enhancer.entrypoints.task_handler`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class AppError(Exception):
    """An error a client may see: a stable `type`, an English message and optional details."""

    type: str = "server_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after  # seconds after which the same request may succeed


class ValidationFailed(AppError):
    type = "validation_error"


class AuthRequired(AppError):
    type = "auth_error"


class Forbidden(AppError):
    type = "forbidden"


class NotFound(AppError):
    type = "not_found"


class MethodNotAllowed(AppError):
    type = "method_not_allowed"

    def __init__(self, allowed: tuple[str, ...] | list[str]) -> None:
        super().__init__("Method Not Allowed")
        self.allowed = tuple(allowed)


class PayloadTooLarge(AppError):
    type = "payload_too_large"


class RateLimited(AppError):
    type = "rate_limit"

    retry_after: int

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests, please retry later", retry_after=retry_after)


class ProviderFailed(AppError):
    type = "provider_error"


class ProviderTimedOut(ProviderFailed):
    """The model did not finish within the request's deadline; retrying later may succeed."""

    def __init__(self, message: str = "The enhancement took too long, please retry", *,
                 prediction_id: str | None = None) -> None:
        super().__init__(message, details={"retryable": True}, retry_after=5)
        self.prediction_id = prediction_id  # a remote run left going at the deadline, for a job to carry on


class TooSlowForDeadline(PayloadTooLarge):
    """The model could never finish this image before the request's deadline (decided before it starts): a
    job, which has no such deadline, can take it."""


class Conflict(AppError):
    type = "conflict"


class ServiceUnavailable(AppError):
    type = "service_unavailable"


def validation_issues(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's error list (`ValidationError.errors()`) as the `issues` of a validation error's details:
    where each problem is and what it is, the same for an HTTP body and a workflow task's input."""
    return [{"path": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in errors]


class ConfigurationError(Exception):
    """Raised at start-up when the environment does not describe a valid configuration."""
