"""docs/architecture.md §4: the entitlements table, guests, unknown plans and the effective-plan rule."""

from __future__ import annotations

import pytest

from enhancer.domain.plans import (
    ACTIVE_SUBSCRIPTION_STATUSES,
    GUEST_ENTITLEMENTS,
    OwnerType,
    Plan,
    effective_plan,
    entitlements_for,
    free_limits,
    parse_plan,
)

RESPONSE_KEYS = ["monthlyImages", "dailyBurstCap", "maxUpscale", "faceEnhance"]

# (plan, monthlyImages, dailyBurstCap, maxUpscale, faceEnhance) — the table in the README, "Plans, cost and credits".
PLAN_ROWS = [
    (Plan.FREE, 30, 3, 2, False),
    (Plan.PRO, 300, 30, 4, True),
    (Plan.PREMIUM, 1000, 100, 6, True),
    (Plan.ENTERPRISE, 4000, 400, 8, True),
]


@pytest.mark.parametrize(("plan", "monthly", "daily", "upscale", "face"), PLAN_ROWS,
                         ids=[row[0].value for row in PLAN_ROWS])
def test_user_entitlements_match_design_table(plan: Plan, monthly: int, daily: int, upscale: int,
                                              face: bool) -> None:
    entitlements = entitlements_for(OwnerType.USER, plan)

    assert entitlements.monthly_images == monthly
    assert entitlements.daily_burst_cap == daily
    assert entitlements.max_upscale == upscale
    assert entitlements.face_enhance is face
    assert entitlements.as_response() == {
        "monthlyImages": monthly, "dailyBurstCap": daily, "maxUpscale": upscale, "faceEnhance": face,
    }


def test_guest_row_matches_design_table() -> None:
    assert GUEST_ENTITLEMENTS.as_response() == {
        "monthlyImages": 90, "dailyBurstCap": 3, "maxUpscale": 2, "faceEnhance": False,
    }


@pytest.mark.parametrize("plan", [None, *Plan], ids=lambda p: f"plan={p}")
def test_guests_always_get_the_guest_row_whatever_the_plan(plan: Plan | None) -> None:
    assert entitlements_for(OwnerType.GUEST, plan).as_response() == {
        "monthlyImages": 90, "dailyBurstCap": 3, "maxUpscale": 2, "faceEnhance": False,
    }


@pytest.mark.parametrize("owner_type, plan", [(OwnerType.GUEST, None), *((OwnerType.USER, p) for p in Plan)])
def test_as_response_key_order_is_the_contract(owner_type: OwnerType, plan: Plan | None) -> None:
    response = entitlements_for(owner_type, plan).as_response()

    assert list(response) == RESPONSE_KEYS
    assert isinstance(response["faceEnhance"], bool)


def test_user_without_a_plan_gets_the_free_row() -> None:
    assert entitlements_for(OwnerType.USER, None) == entitlements_for(OwnerType.USER, Plan.FREE)


@pytest.mark.parametrize("value, expected", [
    ("free", Plan.FREE), ("pro", Plan.PRO), ("premium", Plan.PREMIUM), ("enterprise", Plan.ENTERPRISE),
])
def test_parse_plan_known_values(value: str, expected: Plan) -> None:
    assert parse_plan(value) is expected


@pytest.mark.parametrize("value", [None, "", "gold", "platinum", "pro ", "free-trial", "0", "null"])
def test_parse_plan_unknown_or_missing_is_free_never_a_crash(value: str | None) -> None:
    assert parse_plan(value) is Plan.FREE


def test_active_subscription_statuses_are_exactly_the_design_ones() -> None:
    assert {"active", "trialing", "past_due"} == ACTIVE_SUBSCRIPTION_STATUSES


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
@pytest.mark.parametrize("user_plan", [None, "free", "pro", "enterprise", "gold"])
def test_active_subscription_wins_over_users_plan(status: str, user_plan: str | None) -> None:
    assert effective_plan("premium", status, user_plan) is Plan.PREMIUM


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete", "incomplete_expired", "paused",
                                    None, "", "something-new"])
def test_inactive_subscription_falls_back_to_users_plan(status: str | None) -> None:
    assert effective_plan("enterprise", status, "pro") is Plan.PRO


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete", "paused", None])
def test_inactive_subscription_and_no_user_plan_is_free(status: str | None) -> None:
    assert effective_plan("enterprise", status, None) is Plan.FREE


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_active_status_without_a_subscription_plan_uses_users_plan(status: str) -> None:
    assert effective_plan(None, status, "premium") is Plan.PREMIUM


@pytest.mark.parametrize("user_plan", [None, "", "gold", "Pro!"])
def test_no_subscription_and_unknown_user_plan_is_free(user_plan: str | None) -> None:
    assert effective_plan(None, None, user_plan) is Plan.FREE


def test_no_subscription_uses_users_plan() -> None:
    assert effective_plan(None, None, "enterprise") is Plan.ENTERPRISE


def test_free_limits_are_the_free_user_and_guest_daily_caps() -> None:
    assert free_limits() == {"user": 3, "guest": 3}
    assert list(free_limits()) == ["user", "guest"]
