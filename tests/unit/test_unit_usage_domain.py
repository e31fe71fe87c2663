"""Daily burst window and monthly allowance arithmetic (docs/architecture.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enhancer.domain.credits import CreditPack
from enhancer.domain.plans import GUEST_ENTITLEMENTS, PLAN_ENTITLEMENTS, Plan
from enhancer.domain.usage import (
    DailyUsage,
    MonthlyUsage,
    UsageSnapshot,
    credits_balance,
    daily_usage,
    monthly_usage,
)

FREE = PLAN_ENTITLEMENTS[Plan.FREE]
PRO = PLAN_ENTITLEMENTS[Plan.PRO]


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


NOW = ts(2024, 5, 10, 12, 0, 0)


# --- daily window ------------------------------------------------------------------------------

def test_no_daily_item_is_unused_with_no_reset() -> None:
    daily = daily_usage(UsageSnapshot(), FREE, NOW)

    assert (daily.used, daily.limit, daily.remaining, daily.reset_at) == (0, 3, 3, None)


@pytest.mark.parametrize("count, limit_entitlements, remaining", [
    (0, FREE, 3), (1, FREE, 2), (3, FREE, 0), (7, FREE, 0), (12, PRO, 18), (30, PRO, 0),
])
def test_daily_window_in_the_future_counts(count: int, limit_entitlements, remaining: int) -> None:  # type: ignore[no-untyped-def]
    reset = NOW + 3600
    daily = daily_usage(UsageSnapshot(daily_count=count, daily_reset_at=reset), limit_entitlements, NOW)

    assert daily.used == count
    assert daily.limit == limit_entitlements.daily_burst_cap
    assert daily.remaining == remaining
    assert daily.reset_at == reset


@pytest.mark.parametrize("reset_at", [NOW, NOW - 1, NOW - 86_400, 0])
def test_daily_window_that_has_ended_counts_as_unused(reset_at: int) -> None:
    daily = daily_usage(UsageSnapshot(daily_count=3, daily_reset_at=reset_at), FREE, NOW)

    assert (daily.used, daily.remaining, daily.reset_at) == (0, 3, None)


def test_daily_window_one_second_before_its_end_still_counts() -> None:
    daily = daily_usage(UsageSnapshot(daily_count=2, daily_reset_at=NOW + 1), FREE, NOW)
    assert (daily.used, daily.remaining) == (2, 1)


def test_daily_window_with_fractional_now_just_before_reset_counts() -> None:
    daily = daily_usage(UsageSnapshot(daily_count=1, daily_reset_at=NOW), FREE, NOW - 0.5)
    assert daily.used == 1


@pytest.mark.parametrize("used, limit, remaining", [(0, 3, 3), (2, 3, 1), (3, 3, 0), (4, 3, 0), (1000, 3, 0),
                                                   (31, 30, 0)])
def test_daily_remaining_is_never_negative(used: int, limit: int, remaining: int) -> None:
    assert DailyUsage(used=used, limit=limit, reset_at=None).remaining == remaining


def test_negative_stored_count_reads_as_zero() -> None:
    daily = daily_usage(UsageSnapshot(daily_count=-2, daily_reset_at=NOW + 10), FREE, NOW)
    assert (daily.used, daily.remaining) == (0, 3)


def test_daily_response_shape_with_a_window() -> None:
    reset = ts(2024, 5, 11, 8, 30, 15)
    response = daily_usage(UsageSnapshot(daily_count=2, daily_reset_at=reset), FREE, NOW).as_response()

    assert response == {"used": 2, "limit": 3, "remaining": 1, "resetAt": "2024-05-11T08:30:15Z"}
    assert list(response) == ["used", "limit", "remaining", "resetAt"]


def test_daily_response_shape_without_a_window() -> None:
    response = daily_usage(UsageSnapshot(), PRO, NOW).as_response()
    assert response == {"used": 0, "limit": 30, "remaining": 30, "resetAt": None}


# --- monthly allowance -------------------------------------------------------------------------

@pytest.mark.parametrize("tenths, used", [(0, 0.0), (1, 0.1), (3, 0.3), (10, 1.0), (15, 1.5), (25, 2.5),
                                          (37, 3.7), (300, 30.0), (2999, 299.9)])
def test_monthly_tenths_read_as_credits_with_one_decimal(tenths: int, used: float) -> None:
    assert monthly_usage(UsageSnapshot(monthly_used_tenths=tenths), PRO, NOW).used == used


@pytest.mark.parametrize("entitlements, tenths, remaining", [
    (FREE, 0, 30.0), (FREE, 25, 27.5), (FREE, 299, 0.1), (FREE, 300, 0.0), (FREE, 450, 0.0),
    (PRO, 25, 297.5), (GUEST_ENTITLEMENTS, 15, 88.5),
])
def test_monthly_remaining_is_in_credits_and_never_negative(entitlements, tenths: int,  # type: ignore[no-untyped-def]
                                                            remaining: float) -> None:
    monthly = monthly_usage(UsageSnapshot(monthly_used_tenths=tenths), entitlements, NOW)

    assert monthly.remaining == remaining
    assert monthly.limit_images == entitlements.monthly_images


def test_negative_monthly_tenths_read_as_zero() -> None:
    monthly = monthly_usage(UsageSnapshot(monthly_used_tenths=-5), FREE, NOW)
    assert (monthly.used, monthly.remaining) == (0.0, 30.0)


@pytest.mark.parametrize("now, reset", [
    (ts(2024, 5, 10, 12), ts(2024, 6, 1)),
    (ts(2024, 5, 1), ts(2024, 6, 1)),
    (ts(2024, 5, 31, 23, 59, 59), ts(2024, 6, 1)),
    (ts(2024, 2, 29, 12), ts(2024, 3, 1)),
    (ts(2024, 12, 1), ts(2025, 1, 1)),
    (ts(2024, 12, 31, 23, 59, 59), ts(2025, 1, 1)),
])
def test_monthly_reset_is_the_start_of_the_next_utc_month(now: int, reset: int) -> None:
    assert monthly_usage(UsageSnapshot(), FREE, now).reset_at == reset


def test_monthly_response_shape() -> None:
    response = monthly_usage(UsageSnapshot(monthly_used_tenths=25), FREE, ts(2024, 12, 31, 22)).as_response()

    assert response == {"used": 2.5, "limit": 30, "remaining": 27.5, "resetAt": "2025-01-01T00:00:00Z"}
    assert list(response) == ["used", "limit", "remaining", "resetAt"]


def test_monthly_usage_value_object_response() -> None:
    assert MonthlyUsage(used_tenths=10, limit_images=90, reset_at=ts(2024, 6, 1)).as_response() == {
        "used": 1.0, "limit": 90, "remaining": 89.0, "resetAt": "2024-06-01T00:00:00Z"}


# --- credits balance ---------------------------------------------------------------------------

def test_credits_balance_counts_only_active_packs() -> None:
    packs = [
        CreditPack(id="a", units_tenths=1000, created_at=NOW - 100, expires_at=NOW + 100),
        CreditPack(id="b", units_tenths=250, created_at=NOW - 50, expires_at=NOW + 100),
        CreditPack(id="expired", units_tenths=5000, created_at=NOW - 900, expires_at=NOW),
        CreditPack(id="spent", units_tenths=0, created_at=NOW - 10, expires_at=NOW + 100),
    ]
    assert credits_balance(UsageSnapshot(credit_packs=packs), NOW) == 1250


def test_credits_balance_of_no_packs_is_zero() -> None:
    assert credits_balance(UsageSnapshot(), NOW) == 0
