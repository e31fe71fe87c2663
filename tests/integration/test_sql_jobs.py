"""The jobs repository on a real SQLite file and a real PostgreSQL database, each with its dialect's migrations:
every field kept, pages, ownership, the conditional status moves (and races between them), delete, the sweeper's
selection. The behaviour the services rely on is also run against tests.fakes.FakeJobs, so service tests on the
fake test the same thing. The query plans are SQLite's (its planner is what a small deployment runs on)."""

from __future__ import annotations

import json
import threading
from itertools import product

import pytest

from enhancer.adapters.sql import connect, migrate_and_check, open_jobs
from enhancer.adapters.sql.jobs import COLUMNS
from enhancer.adapters.sql.schema import REQUIRED_COLUMNS
from enhancer.domain.callbacks import CallbackAttempt
from enhancer.domain.credits import CreditPack
from enhancer.domain.guest_limits import SpendCap
from enhancer.domain.jobs import MOVES_FROM, Job, JobError, JobStatus, PageAfter, RunMode, now_iso
from enhancer.domain.quota import ChargeSplit, Reservation
from tests.fakes import FakeJobs

GUEST_KEY = "0123456789abcdef0123456789abcdef"
USER_ID = "user-1"
T0 = 1_790_000_000.0


def at(seconds: float) -> str:
    return now_iso(T0 + seconds)


def reservation(owner_type: str = "guest", owner_key: str = GUEST_KEY, user_id: str | None = None, *,
                packs: list[CreditPack] | None = None, caps: tuple[SpendCap, ...] = ()) -> Reservation:
    return Reservation(charge_id="charge-1", owner_type=owner_type, owner_key=owner_key, user_id=user_id,
                       split=ChargeSplit(plan_tenths=10, credits_tenths=5 if packs else 0), daily_used=2,
                       daily_reset_at=1_790_006_400, month="202609", credits_taken=packs or [], caps=caps)


def job(job_id: str, *, created: float = 0, owner_type: str = "guest", owner_key: str = GUEST_KEY,
        status: JobStatus = JobStatus.QUEUED, deadline: float = 900, **changes: object) -> Job:
    user_id = owner_key if owner_type == "user" else None
    made = Job(id=job_id, owner_type=owner_type, owner_key=owner_key, user_id=user_id, provider="local",
               mode=RunMode.INLINE, model="real-esrgan", options={"scale": 2},
               reservation=reservation(owner_type, owner_key, user_id), input_key=f"uploads/{job_id}.png",
               input_content_type="image/png", input_size=1234, created_at=at(created), updated_at=at(created),
               deadline_at=at(deadline), status=status)
    return made.with_changes(**changes)


def migrated(url: str) -> str:
    assert migrate_and_check(url, apply=True).ok
    conn = connect(url)
    try:  # a user's jobs reference their user
        conn.execute("INSERT INTO users (id, name, username, email, plan) VALUES (?, 'a', 'a-1', 'a@example.com', "
                     "'pro')", (USER_ID,))
    finally:
        conn.close()
    return url


@pytest.fixture
def url(database_url):
    return migrated(database_url)


