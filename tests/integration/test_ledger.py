"""Reserve, settle and give back charges against DynamoDB (moto), including under concurrency."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from enhancer.adapters.dynamo_keys import (
    cap_key,
    consume_record_key,
    credits_key,
    daily_usage_key,
    monthly_usage_key,
    packs_from_item,
)
from enhancer.adapters.dynamo_ledger import DynamoLedger
from enhancer.domain.clock import month_key
from enhancer.domain.errors import RateLimited
from enhancer.domain.guest_limits import GuestBudgetReached, guest_caps
from enhancer.domain.plans import GUEST_ENTITLEMENTS, PLAN_ENTITLEMENTS, Plan
from enhancer.domain.quota import QuotaExceeded
from tests.integration.conftest import TABLE

FREE = PLAN_ENTITLEMENTS[Plan.FREE]
PRO = PLAN_ENTITLEMENTS[Plan.PRO]
NOW = time.time()


@pytest.fixture
def ledger(aws) -> DynamoLedger:
    return DynamoLedger(boto3.client("dynamodb", region_name="us-east-1"), TABLE)


def _item(aws, key: str) -> dict | None:
    return aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")


def _n(item, name) -> int:
    return int(item[name]["N"])


def _set_monthly(aws, owner_type: str, owner_key: str, tenths: int) -> None:
    aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": monthly_usage_key(owner_type, owner_key, month_key(NOW))},
                                                 "usedTenths": {"N": str(tenths)}})


def _reserve(ledger, *, owner_type="guest", owner_key="g1", user_id=None, cost=10, entitlements=GUEST_ENTITLEMENTS,
             charge_id=None, caps=()):
    return ledger.reserve(charge_id=charge_id or str(uuid.uuid4()), owner_type=owner_type, owner_key=owner_key,
                          user_id=user_id, cost_tenths=cost, entitlements=entitlements, caps=caps, now=NOW)


def _grant(ledger, user_id: str, pack_id: str, tenths: int, created_at: int, expires_at: int | None = None) -> bool:
    return ledger.add_credit_pack(user_id, pack_id, tenths, created_at, expires_at or int(NOW) + 86400)


def test_a_charge_within_the_allowance_counts_daily_and_monthly(ledger, aws):
    first = _reserve(ledger)
    second = _reserve(ledger, cost=25)

    assert (first.daily_used, second.daily_used) == (1, 2)
    assert first.daily_reset_at == int(NOW) + 86400 == second.daily_reset_at
    assert (first.split.plan_tenths, first.split.credits_tenths) == (10, 0)
    assert _n(_item(aws, monthly_usage_key("guest", "g1", month_key(NOW))), "usedTenths") == 35
    assert _n(_item(aws, daily_usage_key("guest", "g1")), "expiresAt") > first.daily_reset_at


def test_the_daily_cap_is_a_403_with_scope_and_reset(ledger, aws):
    for _ in range(3):
        _reserve(ledger)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger)

    assert refused.value.details["scope"] == "daily"
    assert refused.value.details["used"] == 3 and refused.value.details["limit"] == 3
    assert refused.value.details["resetAt"].endswith("Z")
    assert _n(_item(aws, monthly_usage_key("guest", "g1", month_key(NOW))), "usedTenths") == 30  # nothing taken


def test_an_expired_window_starts_again(ledger, aws):
    aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": daily_usage_key("guest", "g1")}, "count": {"N": "3"},
                                                 "resetAt": {"N": str(int(NOW) - 5)}})

    reservation = _reserve(ledger)

    assert reservation.daily_used == 1 and reservation.daily_reset_at == int(NOW) + 86400


def _caps(per_ip: int = 20, per_day: int = 1000, ip: str = "198.51.100.7"):
    return guest_caps(ip, NOW, per_ip_per_hour=per_ip, per_day=per_day)


def _cap_count(aws, cap) -> int:
    item = _item(aws, cap_key(cap))
    return _n(item, "count") if item else 0


def test_a_guest_charge_takes_its_ip_cap_and_the_days_budget(ledger, aws):
    caps = _caps()

    reservation = _reserve(ledger, charge_id="c1", owner_key="g1", caps=caps)

    assert [_cap_count(aws, cap) for cap in caps] == [1, 1]
    assert reservation.caps == caps
    assert _n(_item(aws, cap_key(caps[0])), "expiresAt") > caps[0].window_end


def test_the_ip_cap_counts_images_across_guest_ids_and_refuses_with_a_429(ledger, aws):
    caps = _caps(per_ip=2)
    for owner_key in ("g1", "g2"):
        ledger.reserve(charge_id=owner_key, owner_type="guest", owner_key=owner_key, user_id=None, cost_tenths=10,
                       entitlements=GUEST_ENTITLEMENTS, caps=caps, now=NOW)

    with pytest.raises(RateLimited) as refused:
        _reserve(ledger, charge_id="c3", owner_key="g3", caps=caps)

    assert refused.value.details["scope"] == "guestIp"
    assert (refused.value.details["used"], refused.value.details["limit"]) == (2, 2)
    assert 0 < refused.value.retry_after <= 3600
    assert [_cap_count(aws, cap) for cap in caps] == [2, 2]  # the refused charge took nothing
    assert _item(aws, daily_usage_key("guest", "g3")) is None
    assert _item(aws, monthly_usage_key("guest", "g3", month_key(NOW))) is None


def test_the_days_guest_budget_refuses_with_a_403_asking_to_sign_in(ledger, aws):
    first_ip, other_ip = _caps(per_day=1), _caps(per_day=1, ip="203.0.113.9")
    _reserve(ledger, charge_id="c1", owner_key="g1", caps=first_ip)

    with pytest.raises(GuestBudgetReached) as refused:
        _reserve(ledger, charge_id="c2", owner_key="g2", caps=other_ip)

    assert refused.value.details["scope"] == "guestBudget" and refused.value.details["signIn"] is True
    assert (refused.value.details["used"], refused.value.details["limit"]) == (1, 1)
    assert _cap_count(aws, other_ip[0]) == 0  # the other IP's hour was given back


def test_a_zero_budget_refuses_every_guest_without_counting(ledger, aws):
    with pytest.raises(GuestBudgetReached):
        _reserve(ledger, charge_id="c1", owner_key="g1", caps=_caps(per_day=0))

    assert _cap_count(aws, _caps()[0]) == 0


def test_a_give_back_returns_the_caps_exactly_once(ledger, aws):
    caps = _caps()
    reservation = _reserve(ledger, charge_id="c1", owner_key="g1", caps=caps)
    _reserve(ledger, charge_id="c2", owner_key="g2", caps=caps)

    ledger.give_back(reservation, now=NOW)
    ledger.give_back(reservation, now=NOW)

    assert [_cap_count(aws, cap) for cap in caps] == [1, 1]


def _fill_day(aws, owner_key: str, count: int = 3) -> None:
    aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": daily_usage_key("guest", owner_key)},
                                                 "count": {"N": str(count)}, "resetAt": {"N": str(int(NOW) + 600)}})


def test_a_full_day_with_the_month_used_up_too_names_the_month(ledger, aws):
    """Parallel charges at the end of a month fill the day with charges the month then gives back: the day's
    refusal would name a limit that is not what stops the guest."""
    _fill_day(aws, "g1")
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger)

    assert refused.value.details["scope"] == "monthly"
    assert (refused.value.details["used"], refused.value.details["limit"]) == (90, 90)


def test_a_full_day_within_the_month_names_the_day(ledger, aws):
    _fill_day(aws, "g1")
    _set_monthly(aws, "guest", "g1", 500)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger)

    assert refused.value.details["scope"] == "daily" and refused.value.details["used"] == 3


def test_credits_that_would_pay_the_month_leave_the_refusal_to_the_day(ledger, aws):
    aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": daily_usage_key("user", "u1")}, "count": {"N": "3"},
                                                 "resetAt": {"N": str(int(NOW) + 600)}})
    _set_monthly(aws, "user", "u1", 300)
    _grant(ledger, "u1", "pack-1", 100, int(NOW) - 10)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, owner_type="user", owner_key="u1", user_id="u1", entitlements=FREE)

    assert refused.value.details["scope"] == "daily"


def test_a_full_ip_cap_with_the_guests_month_used_up_names_the_month(ledger, aws):
    caps = _caps(per_ip=1)
    _reserve(ledger, charge_id="c1", owner_key="g2", caps=caps)
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, charge_id="c2", owner_key="g1", caps=caps)

    assert refused.value.details["scope"] == "monthly"
    assert _cap_count(aws, caps[1]) == 1  # the day's budget this charge did not reach is untouched


def test_a_guest_past_the_monthly_allowance_is_refused_and_the_day_is_given_back(ledger, aws):
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger)

    assert refused.value.details == {"scope": "monthly", "used": 90, "limit": 90,
                                     "resetAt": refused.value.details["resetAt"]}
    assert _n(_item(aws, daily_usage_key("guest", "g1")), "count") == 0


def test_a_user_past_the_allowance_pays_with_credits_oldest_pack_first(ledger, aws):
    _set_monthly(aws, "user", "u1", 3000)
    _grant(ledger, "u1", "cs_new", 100, int(NOW) - 10)
    _grant(ledger, "u1", "cs_old", 20, int(NOW) - 100)

    reservation = _reserve(ledger, owner_type="user", owner_key="u1", user_id="u1", cost=25, entitlements=PRO)

    assert (reservation.split.plan_tenths, reservation.split.credits_tenths) == (0, 25)
    assert {p.id: p.units_tenths for p in reservation.credits_taken} == {"cs_old": 20, "cs_new": 5}
    packs = packs_from_item(_item(aws, credits_key("u1")))
    assert [(p.id, p.units_tenths) for p in packs] == [("cs_new", 95)]
    record = _item(aws, consume_record_key("u1", reservation.charge_id))
    assert record["status"]["S"] == "consumed" and record["tenths"]["N"] == "25"


def test_what_is_left_of_the_allowance_is_used_before_credits(ledger, aws):
    _set_monthly(aws, "user", "u1", 2995)
    _grant(ledger, "u1", "cs_1", 100, int(NOW) - 10)

    reservation = _reserve(ledger, owner_type="user", owner_key="u1", user_id="u1", cost=25, entitlements=PRO)

    assert (reservation.split.plan_tenths, reservation.split.credits_tenths) == (5, 20)
    assert reservation.split.as_response() == {"total": 2.5, "planPortion": 0.5, "creditsPortion": 2.0}
    assert _n(_item(aws, monthly_usage_key("user", "u1", month_key(NOW))), "usedTenths") == 3000


def test_expired_packs_are_not_spent(ledger, aws):
    _set_monthly(aws, "user", "u1", 3000)
    _grant(ledger, "u1", "cs_expired", 500, int(NOW) - 1000, expires_at=int(NOW) - 1)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, owner_type="user", owner_key="u1", user_id="u1", entitlements=PRO)

    assert refused.value.details["scope"] == "monthly"
    assert _n(_item(aws, daily_usage_key("user", "u1")), "count") == 0


def test_give_back_returns_every_part_once(ledger, aws):
    _set_monthly(aws, "user", "u1", 2995)
    _grant(ledger, "u1", "cs_1", 20, int(NOW) - 10)
    reservation = _reserve(ledger, owner_type="user", owner_key="u1", user_id="u1", cost=25, entitlements=PRO)
    assert packs_from_item(_item(aws, credits_key("u1"))) == []  # the pack was emptied

    ledger.give_back(reservation)
    ledger.give_back(reservation)  # a second give-back changes nothing

    assert _n(_item(aws, daily_usage_key("user", "u1")), "count") == 0
    assert _n(_item(aws, monthly_usage_key("user", "u1", month_key(NOW))), "usedTenths") == 2995
    assert [(p.id, p.units_tenths) for p in packs_from_item(_item(aws, credits_key("u1")))] == [("cs_1", 20)]
    assert _item(aws, consume_record_key("u1", reservation.charge_id))["status"]["S"] == "refunded"


def test_a_pack_is_added_once_per_pack_id(ledger, aws):
    assert _grant(ledger, "u1", "cs_abc", 1000, int(NOW)) is True
    assert _grant(ledger, "u1", "cs_abc", 1000, int(NOW)) is False
    assert _grant(ledger, "u1", "cs_def", 50, int(NOW)) is True

    packs = packs_from_item(_item(aws, credits_key("u1")))
    assert sorted((p.id, p.units_tenths) for p in packs) == [("cs_abc", 1000), ("cs_def", 50)]


def test_parallel_charges_never_exceed_the_daily_cap(ledger, aws):
    start = threading.Barrier(12)

    def attempt(_: int) -> str:
        start.wait()
        try:
            _reserve(ledger, owner_key="busy", entitlements=FREE)
            return "ok"
        except QuotaExceeded as refused:
            return refused.scope

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))

    assert outcomes.count("ok") == FREE.daily_burst_cap
    assert outcomes.count("daily") == 12 - FREE.daily_burst_cap
    assert _n(_item(aws, daily_usage_key("guest", "busy")), "count") == FREE.daily_burst_cap
    assert _n(_item(aws, monthly_usage_key("guest", "busy", month_key(NOW))), "usedTenths") == 30


def test_parallel_charges_never_overdraw_credits(ledger, aws):
    _set_monthly(aws, "user", "rich", 3000)
    _grant(ledger, "rich", "cs_a", 15, int(NOW) - 20)
    _grant(ledger, "rich", "cs_b", 20, int(NOW) - 10)
    start = threading.Barrier(10)

    def attempt(_: int) -> str:
        start.wait()
        try:
            _reserve(ledger, owner_type="user", owner_key="rich", user_id="rich", entitlements=PRO)
            return "ok"
        except QuotaExceeded as refused:
            return refused.scope

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(10)))

    assert outcomes.count("ok") == 3  # 35 tenths buy three 10-tenth charges
    assert outcomes.count("monthly") == 7
    packs = packs_from_item(_item(aws, credits_key("rich")))
    assert sum(p.units_tenths for p in packs) == 5 and all(p.units_tenths >= 0 for p in packs)
    assert _n(_item(aws, daily_usage_key("user", "rich")), "count") == 3


def test_a_full_ip_cap_with_the_day_and_the_month_full_names_the_month(ledger, aws):
    """The day is inflated by charges the month gives back, the month by none: the last refusing limit wins."""
    caps = _caps(per_ip=1)
    _reserve(ledger, charge_id="c1", owner_key="g2", caps=caps)
    _fill_day(aws, "g1")
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, charge_id="c2", owner_key="g1", caps=caps)

    assert refused.value.details["scope"] == "monthly"


def test_a_full_ip_cap_with_the_day_full_names_the_day(ledger, aws):
    caps = _caps(per_ip=1)
    _reserve(ledger, charge_id="c1", owner_key="g2", caps=caps)
    _fill_day(aws, "g1")

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, charge_id="c2", owner_key="g1", caps=caps)

    assert refused.value.details["scope"] == "daily"


def test_a_full_days_budget_with_the_guests_month_used_up_names_the_month(ledger, aws):
    caps = _caps(per_day=1)
    _reserve(ledger, charge_id="c1", owner_key="g2", caps=caps)
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger, charge_id="c2", owner_key="g1", caps=caps)

    assert refused.value.details["scope"] == "monthly"
    assert _cap_count(aws, caps[0]) == 1  # the IP's hour this charge took is returned


def test_a_cap_named_twice_is_taken_and_given_back_once(ledger, aws):
    cap = _caps()[0]

    reservation = ledger.reserve(charge_id="c1", owner_type="guest", owner_key="g1", user_id=None, cost_tenths=10,
                                 entitlements=GUEST_ENTITLEMENTS, caps=(cap, cap), now=NOW)
    taken = _cap_count(aws, cap)
    ledger.give_back(reservation, now=NOW)

    assert taken == 1 and _cap_count(aws, cap) == 0


def test_a_refusal_stands_when_the_probe_cannot_read(ledger, aws):
    def unavailable(**_):
        raise RuntimeError("DynamoDB is unreachable")

    ledger._client.meta.events.register("before-call.dynamodb.BatchGetItem", unavailable)
    _fill_day(aws, "g1")
    _set_monthly(aws, "guest", "g1", 900)

    with pytest.raises(QuotaExceeded) as refused:
        _reserve(ledger)

    assert refused.value.details["scope"] == "daily"
