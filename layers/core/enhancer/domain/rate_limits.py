"""Fixed-window rate limits (docs/architecture.md §3): the limiter table and the window arithmetic."""

from __future__ import annotations

import math

from enhancer.domain.values import value_class


@value_class
class Limiter:
    name: str
    max_requests: int
    window_seconds: int

    def window_start(self, now: float) -> int:
        return int(now // self.window_seconds) * self.window_seconds

    def retry_after(self, now: float) -> int:
        """Whole seconds until the current window closes; at least 1."""
        return max(1, math.ceil(self.window_start(now) + self.window_seconds - now))


API = Limiter("api", 30, 60)
AI_GENERATE = Limiter("aiGenerate", 15, 60)
AI_JOBS = Limiter("aiJobs", 10, 60)
AI_JOBS_POLL = Limiter("aiJobsPoll", 120, 60)
SENSITIVE_ACTION = Limiter("sensitiveAction", 5, 3600)
# Presigned upload forms for guests on one IP, whatever their cookies: each lets 10 MiB into the bucket.
GUEST_UPLOADS_PER_IP = Limiter("guestUploadsIp", 60, 3600)