@pytest.fixture
def sqlite_url(tmp_path):
    return migrated(f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.fixture
def sql_jobs(url):
    return open_jobs(url)


@pytest.fixture(params=["sqlite", "postgresql", "fake"])
def jobs(request, tmp_path):
    if request.param == "fake":
        return FakeJobs()
    database = f"sqlite:///{tmp_path / 'jobs.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    return open_jobs(migrated(database))


# --- what is kept ---------------------------------------------------------------------------------------------

def full_job() -> Job:
    packs = [CreditPack(id="pack-a", units_tenths=3, created_at=1_780_000_000, expires_at=1_800_000_000),
             CreditPack(id="pack-b", units_tenths=2, created_at=1_781_000_000, expires_at=1_801_000_000)]
    caps = (SpendCap(name="guestIp", subject="203.0.113.7", limit=20, window_start=1_789_999_200,
                     window_end=1_790_002_800),
            SpendCap(name="guestDay", subject="all", limit=2000, window_start=1_789_948_800,
                     window_end=1_790_035_200))
    return Job(id="job-full", owner_type="user", owner_key=USER_ID, user_id=USER_ID, provider="replicate",
               mode=RunMode.WEBHOOK, model="codeformer", options={"scale": 4, "faceEnhance": True, "fidelity": 0.7},
               reservation=reservation("user", USER_ID, USER_ID, packs=packs, caps=caps),
               input_key="uploads/user/full.png", input_content_type="image/png", input_size=98765,
               created_at=at(0), deadline_at=at(900), status=JobStatus.FAILED, output_key="results/user/full.png",
               prediction_id="pred-123", execution_arn="arn:aws:states:us-east-1:1:execution:enhance-job:job-full",
               error=JobError("provider_error", "The model failed"), started_at=at(1), completed_at=at(2),
               canceled_at=at(3), updated_at=at(4), callback_url="https://hooks.example.com/done?x=1",
               callback_attempts=(CallbackAttempt(at=at(5), ms=40, status=503),))


def test_every_field_comes_back_as_it_went_in(jobs):
    stored = full_job()

    jobs.insert(stored.with_changes(extra={"not": "kept"}))

    assert jobs.get(stored.id) == stored  # `extra` is not stored: it comes back empty


def test_callback_attempts_are_kept_whole_and_bounded(jobs):
    jobs.insert(job("job-cb", owner_type="user", owner_key=USER_ID, status=JobStatus.SUCCEEDED,
                    callback_url="https://hooks.example.com/"))
    attempts = [CallbackAttempt(at=at(n), ms=n, status=500) for n in range(25)]

    jobs.record_callback("job-cb", [*attempts[:2], CallbackAttempt(at=at(3), ms=9, error="timed out")], at=at(10))
    stored = jobs.get("job-cb")
    assert [a.status for a in stored.callback_attempts] == [500, 500, None]
    assert stored.callback_attempts[2].error == "timed out" and stored.updated_at == at(10)
    assert stored.status is JobStatus.SUCCEEDED  # a callback never moves its job

    jobs.record_callback("job-cb", attempts, at=at(11))
    assert jobs.get("job-cb").callback_attempts == tuple(attempts[-20:])
    jobs.record_callback("nobody", attempts, at=at(12))  # an unknown job: nothing, no error
    assert jobs.get("nobody") is None


def test_the_columns_hold_what_the_mapping_says(sql_jobs, url):
    sql_jobs.insert(full_job())

    conn = connect(url)
    try:
        cursor = conn.execute("SELECT * FROM ai_jobs WHERE id = ?", ("job-full",))
        row = dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))
    finally:
        conn.close()
    assert json.loads(row["params_json"]) == {"scale": 4, "faceEnhance": True, "fidelity": 0.7}
    assert json.loads(row["reservation_json"])["creditsTaken"][1][0] == "pack-b"
    assert row["cost_tenths"] == 15
    assert (row["owner_ref"], row["input_r2_key"], row["output_r2_key"], row["provider_job_id"]) == (
        USER_ID, "uploads/user/full.png", "results/user/full.png", "pred-123")
    assert (row["mode"], row["error_type"], row["error_message"]) == ("webhook", "provider_error", "The model failed")
    assert (row["created_at"], row["updated_at"], row["deadline_at"]) == (at(0), at(4), at(900))


def test_an_insert_without_updated_at_stamps_created_at_not_the_database_clock(jobs):
    jobs.insert(job("j1", created=5, updated_at=None))

    assert jobs.get("j1").updated_at == at(5)


def test_an_unknown_job_is_none(jobs):
    assert jobs.get("nope") is None


def test_the_same_id_twice_is_refused(sql_jobs):
    sql_jobs.insert(job("j1"))

    with pytest.raises(Exception, match=r"UNIQUE|23505"):  # SQLite's words, PostgreSQL's unique_violation
        sql_jobs.insert(job("j1"))


def test_the_repository_reads_and_writes_exactly_the_columns_the_check_requires():
    assert REQUIRED_COLUMNS["ai_jobs"] == COLUMNS


# --- pages ------------------------------------------------------------------------------------------------------

def five_jobs(jobs) -> list[str]:
    """Five jobs, two pairs created at the same moment; their ids newest first."""
    for job_id, created in [("a", 0), ("b", 10), ("c", 10), ("d", 20), ("e", 20)]:
        jobs.insert(job(job_id, created=created))
    return ["e", "d", "c", "b", "a"]


def every_page(jobs, *, status=None, limit=2, owner=("guest", GUEST_KEY)) -> list[list[str]]:
    pages, after = [], None
    while True:
        found = jobs.page(*owner, status=status, limit=limit, after=after)
        if not found:
            return pages
        pages.append([j.id for j in found])
        after = PageAfter(found[-1].created_at, found[-1].id)


def test_pages_of_two_go_newest_first_with_no_gap_and_no_repeat(jobs):
    newest_first = five_jobs(jobs)

    pages = every_page(jobs)

    assert pages == [["e", "d"], ["c", "b"], ["a"]]
    assert [i for page in pages for i in page] == newest_first


