"""Credit packs: which can be spent, in which order, and the balance."""

from __future__ import annotations

import pytest

from enhancer.domain.credits import CreditPack, active_packs, balance_tenths

NOW = 1_716_000_000


def pack(pack_id: str, units: int, created: int, expires: int) -> CreditPack:
    return CreditPack(id=pack_id, units_tenths=units, created_at=created, expires_at=expires)


@pytest.mark.parametrize("units, expires, active", [
    (1000, NOW + 1, True),
    (1, NOW + 86_400, True),
    (1000, NOW, False),  # expiring exactly now is expired
    (1000, NOW - 1, False),
    (0, NOW + 86_400, False),
    (-10, NOW + 86_400, False),
])
def test_pack_is_active_only_with_units_left_before_expiry(units: int, expires: int, active: bool) -> None:
    assert pack("p", units, NOW - 100, expires).is_active(NOW) is active


def test_active_packs_are_oldest_first_and_exclude_spent_and_expired() -> None:
    newest = pack("newest", 100, NOW - 10, NOW + 1000)
    oldest = pack("oldest", 100, NOW - 300, NOW + 1000)
    middle = pack("middle", 100, NOW - 200, NOW + 1000)
    expired = pack("expired", 100, NOW - 500, NOW - 1)
    spent = pack("spent", 0, NOW - 400, NOW + 1000)

    assert active_packs([newest, expired, middle, spent, oldest], NOW) == [oldest, middle, newest]


def test_packs_created_at_the_same_time_have_a_stable_order() -> None:
    b = pack("b", 10, NOW - 10, NOW + 10)
    a = pack("a", 10, NOW - 10, NOW + 10)

    assert active_packs([b, a], NOW) == active_packs([a, b], NOW)


def test_active_packs_of_nothing_is_empty() -> None:
    assert active_packs([], NOW) == []
    assert balance_tenths([], NOW) == 0


def test_balance_sums_only_active_packs() -> None:
    packs = [
        pack("a", 1000, NOW - 300, NOW + 1000),
        pack("b", 55, NOW - 200, NOW + 1000),
        pack("expired", 5000, NOW - 900, NOW),
        pack("spent", 0, NOW - 10, NOW + 1000),
        pack("negative", -20, NOW - 10, NOW + 1000),
    ]
    assert balance_tenths(packs, NOW) == 1055


def test_balance_drops_when_a_pack_expires() -> None:
    packs = [pack("a", 1000, NOW - 300, NOW + 60), pack("b", 500, NOW - 200, NOW + 3600)]

    assert balance_tenths(packs, NOW) == 1500
    assert balance_tenths(packs, NOW + 60) == 500
    assert balance_tenths(packs, NOW + 3600) == 0
