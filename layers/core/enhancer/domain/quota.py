"""Quota and credit arithmetic (docs/architecture.md §4), pure: what a charge costs the plan and the credit packs."""

from __future__ import annotations

import calendar
from dataclasses import field
from datetime import UTC, datetime, timedelta

from enhancer.domain.clock import iso_utc, next_month_start
from enhancer.domain.credits import CreditPack, active_packs
from enhancer.domain.errors import AppError, Forbidden
from enhancer.domain.guest_limits import SpendCap, cap_refusal
from enhancer.domain.plans import Entitlements
from enhancer.domain.usage import TENTHS_PER_CREDIT
from enhancer.domain.values import value_class

PACK_LIFETIME_MONTHS = 6
PACK_GRACE_DAYS = 14


class QuotaExceeded(Forbidden):
    """403 with the scope that ran out, how much was used of what limit, and when it resets."""

    def __init__(self, *, scope: str, used: float, limit: float, reset_at: int | None) -> None:
        what = "daily limit" if scope == "daily" else "monthly allowance"
        super().__init__(f"Your {what} is used up ({used:g} of {limit:g})",
                         details={"scope": scope, "used": used, "limit": limit, "resetAt": iso_utc(reset_at)})
        self.scope = scope


class InsufficientCredits(Exception):
    """The active packs hold fewer tenths than asked for."""


@value_class
class ChargeSplit:
    """One charge in tenths: the part the monthly allowance covers and the part paid with credits."""

    plan_tenths: int
    credits_tenths: int

    @property
    def total_tenths(self) -> int:
        return self.plan_tenths + self.credits_tenths

    def as_response(self) -> dict[str, float]:
        return {"total": self.total_tenths / TENTHS_PER_CREDIT,
                "planPortion": self.plan_tenths / TENTHS_PER_CREDIT,
                "creditsPortion": self.credits_tenths / TENTHS_PER_CREDIT}


@value_class
class Reservation:
    """What one charge took, enough to give it back exactly."""

    charge_id: str
    owner_type: str
    owner_key: str
    user_id: str | None
    split: ChargeSplit
    daily_used: int
    daily_reset_at: int
    month: str
    credits_taken: list[CreditPack] = field(default_factory=list)
    caps: tuple[SpendCap, ...] = ()


def split_charge(cost_tenths: int, monthly_used_tenths: int, monthly_limit_tenths: int) -> ChargeSplit:
    """The allowance pays first; only what it cannot cover is charged to credits."""
    remaining = max(0, monthly_limit_tenths - monthly_used_tenths)
    plan = min(cost_tenths, remaining)
    return ChargeSplit(plan_tenths=plan, credits_tenths=cost_tenths - plan)


@value_class
class ChargeCounters:
    """The counters one charge takes, as read together: each guest cap with its count in its window, the daily
    window (`daily_reset_at` None when none was opened), the month's allowance used and the active packs' balance
    (0 for a guest, who has none)."""

    caps: tuple[tuple[SpendCap, int], ...] = ()
    daily_count: int = 0
    daily_reset_at: int | None = None
    monthly_used_tenths: int = 0
    credits_tenths: int = 0


@value_class
class ChargeQuote:
    """What a charge would take now (the same split a reservation takes) and the refusal it would meet, if any."""

    split: ChargeSplit
    refusal: AppError | None

    @property
    def affordable(self) -> bool:
        return self.refusal is None


def last_refusal(cost_tenths: int, counters: ChargeCounters, entitlements: Entitlements, now: float, *,
                 daily: bool = True, monthly: bool = True) -> AppError | None:
    """The refusal a reservation of `cost_tenths` meets on these counters, or None. Limits are taken in the order
    caps → day → month and credits, and the last that refuses is named (docs/architecture.md §4: the later a
    limit, the less charges in flight inflate it). The reservation's refusal probe (`daily`/`monthly` off for
    the limits it did not reach) and a dry run's quote both ask this, so one rule decides both."""
    if monthly:
        limit = entitlements.monthly_images * TENTHS_PER_CREDIT
        if split_charge(cost_tenths, counters.monthly_used_tenths, limit).credits_tenths > counters.credits_tenths:
            return QuotaExceeded(scope="monthly", used=counters.monthly_used_tenths / TENTHS_PER_CREDIT,
                                 limit=limit / TENTHS_PER_CREDIT, reset_at=next_month_start(now))
    reset_at = counters.daily_reset_at
    if (daily and reset_at is not None and reset_at > int(now)
            and counters.daily_count >= entitlements.daily_burst_cap):
        return QuotaExceeded(scope="daily", used=counters.daily_count, limit=entitlements.daily_burst_cap,
                             reset_at=reset_at)
    for cap, taken in reversed(counters.caps):
        if taken >= cap.limit:
            return cap_refusal(cap, taken, now)
    return None


def quote_charge(cost_tenths: int, counters: ChargeCounters, entitlements: Entitlements, now: float) -> ChargeQuote:
    """A dry run's answer: the split `split_charge` gives the reservation and the refusal `last_refusal` names."""
    split = split_charge(cost_tenths, counters.monthly_used_tenths, entitlements.monthly_images * TENTHS_PER_CREDIT)
    return ChargeQuote(split=split, refusal=last_refusal(cost_tenths, counters, entitlements, now))


def consume_fifo(packs: list[CreditPack], amount_tenths: int, now: float) -> tuple[list[CreditPack], list[CreditPack]]:
    """Take `amount_tenths` from the active packs, oldest first, never below zero. Returns the packs to
    store (spent and expired ones dropped) and the portions taken (one per pack, `units_tenths` = taken)."""
    usable = active_packs(packs, now)
    if amount_tenths <= 0:
        return usable, []
    if sum(p.units_tenths for p in usable) < amount_tenths:
        raise InsufficientCredits
    taken: list[CreditPack] = []
    kept: list[CreditPack] = []
    left = amount_tenths
    for pack in usable:
        use = min(pack.units_tenths, left)
        left -= use
        if use:
            taken.append(CreditPack(pack.id, use, pack.created_at, pack.expires_at))
        if pack.units_tenths > use:
            kept.append(CreditPack(pack.id, pack.units_tenths - use, pack.created_at, pack.expires_at))
    return kept, taken


def return_to_packs(packs: list[CreditPack], taken: list[CreditPack]) -> list[CreditPack]:
    """Give the portions of a refunded charge back to the packs they came from (emptied packs reappear)."""
    by_id = {p.id: p for p in packs}
    for portion in taken:
        current = by_id.get(portion.id)
        units = portion.units_tenths + (current.units_tenths if current else 0)
        by_id[portion.id] = CreditPack(portion.id, units, portion.created_at, portion.expires_at)
    return sorted(by_id.values(), key=lambda p: (p.created_at, p.id))


def pack_expiry(created_at: int) -> int:
    """Six calendar months (clamped to the month's last day) plus fourteen days after purchase."""
    moment = datetime.fromtimestamp(created_at, tz=UTC)
    month_index = moment.month - 1 + PACK_LIFETIME_MONTHS
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int((moment.replace(year=year, month=month, day=day) + timedelta(days=PACK_GRACE_DAYS)).timestamp())
