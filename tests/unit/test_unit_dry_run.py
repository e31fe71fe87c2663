"""Price quotes (`dryRun`): the pure rule a quote and the reservation's refusal share (domain/quota.py), the
`dryRun` flag's parsing, and the dry-run use cases on the in-memory fakes — every check of the real call, then
the quote, and nothing stored, reserved, charged or started."""

from __future__ import annotations

from dataclasses import replace

import pytest

from enhancer.domain.enhancement import parse_flag
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed
from enhancer.domain.guest_limits import GuestBudgetReached, GuestsOfIpCapReached, guest_caps
from enhancer.domain.plans import OwnerType, Plan, entitlements_for
from enhancer.domain.quota import ChargeCounters, ChargeSplit, QuotaExceeded, last_refusal, quote_charge, split_charge
from enhancer.services.generate import dry_run
from enhancer.services.jobs import JobDeps, dry_run_job
from tests.fakes import FakeJobs, FakeWorkflow
from tests.unit.test_unit_generate_service import GUEST, USER, request, setup

NOW = 1_715_342_400  # 2024-05-10 12:00 UTC
FREE = entitlements_for(OwnerType.USER, Plan.FREE)
PRO = entitlements_for(OwnerType.USER, Plan.PRO)
GUEST_PLAN = entitlements_for(OwnerType.GUEST, None)


# --- the pure rule ------------------------------------------------------------------------------------------------

def test_a_fresh_owner_is_quoted_the_plan_only_split_and_can_afford_it():
    quote = quote_charge(25, ChargeCounters(), PRO, NOW)

    assert quote.split == ChargeSplit(plan_tenths=25, credits_tenths=0) and quote.affordable
    assert quote.split.as_response() == {"total": 2.5, "planPortion": 2.5, "creditsPortion": 0.0}


@pytest.mark.parametrize(("cost", "used", "limit"), [(10, 0, 100), (25, 90, 100), (10, 100, 100), (15, 130, 100),
                                                     (10, 0, 0)])
def test_the_quoted_split_is_the_reservations_split(cost, used, limit):
    counters = ChargeCounters(monthly_used_tenths=used, credits_tenths=1000)
    entitlements = replace(FREE, monthly_images=limit // 10)

    assert quote_charge(cost, counters, entitlements, NOW).split == split_charge(cost, used, limit)


def test_past_the_allowance_credits_pay_the_rest_while_the_balance_covers_it():
    limit = PRO.monthly_images * 10
    with_credits = ChargeCounters(monthly_used_tenths=limit - 5, credits_tenths=20)
    short = ChargeCounters(monthly_used_tenths=limit - 5, credits_tenths=19)

    quote = quote_charge(25, with_credits, PRO, NOW)
    assert quote.split == ChargeSplit(plan_tenths=5, credits_tenths=20) and quote.affordable
    refused = quote_charge(25, short, PRO, NOW)
    assert refused.split == ChargeSplit(plan_tenths=5, credits_tenths=20)  # the charge is still named
    assert isinstance(refused.refusal, QuotaExceeded) and refused.refusal.scope == "monthly"
    assert refused.refusal.details == {"scope": "monthly", "used": (limit - 5) / 10, "limit": limit / 10,
                                       "resetAt": "2024-06-01T00:00:00Z"}


def test_a_full_open_day_refuses_and_a_window_that_has_ended_does_not():
    cap = FREE.daily_burst_cap
    full = ChargeCounters(daily_count=cap, daily_reset_at=NOW + 60)
    ended = ChargeCounters(daily_count=cap, daily_reset_at=NOW)

    refusal = quote_charge(10, full, FREE, NOW).refusal
    assert isinstance(refusal, QuotaExceeded) and refusal.details["scope"] == "daily"
    assert refusal.details["used"] == cap and refusal.details["limit"] == cap
    assert quote_charge(10, ended, FREE, NOW).affordable
    assert quote_charge(10, ChargeCounters(daily_count=cap - 1, daily_reset_at=NOW + 60), FREE, NOW).affordable


def test_a_full_guest_cap_refuses_as_the_reservation_would():
    ip_cap, day_cap = guest_caps("198.51.100.7", NOW, per_ip_per_hour=2, per_day=5)

    ip = quote_charge(10, ChargeCounters(caps=((ip_cap, 2), (day_cap, 1))), GUEST_PLAN, NOW).refusal
    day = quote_charge(10, ChargeCounters(caps=((ip_cap, 0), (day_cap, 5))), GUEST_PLAN, NOW).refusal

    assert isinstance(ip, GuestsOfIpCapReached) and ip.retry_after is not None and ip.details["scope"] == "guestIp"
    assert isinstance(day, GuestBudgetReached) and day.details["scope"] == "guestBudget"
    assert quote_charge(10, ChargeCounters(caps=((ip_cap, 1), (day_cap, 4))), GUEST_PLAN, NOW).affordable


def test_of_several_limits_that_refuse_the_last_is_named():
    ip_cap, day_cap = guest_caps("198.51.100.7", NOW, per_ip_per_hour=2, per_day=5)
    month = GUEST_PLAN.monthly_images * 10
    every = ChargeCounters(caps=((ip_cap, 2), (day_cap, 5)), daily_count=GUEST_PLAN.daily_burst_cap,
                           daily_reset_at=NOW + 60, monthly_used_tenths=month)
    no_month = ChargeCounters(caps=((ip_cap, 2), (day_cap, 5)), daily_count=GUEST_PLAN.daily_burst_cap,
                              daily_reset_at=NOW + 60)

    assert quote_charge(10, every, GUEST_PLAN, NOW).refusal.details["scope"] == "monthly"  # type: ignore[union-attr]
    assert quote_charge(10, no_month, GUEST_PLAN, NOW).refusal.details["scope"] == "daily"  # type: ignore[union-attr]
    # The reservation's probe asks only about the limits after the one that refused: the same rule, narrowed.
    only_caps = last_refusal(10, every, GUEST_PLAN, NOW, daily=False, monthly=False)
    assert isinstance(only_caps, GuestBudgetReached)


# --- the flag -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    (None, False), ("", False), ("  ", False), ("true", True), ("TRUE", True), ("1", True), ("on", True),
    ("yes", True), (True, True), ("false", False), ("0", False), ("off", False), ("no", False), (False, False),
])
def test_dry_run_takes_the_words_the_boolean_options_take(raw, expected):
    assert parse_flag({"dryRun": raw} if raw is not None else {}, "dryRun") is expected


