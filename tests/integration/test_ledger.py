"""Reserve, settle and give back charges against DynamoDB (moto), including under concurrency."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from enhancer.adapters.dynamo_counters import credits_key, daily_usage_key, monthly_usage_key, packs_from_item
from enhancer.adapters.dynamo_ledger import DynamoLedger, consume_record_key
from enhancer.domain.clock import month_key
from enhancer.domain.errors import RateLimited
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
             charge_id=None):
    return ledger.reserve(charge_id=charge_id or str(uuid.uuid4()), owner_type=owner_type, owner_key=owner_key,
                          user_id=user_id, cost_tenths=cost, entitlements=entitlements, now=NOW)


def _grant(ledger, user_id: str, pack_id: str, tenths: int, created_at: int, expires_at: int | None = None) -> bool:
    return ledger.add_credit_pack(user_id, pack_id, tenths, created_at, expires_at or int(NOW) + 86400)


def test_a_charge_within_the_allowance_counts_daily_and_monthly(ledger, aws):
    first = _reserve(ledger)
    second = _reserve(ledger, cost=25)

    assert (first.daily_used, second.daily_used) == (1, 2)
    assert first.daily_reset_at == int(NOW) + 86400 == second.daily_reset_at
    assert (first.split.plan_tenths, first.split.credits_tenths) == (10, 0)
    assert second.monthly_used_tenths == 35
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


def test_the_gate_runs_only_when_a_daily_window_opens_and_may_refuse_it(ledger, aws):
    opened: list[str] = []
    gate = lambda: opened.append("g1")  # noqa: E731

    ledger.reserve(charge_id="c1", owner_type="guest", owner_key="g1", user_id=None, cost_tenths=10,
                   entitlements=GUEST_ENTITLEMENTS, now=NOW, admit_new_window=gate)
    ledger.reserve(charge_id="c2", owner_type="guest", owner_key="g1", user_id=None, cost_tenths=10,
                   entitlements=GUEST_ENTITLEMENTS, now=NOW, admit_new_window=gate)

    def refuse() -> None:
        raise RateLimited(30)

    with pytest.raises(RateLimited):
        ledger.reserve(charge_id="c3", owner_type="guest", owner_key="g2", user_id=None, cost_tenths=10,
                       entitlements=GUEST_ENTITLEMENTS, now=NOW, admit_new_window=refuse)

    assert opened == ["g1"]  # the second charge counted in the open window
    assert _item(aws, daily_usage_key("guest", "g2")) is None  # refused before anything was taken
    assert _item(aws, monthly_usage_key("guest", "g2", month_key(NOW))) is None


def test_a_refusing_gate_does_not_refuse_a_window_a_concurrent_request_opened(ledger, aws):
    def concurrent_request_opens_it_then_refuse() -> None:
        ledger.reserve(charge_id="first", owner_type="guest", owner_key="g3", user_id=None, cost_tenths=10,
                       entitlements=GUEST_ENTITLEMENTS, now=NOW)
        raise RateLimited(30)

    reservation = ledger.reserve(charge_id="second", owner_type="guest", owner_key="g3", user_id=None,
                                 cost_tenths=10, entitlements=GUEST_ENTITLEMENTS, now=NOW,
                                 admit_new_window=concurrent_request_opens_it_then_refuse)

    assert reservation.daily_used == 2
    assert _n(_item(aws, daily_usage_key("guest", "g3")), "count") == 2


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
    assert reservation.credits_balance_tenths == 95
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
