"""Guests cannot spend without bound (docs/architecture.md §4).

A guest id costs nothing to replace, so per-guest allowances alone would give a client that drops its cookie a
fresh free allowance every time, each a paid model run. Two caps are taken with every guest charge, beside the
guest's own daily and monthly counters, and given back with them: the enhancements of all guests behind one
client IP in the hour, and the enhancements of all guests in the UTC day. Signed-in users take neither.
"""

from __future__ import annotations

import math

from enhancer.domain.clock import iso_utc
from enhancer.domain.errors import Forbidden, RateLimited
from enhancer.domain.values import value_class

HOUR_SECONDS = 3600
DAY_SECONDS = 24 * 3600
PER_IP = "guestImagesIp"
GLOBAL = "guestImagesDay"


@value_class
class SpendCap:
    """At most `limit` charges of `subject` (a client IP, or every guest) in the fixed window ending at
    `window_end`."""

    name: str
    subject: str
    limit: int
    window_start: int
    window_end: int


def guest_caps(client_ip: str, now: float, *, per_ip_per_hour: int, per_day: int) -> tuple[SpendCap, ...]:
    """The caps one guest charge takes: its IP's hour first (the one an abuser reaches), then the day's."""
    hour = int(now // HOUR_SECONDS) * HOUR_SECONDS
    day = int(now // DAY_SECONDS) * DAY_SECONDS
    return (SpendCap(PER_IP, client_ip, per_ip_per_hour, hour, hour + HOUR_SECONDS),
            SpendCap(GLOBAL, "all", per_day, day, day + DAY_SECONDS))


class GuestsOfIpCapReached(RateLimited):
    """429: the guests behind this IP have had their enhancements for the hour."""

    def __init__(self, cap: SpendCap, used: int, now: float) -> None:
        super().__init__(max(1, math.ceil(cap.window_end - now)))
        self.message = ("Free enhancements from this network are used up for the hour; "
                        "sign in to continue, or retry later")
        self.details = {"scope": "guestIp", "used": used, "limit": cap.limit, "resetAt": iso_utc(cap.window_end),
                        "signIn": True}


class GuestBudgetReached(Forbidden):
    """403: every guest together has had the day's free enhancements; only signed-in users go on."""

    def __init__(self, cap: SpendCap, used: int) -> None:
        super().__init__("Free guest enhancements are used up for today; sign in to continue",
                         details={"scope": "guestBudget", "used": used, "limit": cap.limit,
                                  "resetAt": iso_utc(cap.window_end), "signIn": True})


def cap_refusal(cap: SpendCap, used: int, now: float) -> RateLimited | Forbidden:
    """The refusal of a charge that found `used` of the cap's `limit` taken."""
    return GuestsOfIpCapReached(cap, used, now) if cap.name == PER_IP else GuestBudgetReached(cap, used)
