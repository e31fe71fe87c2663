"""Fixed-window limiter arithmetic and the limiter table (docs/architecture.md §3)."""

from __future__ import annotations

import pytest

from enhancer.adapters.dynamo_keys import rate_window_key
from enhancer.domain import rate_limits
from enhancer.domain.rate_limits import AI_GENERATE, AI_JOBS, AI_JOBS_POLL, API, SENSITIVE_ACTION, Limiter


@pytest.mark.parametrize("limiter, name, max_requests, window", [
    (API, "api", 30, 60),
    (AI_GENERATE, "aiGenerate", 15, 60),
    (AI_JOBS, "aiJobs", 10, 60),
    (AI_JOBS_POLL, "aiJobsPoll", 120, 60),
    (SENSITIVE_ACTION, "sensitiveAction", 5, 3600),
])
def test_limiter_table(limiter: Limiter, name: str, max_requests: int, window: int) -> None:
    assert (limiter.name, limiter.max_requests, limiter.window_seconds) == (name, max_requests, window)


def test_limiter_names_are_unique() -> None:
    limiters = [v for v in vars(rate_limits).values() if isinstance(v, Limiter)]
    assert len({limiter.name for limiter in limiters}) == len(limiters) >= 5


@pytest.mark.parametrize("limiter, now, start", [
    (API, 960, 960),
    (API, 961, 960),
    (API, 1019.999, 960),
    (API, 1020, 1020),
    (API, 0, 0),
    (SENSITIVE_ACTION, 7200, 7200),
    (SENSITIVE_ACTION, 10_799.5, 7200),
    (SENSITIVE_ACTION, 10_800, 10_800),
])
def test_window_start(limiter: Limiter, now: float, start: int) -> None:
    assert limiter.window_start(now) == start
    assert isinstance(limiter.window_start(now), int)


def _key(limiter: Limiter, client: str, now: float) -> str:
    return rate_window_key(limiter.name, client, limiter.window_start(now))


@pytest.mark.parametrize("limiter, client, now, key", [
    (API, "203.0.113.9", 1000, "rl:api:203.0.113.9:960"),
    (AI_GENERATE, "203.0.113.9|u:user-1", 1_716_000_030.5, "rl:aiGenerate:203.0.113.9|u:user-1:1716000000"),
    (AI_JOBS_POLL, "anonymous", 59, "rl:aiJobsPoll:anonymous:0"),
    (SENSITIVE_ACTION, "198.51.100.7", 3601, "rl:sensitiveAction:198.51.100.7:3600"),
])
def test_key_format(limiter: Limiter, client: str, now: float, key: str) -> None:
    assert _key(limiter, client, now) == key


def test_key_is_the_same_within_a_window_and_changes_with_the_next() -> None:
    assert _key(API, "c", 960) == _key(API, "c", 1019.9)
    assert _key(API, "c", 1019.9) != _key(API, "c", 1020)


def test_key_differs_by_limiter_and_client() -> None:
    assert _key(API, "c", 960) != _key(AI_JOBS, "c", 960)
    assert _key(API, "c1", 960) != _key(API, "c2", 960)


@pytest.mark.parametrize("limiter, now, retry", [
    (API, 960, 60),  # exactly at the window start: the whole window
    (API, 961, 59),
    (API, 960.2, 60),  # 59.8 s left rounds up
    (API, 1019, 1),
    (API, 1019.5, 1),
    (API, 1019.999, 1),  # never 0
    (SENSITIVE_ACTION, 3600, 3600),
    (SENSITIVE_ACTION, 3601, 3599),
    (SENSITIVE_ACTION, 7199.01, 1),
    (AI_JOBS, 1_716_000_000.25, 60),
])
def test_retry_after_is_the_ceiling_of_the_rest_of_the_window(limiter: Limiter, now: float, retry: int) -> None:
    assert limiter.retry_after(now) == retry


@pytest.mark.parametrize("limiter", [API, SENSITIVE_ACTION])
def test_retry_after_is_always_between_1_and_the_window(limiter: Limiter) -> None:
    base = 1_716_000_000
    for step in range(0, limiter.window_seconds * 4):
        now = base + step * 0.25
        retry = limiter.retry_after(now)
        assert 1 <= retry <= limiter.window_seconds
        assert now + retry >= limiter.window_start(now) + limiter.window_seconds
