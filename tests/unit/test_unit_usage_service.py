"""usage_overview with an in-memory UsageReader port fake (tests/fakes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from enhancer.domain.credits import CreditPack
from enhancer.domain.identity import Identity, User, guest_owner_key
from enhancer.domain.plans import OwnerType, Plan
from enhancer.domain.usage import UsageSnapshot
from enhancer.services.usage import usage_overview
from tests.fakes import FakeUsageReader

SECRET = b"unit-test-owner-key-secret-0123456789abcdef"
GUEST_KEY = guest_owner_key(SECRET, "0b8f1c3e-2f4a-4d5b-9c6e-7a8b9c0d1e2f")
NOW = int(datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC).timestamp())
DAILY_RESET = NOW + 5 * 3600  # 2024-05-10T17:00:00Z


def pack(pack_id: str, units: int, created: int, expires: int) -> CreditPack:
    return CreditPack(id=pack_id, units_tenths=units, created_at=created, expires_at=expires)


PACKS = [
    pack("a", 1000, NOW - 3000, NOW + 86_400),
    pack("b", 45, NOW - 2000, NOW + 86_400),
    pack("expired", 5000, NOW - 9000, NOW - 1),
    pack("spent", 0, NOW - 100, NOW + 86_400),
]

GUEST = Identity(owner_type=OwnerType.GUEST, owner_key=GUEST_KEY, user=None, guest_key=GUEST_KEY)
PRO_USER = Identity(owner_type=OwnerType.USER, owner_key="user-pro",
                    user=User(id="user-pro", email="p@example.com", plan=Plan.PRO), guest_key=GUEST_KEY)


def test_guest_overview() -> None:
    counters = FakeUsageReader(UsageSnapshot(daily_count=2, daily_reset_at=DAILY_RESET, monthly_used_tenths=25,
                                          credit_packs=PACKS))
    response = usage_overview(GUEST, counters, NOW).as_response()

    assert response == {
        "ownerType": "guest",
        "usage": {"used": 2, "limit": 3, "remaining": 1, "resetAt": "2024-05-10T17:00:00Z"},
        "monthlyUsage": {"used": 2.5, "limit": 90, "remaining": 87.5, "resetAt": "2024-06-01T00:00:00Z"},
        "limits": {"user": 3, "guest": 3},
        "entitlements": {"monthlyImages": 90, "dailyBurstCap": 3, "maxUpscale": 2, "faceEnhance": False},
    }
    assert "plan" not in response
    assert "creditsBalanceTenths" not in response
    assert list(response) == ["ownerType", "usage", "monthlyUsage", "limits", "entitlements"]


def test_guest_usage_is_read_by_guest_key_and_month_without_a_user() -> None:
    counters = FakeUsageReader(UsageSnapshot())
    usage_overview(GUEST, counters, NOW)

    assert counters.calls == [("guest", GUEST_KEY, "202405", None)]


def test_pro_user_overview() -> None:
    counters = FakeUsageReader(UsageSnapshot(daily_count=12, daily_reset_at=DAILY_RESET, monthly_used_tenths=125,
                                          credit_packs=PACKS))
    overview = usage_overview(PRO_USER, counters, NOW)
    response = overview.as_response()

    assert response == {
        "ownerType": "user",
        "plan": "pro",
        "usage": {"used": 12, "limit": 30, "remaining": 18, "resetAt": "2024-05-10T17:00:00Z"},
        "monthlyUsage": {"used": 12.5, "limit": 300, "remaining": 287.5, "resetAt": "2024-06-01T00:00:00Z"},
        "limits": {"user": 3, "guest": 3},
        "entitlements": {"monthlyImages": 300, "dailyBurstCap": 30, "maxUpscale": 4, "faceEnhance": True},
        "creditsBalanceTenths": 1045,
    }
    assert list(response) == ["ownerType", "plan", "usage", "monthlyUsage", "limits", "entitlements",
                              "creditsBalanceTenths"]
    assert overview.plan is Plan.PRO
    assert overview.credits_balance_tenths == 1045


def test_user_usage_is_read_by_user_id() -> None:
    counters = FakeUsageReader(UsageSnapshot())
    usage_overview(PRO_USER, counters, NOW)

    assert counters.calls == [("user", "user-pro", "202405", "user-pro")]


def test_user_without_packs_has_a_zero_balance_not_a_missing_one() -> None:
    free_user = Identity(owner_type=OwnerType.USER, owner_key="user-free",
                         user=User(id="user-free", email="f@example.com", plan=Plan.FREE), guest_key=None)
    response = usage_overview(free_user, FakeUsageReader(UsageSnapshot()), NOW).as_response()

    assert response["plan"] == "free"
    assert response["creditsBalanceTenths"] == 0
    assert response["usage"] == {"used": 0, "limit": 3, "remaining": 3, "resetAt": None}
    assert response["monthlyUsage"] == {"used": 0.0, "limit": 30, "remaining": 30.0,
                                        "resetAt": "2024-06-01T00:00:00Z"}


def test_expired_daily_window_reads_as_unused() -> None:
    counters = FakeUsageReader(UsageSnapshot(daily_count=3, daily_reset_at=NOW - 1))
    response = usage_overview(GUEST, counters, NOW).as_response()

    assert response["usage"] == {"used": 0, "limit": 3, "remaining": 3, "resetAt": None}


def test_december_usage_resets_in_january_of_next_year() -> None:
    december = int(datetime(2024, 12, 31, 23, 0, tzinfo=UTC).timestamp())
    counters = FakeUsageReader(UsageSnapshot())
    response = usage_overview(PRO_USER, counters, december).as_response()

    assert response["monthlyUsage"]["resetAt"] == "2025-01-01T00:00:00Z"  # type: ignore[index]
    assert counters.calls[0][2] == "202412"
