"""Jobs, pure: the moves between statuses, a reservation kept with its job, list cursors and parameters."""

from __future__ import annotations

import pytest

from enhancer.domain.credits import CreditPack
from enhancer.domain.errors import ValidationFailed
from enhancer.domain.guest_limits import SpendCap
from enhancer.domain.jobs import (
    ACTIVE,
    MAX_PAGE,
    MOVES_FROM,
    TERMINAL,
    JobStatus,
    PageAfter,
    api_time,
    decode_cursor,
    encode_cursor,
    now_iso,
    page_limit,
    reservation_from_json,
    reservation_to_json,
    status_filter,
)
from enhancer.domain.quota import ChargeSplit, Reservation


def test_nothing_leaves_a_terminal_state_and_every_status_is_reachable_only_as_designed():
    for to, sources in MOVES_FROM.items():
        assert not sources & TERMINAL, to
    assert MOVES_FROM[JobStatus.PROCESSING] == {JobStatus.QUEUED}
    assert MOVES_FROM[JobStatus.SUCCEEDED] == {JobStatus.PROCESSING}
    assert MOVES_FROM[JobStatus.CANCELED] == MOVES_FROM[JobStatus.FAILED] == ACTIVE
    assert {s for s in JobStatus if s.is_terminal} == TERMINAL


def test_a_reservation_survives_the_trip_through_its_job():
    reservation = Reservation(
        charge_id="c1", owner_type="guest", owner_key="k", user_id=None, split=ChargeSplit(10, 5), daily_used=2,
        daily_reset_at=1_800_000_000, month="202612",
        credits_taken=[CreditPack(id="p1", units_tenths=5, created_at=1, expires_at=2)],
        caps=(SpendCap(name="guestIp", subject="198.51.100.7", limit=20, window_start=0, window_end=3600),))

    assert reservation_from_json(reservation_to_json(reservation)) == reservation


def test_timestamps_sort_as_text_and_show_to_the_second():
    earlier, later = now_iso(1_800_000_000.25), now_iso(1_800_000_000.5)

    assert earlier < later and earlier.endswith("Z")
    assert api_time(earlier) == "2027-01-15T08:00:00Z"
    assert api_time(None) is None


def test_a_cursor_names_its_position_and_anything_else_is_refused():
    after = PageAfter(created_at=now_iso(1_800_000_000), job_id="6f1c3d1e-0000-4000-8000-000000000000")

    assert decode_cursor(encode_cursor(after)) == after
    for bad in ("", "%%%", "bm90IGpzb24", encode_cursor(PageAfter("x" * 41, "y"))):
        with pytest.raises(ValidationFailed) as info:
            decode_cursor(bad)
        assert info.value.details == {"field": "cursor"}


@pytest.mark.parametrize(("raw", "expected"), [(None, 20), ("", 20), ("1", 1), (str(MAX_PAGE), MAX_PAGE)])
def test_page_limits(raw, expected):
    assert page_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "101", "-1", "2.5", "ten"])
def test_page_limits_out_of_range_are_refused(raw):
    with pytest.raises(ValidationFailed):
        page_limit(raw)


def test_status_filter():
    assert status_filter(None) is None and status_filter("canceled") is JobStatus.CANCELED
    with pytest.raises(ValidationFailed, match="'status' must be one of"):
        status_filter("done")
