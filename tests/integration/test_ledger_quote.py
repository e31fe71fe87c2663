"""`DynamoLedger.quote` against DynamoDB (moto): it writes nothing, and it answers what `reserve` then does —
the same split, or the same refusal (type, message, details) — in every state the counters can be in."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest

from enhancer.adapters.dynamo_keys import daily_usage_key
from enhancer.adapters.dynamo_ledger import DynamoLedger
from enhancer.domain.errors import AppError
from enhancer.domain.guest_limits import guest_caps
from enhancer.domain.plans import GUEST_ENTITLEMENTS, PLAN_ENTITLEMENTS, Plan
from enhancer.http.envelope import error_body
from tests.integration.conftest import TABLE
from tests.integration.test_ledger import _grant, _set_monthly

FREE = PLAN_ENTITLEMENTS[Plan.FREE]
NOW = time.time()
CAPS = guest_caps("198.51.100.7", NOW, per_ip_per_hour=3, per_day=5)


@pytest.fixture
def ledger(aws) -> DynamoLedger:
    return DynamoLedger(boto3.client("dynamodb", region_name="us-east-1"), TABLE)


def _items(aws) -> list[dict]:
    return sorted(aws.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"], key=lambda i: i["pk"]["S"])


def _charge(ledger, who: dict, cost: int):
    return ledger.reserve(charge_id=str(uuid.uuid4()), cost_tenths=cost, now=NOW, **who)


def _quote_then_reserve(ledger, aws, who: dict, cost: int) -> None:
    """The quote changes nothing and is what the reservation then takes or raises."""
    before = _items(aws)
    quote = ledger.quote(cost_tenths=cost, now=NOW, **who)
    assert _items(aws) == before
    try:
        reservation = _charge(ledger, who, cost)
    except AppError as refused:
        assert quote.refusal is not None and not quote.affordable, error_body(refused)
        assert type(quote.refusal) is type(refused) and error_body(quote.refusal) == error_body(refused)
        assert quote.refusal.retry_after == refused.retry_after
    else:
        assert quote.affordable, error_body(quote.refusal)  # type: ignore[arg-type]
        assert quote.split == reservation.split


GUEST = {"owner_type": "guest", "owner_key": "g-quote", "user_id": None, "entitlements": GUEST_ENTITLEMENTS,
         "caps": CAPS}
USER = {"owner_type": "user", "owner_key": "u-quote", "user_id": "u-quote", "entitlements": FREE}


def test_a_guests_quotes_follow_the_day_then_the_ip_cap(ledger, aws):
    for _ in range(5):  # 3 within the day, then the day refuses (with the IP's hour full too, the day is named)
        _quote_then_reserve(ledger, aws, GUEST, 10)


def test_other_guests_behind_the_ip_fill_the_hour_and_the_quote_says_429(ledger, aws):
    for n in range(3):
        _charge(ledger, {**GUEST, "owner_key": f"other-{n}"}, 10)

    quote = ledger.quote(cost_tenths=10, now=NOW, **GUEST)

    assert quote.refusal is not None and quote.refusal.type == "rate_limit"
    assert quote.refusal.details["scope"] == "guestIp"  # type: ignore[index]
    _quote_then_reserve(ledger, aws, GUEST, 10)


def test_the_days_guest_budget_and_the_guests_month(ledger, aws):
    for n in range(5):
        _charge(ledger, {**GUEST, "owner_key": f"g-{n}", "caps": (CAPS[1],)}, 10)
    _quote_then_reserve(ledger, aws, {**GUEST, "caps": (CAPS[1],)}, 10)  # the budget
    _set_monthly(aws, "guest", "g-quote", GUEST_ENTITLEMENTS.monthly_images * 10)
    _quote_then_reserve(ledger, aws, {**GUEST, "caps": (CAPS[1],)}, 10)  # the month, named over the budget


@pytest.mark.parametrize(("used", "pack", "cost"), [
    (0, 0, 25), (295, 0, 10), (295, 5, 10), (295, 4, 10), (300, 15, 15), (300, 14, 15), (310, 100, 10),
])
def test_a_users_quote_splits_between_allowance_and_credits_as_the_reservation(ledger, aws, used, pack, cost):
    _set_monthly(aws, "user", "u-quote", used)
    if pack:
        _grant(ledger, "u-quote", "pack-1", pack, int(NOW) - 60)

    _quote_then_reserve(ledger, aws, USER, cost)


def test_a_users_full_day_and_an_ended_window(ledger, aws):
    for _ in range(FREE.daily_burst_cap + 1):
        _quote_then_reserve(ledger, aws, USER, 10)
    aws.dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": daily_usage_key("user", "u-quote")}},
                             UpdateExpression="SET resetAt = :past", ExpressionAttributeValues={
                                 ":past": {"N": str(int(NOW) - 1)}})
    _quote_then_reserve(ledger, aws, USER, 10)  # a new window opens
