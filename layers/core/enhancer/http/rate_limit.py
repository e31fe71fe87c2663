"""The rate-limit dependencies: one atomic DynamoDB update per request (docs/architecture.md §3)."""

from typing import Any

from fastapi import Depends, Request

from enhancer.domain.rate_limits import Limiter
from enhancer.http.dependencies import RateWindowsDep
from enhancer.http.identity import CurrentIdentity
from enhancer.services.rate_limiting import enforce


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limit(limiter: Limiter) -> Any:
    """Keyed by client IP and the caller (user id or guest key)."""

    async def check(request: Request, identity: CurrentIdentity, windows: RateWindowsDep) -> None:
        for subject in identity.rate_limit_subjects:
            enforce(windows, limiter, client_ip(request), subject, path=request.url.path)

    return Depends(check)


def guest_rate_limit_by_ip(limiter: Limiter) -> Any:
    """For guests only, keyed by client IP alone (signed-in users pass without a count)."""

    async def check(request: Request, identity: CurrentIdentity, windows: RateWindowsDep) -> None:
        if identity.user is None:
            enforce(windows, limiter, client_ip(request), "guests", path=request.url.path)

    return Depends(check)


def rate_limit_by_ip(limiter: Limiter) -> Any:
    """Keyed by client IP alone, for public routes that need no identity (and so no database)."""

    async def check(request: Request, windows: RateWindowsDep) -> None:
        enforce(windows, limiter, client_ip(request), "anonymous", path=request.url.path)

    return Depends(check)