@pytest.mark.parametrize("raw", ["maybe", "2", 1, 0, ["true"], {"a": 1}, "truee"])
def test_any_other_dry_run_value_is_a_400_naming_the_field(raw):
    with pytest.raises(ValidationFailed) as refused:
        parse_flag({"dryRun": raw}, "dryRun")

    assert refused.value.details == {"field": "dryRun"} and "dryRun" in refused.value.message


# --- the use cases on fakes ---------------------------------------------------------------------------------------

def test_a_dry_run_quotes_the_options_cost_and_stores_reserves_and_runs_nothing():
    journal, store, ledger, provider, deps = setup()

    quoted = dry_run(request(scale="4", face_enhance="true"), USER, deps)

    assert journal.names == ["ledger.quote"]
    assert store.objects == {} and ledger.reserved == [] and provider.sources == []
    assert quoted.quote.split == ChargeSplit(plan_tenths=25, credits_tenths=0) and quoted.quote.affordable
    assert quoted.model.slug == "real-esrgan" and quoted.entitlements == PRO
    assert ledger.quoted == [("user-1", 25, ())]


def test_a_guests_quote_takes_the_same_caps_a_reservation_would():
    _, _, ledger, _, deps = setup()

    dry_run(request(), GUEST, deps)

    (_, cost, caps), = ledger.quoted
    assert cost == 10 and [cap.name for cap in caps] == ["guestImagesIp", "guestImagesDay"]
    assert caps[0].subject == "198.51.100.7" and caps[0].limit == 20 and caps[1].limit == 100


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": "no-such-model"}, "model"), ({"scale": "3"}, "scale"), ({"image": None}, "image"),
    ({"image": b"not an image"}, "image"),
])
def test_a_dry_run_fails_where_the_real_call_would_before_any_quote(fields, field):
    journal, _, _, _, deps = setup()

    with pytest.raises(ValidationFailed) as refused:
        dry_run(request(**fields), GUEST, deps)

    assert refused.value.details["field"] == field and journal.names == []


def test_a_dry_run_without_a_provider_is_503_as_generate_is():
    journal, _, _, _, deps = setup(provider_unavailable=True)

    with pytest.raises(ServiceUnavailable):
        dry_run(request(), GUEST, deps)

    assert journal.names == []


def test_a_refused_charge_is_the_quotes_answer_not_an_error():
    refusal = QuotaExceeded(scope="daily", used=3, limit=3, reset_at=2_000_000_000)
    journal, store, ledger, _, deps = setup(refuse=refusal)

    quoted = dry_run(request(), GUEST, deps)

    assert quoted.quote.refusal is refusal and not quoted.quote.affordable
    assert journal.names == ["ledger.quote"] and store.objects == {} and ledger.reserved == []


def _job_deps(ledger, store, workflow=None):
    def build() -> FakeWorkflow:
        if workflow is None:
            raise ServiceUnavailable("Jobs are not configured on this deployment")
        return workflow

    return JobDeps(jobs=FakeJobs(), workflow=build, ledger=ledger, store=store, webhooks=False,
                   timeout_seconds=900)


def test_a_job_dry_run_inserts_no_job_and_starts_no_execution():
    journal, store, ledger, _, deps = setup()
    workflow = FakeWorkflow(journal)
    job_deps = _job_deps(ledger, store, workflow)

    quoted = dry_run_job(request(), USER, deps, job_deps)

    assert quoted.quote.affordable and journal.names == ["ledger.quote"]
    assert workflow.started == {} and job_deps.jobs.jobs == {}  # type: ignore[attr-defined]
    assert store.objects == {} and ledger.reserved == []


def test_a_job_dry_run_where_jobs_are_not_configured_is_503_as_the_create_would_be():
    _, store, ledger, _, deps = setup()
    job_deps = _job_deps(ledger, store)

    with pytest.raises(ServiceUnavailable):
        dry_run_job(request(), USER, deps, job_deps)


def test_an_unaffordable_job_dry_run_answers_the_refusal_the_create_would_meet_first():
    refusal = QuotaExceeded(scope="monthly", used=3, limit=3, reset_at=2_000_000_000)
    _, store, ledger, _, deps = setup(refuse=refusal)
    job_deps = _job_deps(ledger, store)  # no workflow: the real create would be refused before it

    assert dry_run_job(request(), USER, deps, job_deps).quote.refusal is refusal
