"""The rate-limit dependency: one atomic DynamoDB update per request (DESIGN §3)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Depends, Request

from enhancer.domain.errors import RateLimited
from enhancer.domain.identity import mask_id
from enhancer.domain.rate_limits import Limiter
from enhancer.http import deps
from enhancer.http.identity import CurrentIdentity
from enhancer.observability import logger, metrics

# Items outlive their window a little, so a late request never recreates a window without TTL.
_TTL_GRACE_SECONDS = 60


def rate_limit(limiter: Limiter) -> Any:
    """Keyed by client IP and the caller (user id or guest key)."""

    async def check(request: Request, identity: CurrentIdentity) -> None:
        _count(request, limiter, identity.rate_limit_subject)

    return Depends(check)


def guest_rate_limit_by_ip(limiter: Limiter) -> Any:
    """For guests only, keyed by client IP alone (signed-in users pass without a count)."""

    async def check(request: Request, identity: CurrentIdentity) -> None:
        if identity.user is None:
            _count(request, limiter, "guests")

    return Depends(check)


def rate_limit_by_ip(limiter: Limiter) -> Any:
    """Keyed by client IP alone, for public routes that need no identity (and so no database)."""

    async def check(request: Request) -> None:
        _count(request, limiter, "anonymous")

    return Depends(check)


def _count(request: Request, limiter: Limiter, subject: str) -> None:
    now = time.time()
    client_ip = request.client.host if request.client else "unknown"
    key = limiter.key(f"{client_ip}:{subject}", now)
    expires_at = limiter.window_start(now) + limiter.window_seconds + _TTL_GRACE_SECONDS
    count = deps.counters().hit_rate_window(key, expires_at)
    if count > limiter.max_requests:
        retry_after = limiter.retry_after(now)
        logger.warning("rate_limit_exceeded", extra={
            "limiter": limiter.name, "max_requests": limiter.max_requests, "path": request.url.path,
            "subject": mask_id(subject), "retry_after": retry_after})
        metrics.add_metric(name="rate_limit_rejected", unit="Count", value=1)
        raise RateLimited(retry_after)