def test_a_page_starts_strictly_after_its_position(jobs):
    five_jobs(jobs)

    assert [j.id for j in jobs.page("guest", GUEST_KEY, status=None, limit=10,
                                    after=PageAfter(at(10), "c"))] == ["b", "a"]
    assert jobs.page("guest", GUEST_KEY, status=None, limit=10, after=PageAfter(at(0), "a")) == []


def test_the_status_filter_pages_too(jobs):
    for job_id, created, status in [("a", 0, JobStatus.SUCCEEDED), ("b", 1, JobStatus.QUEUED),
                                    ("c", 2, JobStatus.SUCCEEDED), ("d", 3, JobStatus.FAILED),
                                    ("e", 4, JobStatus.SUCCEEDED)]:
        jobs.insert(job(job_id, created=created, status=status))

    assert every_page(jobs, status=JobStatus.SUCCEEDED) == [["e", "c"], ["a"]]
    assert every_page(jobs, status=JobStatus.CANCELED) == []


def test_owners_never_see_each_others_jobs(jobs):
    jobs.insert(job("mine", owner_key=GUEST_KEY))
    jobs.insert(job("other-guest", owner_key="f" * 32))
    jobs.insert(job("user-with-the-same-key", owner_type="user", owner_key=USER_ID))
    jobs.insert(job("guest-with-the-user-key", owner_key=USER_ID))

    assert every_page(jobs) == [["mine"]]
    assert every_page(jobs, owner=("user", USER_ID)) == [["user-with-the-same-key"]]
    assert every_page(jobs, owner=("guest", USER_ID)) == [["guest-with-the-user-key"]]


def explained(url, jobs, call) -> list[str]:
    """The query plan of the statement(s) `call` makes the repository run."""
    statements: list[str] = []
    jobs._conn.set_trace_callback(statements.append)  # this thread's connection: the one `call` uses
    call()
    jobs._conn.set_trace_callback(None)
    with connect(url) as conn:
        return [row[3] for sql in statements for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]


def test_a_page_reads_the_owner_index_from_its_position(sqlite_url):
    sql_jobs = open_jobs(sqlite_url)
    five_jobs(sql_jobs)

    plan = explained(sqlite_url, sql_jobs, lambda: sql_jobs.page("guest", GUEST_KEY, status=JobStatus.QUEUED, limit=2,
                                                          after=PageAfter(at(10), "c")))

    assert any("USING INDEX idx_ai_jobs_owner_created_at (owner_type=? AND owner_ref=? AND created_at<?)" in step
               for step in plan), plan


def test_the_sweeper_reads_the_status_deadline_index(sqlite_url):
    sql_jobs = open_jobs(sqlite_url)
    plan = explained(sqlite_url, sql_jobs, lambda: sql_jobs.overdue(at(1000), 10))

    assert any("USING INDEX idx_ai_jobs_status_deadline" in step for step in plan), plan


# --- moves ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "to"), list(product(JobStatus, JobStatus)), ids=lambda s: s.value)
def test_a_move_happens_exactly_when_moves_from_allows_it(jobs, start, to):
    jobs.insert(job("j1", status=start))
    allowed = start in MOVES_FROM[to]

    moved = jobs.move("j1", to, at=at(50))

    assert moved is allowed
    assert jobs.get("j1").status is (to if allowed else start)
    if start.is_terminal:
        assert not moved  # nothing leaves a terminal state


@pytest.mark.parametrize(("start", "wins"), [(JobStatus.QUEUED, True), (JobStatus.PROCESSING, True),
                                             (JobStatus.SUCCEEDED, False), (JobStatus.FAILED, False),
                                             (JobStatus.CANCELED, False)])
def test_cancel_wins_only_while_the_job_runs(jobs, start, wins):
    jobs.insert(job("j1", status=start))

    assert jobs.move("j1", JobStatus.CANCELED, at=at(50), error=JobError("canceled", "Canceled by its owner")) is wins


def test_each_move_stamps_its_moment(jobs):
    jobs.insert(job("j1"))

    assert jobs.move("j1", JobStatus.PROCESSING, at=at(1))
    started = jobs.get("j1")
    assert (started.started_at, started.updated_at, started.completed_at) == (at(1), at(1), None)

    assert jobs.move("j1", JobStatus.SUCCEEDED, at=at(2), output_key="results/j1.png")
    done = jobs.get("j1")
    assert (done.started_at, done.completed_at, done.canceled_at, done.updated_at) == (at(1), at(2), None, at(2))
    assert done.output_key == "results/j1.png" and done.error is None


