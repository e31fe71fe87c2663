"""Fixed-window rate limits counted in DynamoDB: one atomic update per check (docs/architecture.md §3)."""

from __future__ import annotations

import time

from enhancer.domain.errors import RateLimited
from enhancer.domain.identity import mask_id
from enhancer.domain.rate_limits import Limiter
from enhancer.observability import logger, metrics
from enhancer.services.ports import RateWindows

# Items outlive their window a little, so a late request never recreates a window without TTL.
_TTL_GRACE_SECONDS = 60


def enforce(windows: RateWindows, limiter: Limiter, client_ip: str, subject: str, *, path: str = "",
            now: float | None = None) -> None:
    """Count one request of `subject` from `client_ip`; raises RateLimited past the limiter's maximum."""
    now = time.time() if now is None else now
    window_start = limiter.window_start(now)
    expires_at = window_start + limiter.window_seconds + _TTL_GRACE_SECONDS
    count = windows.hit_rate_window(limiter.name, f"{client_ip}:{subject}", window_start, expires_at)
    if count > limiter.max_requests:
        retry_after = limiter.retry_after(now)
        logger.warning("rate_limit_exceeded", extra={
            "limiter": limiter.name, "max_requests": limiter.max_requests, "path": path,
            "subject": mask_id(subject), "retry_after": retry_after})
        metrics.add_metric(name="rate_limit_rejected", unit="Count", value=1)
        raise RateLimited(retry_after)
