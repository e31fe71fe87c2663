"""Quota and credit arithmetic (docs/architecture.md §4): how a charge splits between the allowance and the credit
packs, which packs pay (oldest first, never below zero), giving a charge back, pack expiry and the quota error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enhancer.domain.credits import CreditPack, active_packs, balance_tenths
from enhancer.domain.quota import (
    ChargeSplit,
    InsufficientCredits,
    QuotaExceeded,
    consume_fifo,
    pack_expiry,
    return_to_packs,
    split_charge,
)
from enhancer.http.envelope import http_status


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


NOW = ts(2024, 5, 10, 12, 0, 0)
LATER = NOW + 86_400 * 30


def pack(pack_id: str, units: int, created: int, expires: int = LATER) -> CreditPack:
    return CreditPack(id=pack_id, units_tenths=units, created_at=created, expires_at=expires)


def units(packs: list[CreditPack]) -> dict[str, int]:
    return {p.id: p.units_tenths for p in packs}


# --- split_charge -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cost, used, limit, plan, by_credits", [
    (10, 0, 300, 10, 0),       # well inside the allowance
    (25, 275, 300, 25, 0),     # exactly uses up the allowance
    (25, 290, 300, 10, 15),    # straddles the end: the allowance pays first
    (25, 299, 300, 1, 24),
    (20, 300, 300, 0, 20),     # allowance used up
    (15, 450, 300, 0, 15),     # used beyond the limit never makes the plan portion negative
    (10, 0, 0, 0, 10),         # no allowance at all
    (0, 0, 300, 0, 0),
    (0, 300, 300, 0, 0),
])
def test_the_allowance_pays_first_and_credits_pay_the_rest(cost: int, used: int, limit: int, plan: int,
                                                            by_credits: int) -> None:
    split = split_charge(cost, used, limit)

    assert split == ChargeSplit(plan_tenths=plan, credits_tenths=by_credits)
    assert split.total_tenths == cost


@pytest.mark.parametrize("cost", [10, 15, 20, 25])
@pytest.mark.parametrize("used", range(280, 310, 3))
def test_a_split_never_takes_more_than_the_allowance_left_nor_loses_tenths(cost: int, used: int) -> None:
    split = split_charge(cost, used, 300)

    assert split.plan_tenths >= 0 and split.credits_tenths >= 0
    assert split.plan_tenths <= max(0, 300 - used)
    assert split.plan_tenths + split.credits_tenths == cost


@pytest.mark.parametrize("split, response", [
    (ChargeSplit(10, 0), {"total": 1.0, "planPortion": 1.0, "creditsPortion": 0.0}),
    (ChargeSplit(25, 0), {"total": 2.5, "planPortion": 2.5, "creditsPortion": 0.0}),
    (ChargeSplit(3, 22), {"total": 2.5, "planPortion": 0.3, "creditsPortion": 2.2}),
    (ChargeSplit(0, 15), {"total": 1.5, "planPortion": 0.0, "creditsPortion": 1.5}),
    (ChargeSplit(1, 0), {"total": 0.1, "planPortion": 0.1, "creditsPortion": 0.0}),
])
def test_charge_response_is_in_credits(split: ChargeSplit, response: dict[str, float]) -> None:
    assert split.as_response() == response
    assert list(split.as_response()) == ["total", "planPortion", "creditsPortion"]


# --- consume_fifo -----------------------------------------------------------------------------------------------

def test_the_oldest_pack_pays_first() -> None:
    older = pack("older", 100, NOW - 200)
    newer = pack("newer", 100, NOW - 100)

    kept, taken = consume_fifo([newer, older], 25, NOW)

    assert units(taken) == {"older": 25}
    assert units(kept) == {"older": 75, "newer": 100}


def test_a_charge_spans_packs_in_age_order_and_drops_the_emptied_ones() -> None:
    packs = [pack("c", 50, NOW - 100), pack("a", 10, NOW - 300), pack("b", 5, NOW - 200)]

    kept, taken = consume_fifo(packs, 20, NOW)

    assert [(p.id, p.units_tenths) for p in taken] == [("a", 10), ("b", 5), ("c", 5)]
    assert [(p.id, p.units_tenths) for p in kept] == [("c", 45)]


def test_taking_exactly_the_balance_leaves_nothing() -> None:
    packs = [pack("a", 10, NOW - 300), pack("b", 15, NOW - 200)]

    kept, taken = consume_fifo(packs, 25, NOW)

    assert kept == []
    assert sum(p.units_tenths for p in taken) == 25


@pytest.mark.parametrize("amount", [1, 5, 10, 15, 24, 25, 26, 99, 100, 149, 150])
def test_what_is_taken_plus_what_is_kept_is_the_balance_before(amount: int) -> None:
    packs = [pack("a", 25, NOW - 300), pack("b", 25, NOW - 200), pack("c", 100, NOW - 100)]

    kept, taken = consume_fifo(packs, amount, NOW)

    assert sum(p.units_tenths for p in taken) == amount
    assert balance_tenths(kept, NOW) == 150 - amount
    assert all(p.units_tenths > 0 for p in kept + taken)


def test_expired_and_spent_packs_never_pay_and_are_dropped() -> None:
    expired = pack("expired", 1000, NOW - 900, expires=NOW)
    spent = pack("spent", 0, NOW - 800)
    live = pack("live", 30, NOW - 100)

    kept, taken = consume_fifo([expired, spent, live], 10, NOW)

    assert units(taken) == {"live": 10}
    assert units(kept) == {"live": 20}


@pytest.mark.parametrize("amount", [0, -5])
def test_nothing_to_take_keeps_the_active_packs_and_takes_nothing(amount: int) -> None:
    live = pack("live", 30, NOW - 100)
    expired = pack("expired", 10, NOW - 900, expires=NOW - 1)

    kept, taken = consume_fifo([live, expired], amount, NOW)

    assert taken == []
    assert kept == [live]


@pytest.mark.parametrize("packs, amount", [
    ([], 1),
    ([pack("a", 24, NOW - 100)], 25),
    ([pack("a", 10, NOW - 200), pack("b", 10, NOW - 100)], 21),
    ([pack("expired", 1000, NOW - 900, expires=NOW), pack("a", 5, NOW - 100)], 10),
])
def test_a_balance_short_of_the_amount_raises_and_takes_nothing(packs: list[CreditPack], amount: int) -> None:
    before = list(packs)

    with pytest.raises(InsufficientCredits):
        consume_fifo(packs, amount, NOW)
    assert packs == before


def test_portions_keep_the_packs_identity_and_dates() -> None:
    original = pack("p1", 40, NOW - 500, expires=NOW + 999)

    kept, taken = consume_fifo([original], 15, NOW)

    assert taken == [CreditPack("p1", 15, NOW - 500, NOW + 999)]
    assert kept == [CreditPack("p1", 25, NOW - 500, NOW + 999)]


def test_a_pack_expiring_one_second_later_still_pays() -> None:
    _, taken = consume_fifo([pack("a", 10, NOW - 100, expires=NOW + 1)], 10, NOW)

    assert units(taken) == {"a": 10}


# --- return_to_packs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [1, 10, 25, 26, 60, 150])
def test_returning_what_was_taken_restores_the_packs(amount: int) -> None:
    packs = [pack("a", 100, NOW - 100), pack("c", 25, NOW - 300), pack("b", 25, NOW - 200)]

    kept, taken = consume_fifo(packs, amount, NOW)

    assert return_to_packs(kept, taken) == active_packs(packs, NOW)
    assert [p.id for p in return_to_packs(kept, taken)] == ["c", "b", "a"]


def test_an_emptied_pack_reappears_when_its_portion_comes_back() -> None:
    kept, taken = consume_fifo([pack("a", 10, NOW - 200), pack("b", 50, NOW - 100)], 30, NOW)
    assert "a" not in units(kept)

    restored = return_to_packs(kept, taken)

    assert units(restored) == {"a": 10, "b": 50}
    assert [p.id for p in restored] == ["a", "b"]


def test_a_returned_portion_is_added_to_what_the_pack_holds_now() -> None:
    now_held = [pack("a", 7, NOW - 200), pack("b", 50, NOW - 100)]

    restored = return_to_packs(now_held, [CreditPack("a", 3, NOW - 200, LATER)])

    assert units(restored) == {"a": 10, "b": 50}


def test_returning_nothing_changes_nothing_but_the_order() -> None:
    packs = [pack("b", 50, NOW - 100), pack("a", 10, NOW - 200)]

    assert return_to_packs(packs, []) == [packs[1], packs[0]]


def test_returned_packs_are_oldest_first_with_ties_by_id() -> None:
    restored = return_to_packs([pack("old", 1, NOW - 900), pack("b", 1, NOW - 100)],
                               [CreditPack("a", 2, NOW - 100, LATER), CreditPack("zz", 3, NOW - 500, LATER)])

    assert [p.id for p in restored] == ["old", "zz", "a", "b"]


def test_a_portion_returned_after_its_pack_expired_does_not_count_in_the_balance() -> None:
    expires = NOW + 60
    kept, taken = consume_fifo([pack("a", 10, NOW - 100, expires=expires)], 10, NOW)

    restored = return_to_packs(kept, taken)

    assert balance_tenths(restored, NOW) == 10
    assert balance_tenths(restored, expires) == 0


# --- pack_expiry ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bought, expires", [
    (ts(2024, 1, 15), ts(2024, 7, 29)),                      # six months, then fourteen days
    (ts(2024, 1, 15, 13, 45, 7), ts(2024, 7, 29, 13, 45, 7)),  # the time of day is kept
    (ts(2024, 7, 1), ts(2025, 1, 15)),                        # into the next year
    (ts(2024, 12, 31), ts(2025, 7, 14)),                      # June has 30 days: clamped to the 30th
    (ts(2024, 8, 31), ts(2025, 3, 14)),                       # February 2025: clamped to the 28th
    (ts(2023, 8, 31), ts(2024, 3, 14)),                       # February 2024 (leap): clamped to the 29th
    (ts(2023, 8, 29), ts(2024, 3, 14)),
    (ts(2024, 2, 29), ts(2024, 9, 12)),
    (ts(2024, 6, 30, 23, 59, 59), ts(2025, 1, 13, 23, 59, 59)),
])
def test_a_pack_expires_six_calendar_months_and_fourteen_days_after_purchase(bought: int, expires: int) -> None:
    assert pack_expiry(bought) == expires


def test_pack_expiry_is_an_int_later_than_the_purchase() -> None:
    expiry = pack_expiry(NOW)

    assert type(expiry) is int
    assert 181 * 86_400 + 14 * 86_400 <= expiry - NOW <= 184 * 86_400 + 14 * 86_400


# --- QuotaExceeded ----------------------------------------------------------------------------------------------

def test_daily_quota_error_is_a_403_with_scope_used_limit_and_iso_reset() -> None:
    error = QuotaExceeded(scope="daily", used=3, limit=3, reset_at=ts(2024, 5, 11, 8, 30, 15))

    assert http_status(error) == 403
    assert error.type == "forbidden"
    assert error.scope == "daily"
    assert error.details == {"scope": "daily", "used": 3, "limit": 3, "resetAt": "2024-05-11T08:30:15Z"}
    assert "daily" in error.message
    assert "3 of 3" in error.message


def test_monthly_quota_error_without_a_reset_gives_null() -> None:
    error = QuotaExceeded(scope="monthly", used=30.0, limit=30, reset_at=None)

    assert error.details == {"scope": "monthly", "used": 30.0, "limit": 30, "resetAt": None}
    assert "monthly" in error.message
    assert "30 of 30" in error.message


def test_monthly_quota_error_shows_fractional_credits() -> None:
    error = QuotaExceeded(scope="monthly", used=29.5, limit=30, reset_at=ts(2024, 6, 1))

    assert "29.5 of 30" in error.message
    assert error.details is not None and error.details["resetAt"] == "2024-06-01T00:00:00Z"