def test_failing_keeps_the_error(jobs):
    jobs.insert(job("j1", status=JobStatus.PROCESSING, started_at=at(1)))

    assert jobs.move("j1", JobStatus.FAILED, at=at(3), error=JobError("provider_error", "The model failed"))

    failed = jobs.get("j1")
    assert failed.error == JobError("provider_error", "The model failed")
    assert (failed.completed_at, failed.canceled_at, failed.output_key) == (at(3), None, None)


def test_canceling_stamps_canceled_and_completed(jobs):
    jobs.insert(job("j1"))

    assert jobs.move("j1", JobStatus.CANCELED, at=at(7), error=JobError("canceled", "Canceled by its owner"))

    canceled = jobs.get("j1")
    assert (canceled.canceled_at, canceled.completed_at, canceled.started_at) == (at(7), at(7), None)
    assert canceled.error == JobError("canceled", "Canceled by its owner")


def test_a_move_that_loses_changes_nothing(jobs):
    jobs.insert(job("j1", status=JobStatus.SUCCEEDED, output_key="results/j1.png", completed_at=at(2)))
    before = jobs.get("j1")

    assert not jobs.move("j1", JobStatus.FAILED, at=at(9), error=JobError("provider_error", "late"))
    assert jobs.get("j1") == before


def test_an_unknown_job_does_not_move(jobs):
    assert not jobs.move("nope", JobStatus.FAILED, at=at(1))


@pytest.mark.parametrize("round_", range(3))
def test_of_racing_success_and_cancel_exactly_one_wins(jobs, round_):
    jobs.insert(job("j1", status=JobStatus.PROCESSING))
    targets = [JobStatus.SUCCEEDED, JobStatus.CANCELED] * 4
    start = threading.Barrier(len(targets))
    results: dict[int, bool] = {}

    def attempt(index: int, to: JobStatus) -> None:
        start.wait()
        results[index] = jobs.move("j1", to, at=at(10 + index))

    threads = [threading.Thread(target=attempt, args=pair) for pair in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [targets[i] for i, won in results.items() if won]
    assert len(results) == len(targets) and len(winners) == 1
    assert jobs.get("j1").status is winners[0]


# --- record, delete, overdue --------------------------------------------------------------------------------------

def test_record_sets_only_what_it_is_given_whatever_the_status(jobs):
    jobs.insert(job("j1", status=JobStatus.CANCELED, execution_arn="arn:1"))

    jobs.record("j1", prediction_id="pred-1", at=at(5))
    after_prediction = jobs.get("j1")
    jobs.record("j1", execution_arn="arn:2", at=at(6))
    after_arn = jobs.get("j1")

    assert (after_prediction.prediction_id, after_prediction.execution_arn, after_prediction.updated_at) == (
        "pred-1", "arn:1", at(5))
    assert (after_arn.prediction_id, after_arn.execution_arn, after_arn.updated_at) == ("pred-1", "arn:2", at(6))
    assert after_arn.status is JobStatus.CANCELED


def test_record_on_an_unknown_job_does_nothing(jobs):
    jobs.record("nope", prediction_id="pred-1", at=at(5))

    assert jobs.get("nope") is None


@pytest.mark.parametrize("status", list(JobStatus), ids=lambda s: s.value)
def test_only_an_ended_job_can_be_deleted(jobs, status):
    jobs.insert(job("j1", status=status))

    assert jobs.delete("j1") is status.is_terminal
    assert (jobs.get("j1") is None) is status.is_terminal


def test_deleting_an_unknown_job_is_false(jobs):
    assert not jobs.delete("nope")


def test_overdue_is_the_running_jobs_past_their_deadline_oldest_deadline_first(jobs):
    for job_id, status, deadline in [("late-processing", JobStatus.PROCESSING, 300),
                                     ("late-queued", JobStatus.QUEUED, 100),
                                     ("latest", JobStatus.QUEUED, 400),
                                     ("due-now", JobStatus.QUEUED, 500),  # not before now: not yet overdue
                                     ("in-time", JobStatus.PROCESSING, 900),
                                     ("late-but-done", JobStatus.SUCCEEDED, 50),
                                     ("late-but-failed", JobStatus.FAILED, 60),
                                     ("late-but-canceled", JobStatus.CANCELED, 70)]:
        jobs.insert(job(job_id, status=status, deadline=deadline))

    assert [j.id for j in jobs.overdue(at(500), 10)] == ["late-queued", "late-processing", "latest"]
    assert [j.id for j in jobs.overdue(at(500), 2)] == ["late-queued", "late-processing"]
    assert jobs.overdue(at(0), 10) == []
