"""Daily burst window and monthly allowance arithmetic (docs/architecture.md §4), for reading usage."""

from __future__ import annotations

from dataclasses import field

from enhancer.domain.clock import iso_utc, next_month_start
from enhancer.domain.credits import CreditPack, balance_tenths
from enhancer.domain.plans import Entitlements
from enhancer.domain.values import value_class

DAILY_WINDOW_SECONDS = 24 * 60 * 60
TENTHS_PER_CREDIT = 10


def _credits(tenths: int) -> int | float:
    """Tenths as credits: a whole number stays an int (`3`, not `3.0`), otherwise one decimal."""
    return tenths // TENTHS_PER_CREDIT if tenths % TENTHS_PER_CREDIT == 0 else round(tenths / TENTHS_PER_CREDIT, 1)


@value_class
class UsageSnapshot:
    """The counters stored for one owner, as read; the window logic below decides what they mean now."""

    daily_count: int = 0
    daily_reset_at: int | None = None  # epoch seconds; the window ends here
    monthly_used_tenths: int = 0
    credit_packs: list[CreditPack] = field(default_factory=list)


@value_class
class DailyUsage:
    used: int
    limit: int
    reset_at: int | None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def as_response(self) -> dict[str, object]:
        return {"used": self.used, "limit": self.limit, "remaining": self.remaining,
                "resetAt": iso_utc(self.reset_at)}


@value_class
class MonthlyUsage:
    used_tenths: int
    limit_images: int
    reset_at: int

    @property
    def used(self) -> int | float:
        return _credits(self.used_tenths)

    @property
    def remaining(self) -> int | float:
        return _credits(max(0, self.limit_images * TENTHS_PER_CREDIT - self.used_tenths))

    def as_response(self) -> dict[str, object]:
        return {"used": self.used, "limit": self.limit_images, "remaining": self.remaining,
                "resetAt": iso_utc(self.reset_at)}


def daily_usage(snapshot: UsageSnapshot, entitlements: Entitlements, now: float) -> DailyUsage:
    """A window whose end has passed counts as unused, whether or not TTL has removed it yet."""
    if snapshot.daily_reset_at is None or snapshot.daily_reset_at <= now:
        return DailyUsage(used=0, limit=entitlements.daily_burst_cap, reset_at=None)
    return DailyUsage(used=max(0, snapshot.daily_count), limit=entitlements.daily_burst_cap,
                      reset_at=snapshot.daily_reset_at)


def monthly_usage(snapshot: UsageSnapshot, entitlements: Entitlements, now: float) -> MonthlyUsage:
    return MonthlyUsage(used_tenths=max(0, snapshot.monthly_used_tenths),
                        limit_images=entitlements.monthly_images, reset_at=next_month_start(now))


def credits_balance(snapshot: UsageSnapshot, now: float) -> int:
    return balance_tenths(snapshot.credit_packs, now)
