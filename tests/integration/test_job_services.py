"""Jobs end to end through their services, on a real SQLite database with the real migrations and in-memory
fakes for the ledger, the store, the provider and the workflow (tests/fakes.py): create, the workflow's tasks
in the order the state machine runs them, cancel (queued, processing, racing a completion), failure and
refund, the sweeper, delete, list pages and ownership, the webhook's resume."""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from enhancer.adapters.sql import connect, migrate_and_check, open_jobs
from enhancer.domain.errors import (
    Forbidden,
    NotFound,
    ProviderFailed,
    ProviderTimedOut,
    ServiceUnavailable,
    ValidationFailed,
)
from enhancer.domain.jobs import JobStatus, RunMode, decode_cursor, now_iso
from enhancer.services import job_workflow
from enhancer.services.generate import GenerateDeps, GenerateRequest, GuestBounds, HandedOver, generate
from enhancer.services.job_workflow import JobEnded, WorkflowDeps, readable_error, resume_from_webhook
from enhancer.services.jobs import (
    JobDeps,
    cancel_job,
    create_job,
    delete_job,
    enqueue,
    fail_overdue,
    list_jobs,
    owned_job,
)
from enhancer.services.ports import Prediction
from tests.fakes import (
    FakeConverter,
    FakeImageStore,
    FakeLedger,
    FakeProvider,
    FakeRemoteProvider,
    FakeTaskTokens,
    FakeWorkflow,
    header_checker,
)
from tests.unit.test_unit_generate_service import GUEST, ORIGINAL, RESULT, USER


class World:
    def __init__(self, tmp_path, *, provider=None, refuse_start=None, webhooks=False, timeout=900) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        assert migrate_and_check(url, apply=True).ok
        with connect(url) as conn:  # USER's row: a user's jobs reference it
            conn.execute("INSERT INTO users (id, name, username, email, plan) VALUES (?, ?, ?, ?, ?)",
                         (USER.owner_key, "a", "a-1", "a@example.com", "pro"))
        self.jobs = open_jobs(url)
        self.ledger, self.store = FakeLedger(), FakeImageStore()
        self.provider = provider or FakeProvider(output=RESULT, name="local")
        self.workflow, self.tokens = FakeWorkflow(refuse_start=refuse_start), FakeTaskTokens()
        self.converter = FakeConverter()
        self.generate = GenerateDeps(ledger=self.ledger, store=self.store, check_image=header_checker,
                                     provider=lambda: self.provider, max_pixels=10_000_000,
                                     guest_bounds=GuestBounds(per_ip_per_hour=20, per_day=2000),
                                     convert=self.converter)
        self.deps = JobDeps(jobs=self.jobs, workflow=lambda: self.workflow, ledger=self.ledger, store=self.store,
                            webhooks=webhooks, timeout_seconds=timeout)
        self.tasks = WorkflowDeps(jobs=self.jobs, ledger=self.ledger, store=self.store, tokens=self.tokens,
                                  provider=lambda: self.provider, check_image=header_checker,
                                  max_pixels=10_000_000, public_api_url="https://api.example.com",
                                  convert=self.converter)

    def create(self, identity=GUEST, **fields):
        request = GenerateRequest(model="real-esrgan", fields={"model": "real-esrgan", **fields}, image=ORIGINAL)
        return create_job(request, identity, self.generate, self.deps)


def deadline() -> float:
    return time.monotonic() + 30


def test_a_created_job_is_queued_charged_once_stored_and_started(tmp_path):
    world = World(tmp_path)

    job = world.create(scale="2")

    stored = world.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.mode is RunMode.INLINE
    assert stored.reservation == world.ledger.reserved[0] and len(world.ledger.reserved) == 1
    assert world.store.objects[stored.input_key][0] == ORIGINAL
    assert world.workflow.started == {job.id: {"jobId": job.id, "mode": "inline", "timeoutSeconds": 900}}
    assert stored.execution_arn.endswith(job.id) and stored.options == {"scale": 2, "output_format": "png"}


def test_the_inline_task_runs_the_model_and_the_job_succeeds_and_is_settled(tmp_path):
    world = World(tmp_path)
    job = world.create()

    job_workflow.run_inline(world.tasks, job.id, deadline())

    done = world.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.started_at and done.completed_at
    assert world.store.objects[done.output_key][0] == RESULT
    assert world.ledger.settled == [job.reservation] and world.ledger.given_back == []


def test_a_job_whose_workflow_cannot_start_fails_and_gives_the_charge_back(tmp_path):
    world = World(tmp_path, refuse_start=RuntimeError("throttled"))

    with pytest.raises(ServiceUnavailable):
        world.create()

    [reservation] = world.ledger.reserved
    assert world.ledger.given_back == [reservation]
    [job] = list_jobs(world.jobs, GUEST, status=None, limit=10, after=None).jobs
    assert job.status is JobStatus.FAILED and job.error.type == "service_unavailable"


def test_cancel_while_queued_returns_the_charge_once_and_the_late_task_changes_nothing(tmp_path):
    world = World(tmp_path)
    job = world.create()

    canceled = cancel_job(job.id, GUEST, world.deps, lambda: None)
    again = cancel_job(job.id, GUEST, world.deps, lambda: None)
    with pytest.raises(JobEnded):  # the execution's first task, arriving late
        job_workflow.run_inline(world.tasks, job.id, deadline())

    assert canceled.status is again.status is JobStatus.CANCELED and canceled.canceled_at
    assert world.ledger.given_back == [job.reservation] and world.ledger.settled == []
    assert world.workflow.stopped == [job.execution_arn]
    assert world.jobs.get(job.id).output_key is None


def test_a_result_that_arrives_after_a_cancel_is_removed_and_the_job_stays_canceled(tmp_path):
    world = World(tmp_path)
    job = world.create()
    world.jobs.move(job.id, JobStatus.PROCESSING, at=now_iso(time.time()))
    cancel_job(job.id, GUEST, world.deps, lambda: None)
    stored_before = set(world.store.objects)

    with pytest.raises(JobEnded):
        job_workflow._succeed(world.tasks, job, _enhanced())  # the model's answer, arriving late

    assert world.jobs.get(job.id).status is JobStatus.CANCELED
    assert set(world.store.objects) == stored_before  # the late result was deleted
    assert world.ledger.settled == [] and world.ledger.given_back == [job.reservation]


def _enhanced():
    from enhancer.services.ports import EnhancedImage

    return EnhancedImage(data=RESULT, content_type="image/png")


def _race(world: World, job_id: str) -> None:
    processing = world.jobs.get(job_id)

    def complete() -> None:
        with contextlib.suppress(JobEnded):
            job_workflow._succeed(world.tasks, processing, _enhanced())

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda f: f(), [complete, lambda: cancel_job(job_id, GUEST, world.deps, lambda: None)]))


def test_cancel_racing_a_completion_ends_one_way_only(tmp_path):
    for attempt in range(10):
        world = World(tmp_path / str(attempt))
        job = world.create()
        world.jobs.move(job.id, JobStatus.PROCESSING, at=now_iso(time.time()))

        _race(world, job.id)

        final = world.jobs.get(job.id)
        if final.status is JobStatus.SUCCEEDED:
            assert world.ledger.settled == [job.reservation] and world.ledger.given_back == []
        else:
            assert final.status is JobStatus.CANCELED and final.output_key is None
            assert world.ledger.given_back == [job.reservation] and world.ledger.settled == []


def test_a_provider_failure_fails_the_job_readably_and_refunds_it(tmp_path):
    world = World(tmp_path, provider=FakeProvider(error=ProviderFailed("The model could not enhance this image"),
                                                  name="local"))
    job = world.create()

    with pytest.raises(ProviderFailed) as failure:
        job_workflow.run_inline(world.tasks, job.id, deadline())
    # What the state machine hands FailJob: the task's error name and Lambda's error payload as the cause.
    error = {"Error": "provider_error",
             "Cause": json.dumps({"errorMessage": failure.value.message, "errorType": "provider_error"})}
    job_workflow.fail(world.tasks, job.id, error)
    job_workflow.fail(world.tasks, job.id, error)  # FailJob retried

    failed = world.jobs.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert (failed.error.type, failed.error.message) == ("provider_error", "The model could not enhance this image")
    assert world.ledger.given_back == [job.reservation] and world.ledger.settled == []


@pytest.mark.parametrize(("error", "expected"), [
    ({"Error": "transient_provider_error", "Cause": '{"errorMessage": "The enhancement service failed, please retry"}'},
     ("provider_error", "The enhancement service failed, please retry")),
    ({"Error": "States.Timeout", "Cause": None}, ("provider_error", "The enhancement took too long")),
    ({"Error": "KeyError", "Cause": '{"errorMessage": "secret internals"}'},
     ("server_error", "The enhancement failed unexpectedly")),
    ({"Error": "provider_error", "Cause": "The enhancement was canceled"},
     ("provider_error", "The enhancement was canceled")),
])
def test_errors_shown_on_a_job_are_our_own_words(error, expected):
    shown = readable_error(error)
    assert (shown.type, shown.message) == expected


def test_the_sweeper_fails_and_refunds_only_jobs_past_their_deadline(tmp_path):
    world = World(tmp_path, timeout=60)
    overdue, fresh = world.create(), None
    world2 = World(tmp_path / "b", timeout=900)
    fresh = world2.create()

    failed = fail_overdue(world.deps, lambda: None, now=time.time() + 120)
    assert fail_overdue(world2.deps, lambda: None, now=time.time() + 120) == 0

    assert failed == 1 and world.jobs.get(overdue.id).status is JobStatus.FAILED
    assert world.ledger.given_back == [overdue.reservation] and world.workflow.stopped == [overdue.execution_arn]
    assert world2.jobs.get(fresh.id).status is JobStatus.QUEUED and world2.ledger.given_back == []


def test_only_an_ended_job_is_deleted_with_its_images(tmp_path):
    world = World(tmp_path)
    job = world.create()
    with pytest.raises(ValidationFailed):
        delete_job(job.id, GUEST, world.deps)
    job_workflow.run_inline(world.tasks, job.id, deadline())
    done = world.jobs.get(job.id)

    delete_job(job.id, GUEST, world.deps)

    assert done.input_key not in world.store.objects and done.output_key not in world.store.objects
    with pytest.raises(NotFound):
        owned_job(world.jobs, job.id, GUEST)


def test_jobs_are_their_owners_alone_and_pages_walk_them_newest_first(tmp_path):
    world = World(tmp_path)
    mine = [world.create() for _ in range(5)]
    theirs = world.create(identity=USER)

    seen, cursor = [], None
    while True:
        page = list_jobs(world.jobs, GUEST, status=None, limit=2, after=decode_cursor(cursor) if cursor else None)
        seen += [job.id for job in page.jobs]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [job.id for job in reversed(mine)]
    with pytest.raises(Forbidden):
        owned_job(world.jobs, theirs.id, GUEST)
    with pytest.raises(NotFound):
        owned_job(world.jobs, "not-a-job", GUEST)
    assert list_jobs(world.jobs, GUEST, status=JobStatus.SUCCEEDED, limit=5, after=None).jobs == []


def test_a_generate_cut_short_by_its_deadline_becomes_a_job_charged_once(tmp_path):
    world = World(tmp_path, provider=FakeProvider(error=ProviderTimedOut(prediction_id="p-1"), name="replicate"))
    request = GenerateRequest(model="real-esrgan", fields={"model": "real-esrgan"}, image=ORIGINAL)

    result = generate(request, GUEST, world.generate, deadline(), hand_over=lambda prepared, reservation, key, pid:
                      enqueue(prepared, GUEST, reservation, key, world.deps, prediction_id=pid))

    assert isinstance(result, HandedOver)
    job = world.jobs.get(result.job.id)
    assert job.prediction_id == "p-1" and job.mode is RunMode.POLL and job.status is JobStatus.QUEUED
    assert world.workflow.started[job.id]["prediction"] == {"id": "p-1"}
    assert len(world.ledger.reserved) == 1 and world.ledger.given_back == []


def test_the_polled_start_creates_one_prediction_and_a_retried_start_reuses_it(tmp_path):
    world = World(tmp_path, provider=FakeRemoteProvider(image=RESULT))
    job = world.create()

    first = job_workflow.start_prediction(world.tasks, job.id, task_token=None, timeout_seconds=900,
                                          deadline=deadline())
    retried = job_workflow.start_prediction(world.tasks, job.id, task_token=None, timeout_seconds=900,
                                            deadline=deadline())

    assert first.id == retried.id == "p-1" and list(world.provider.statuses) == ["p-1"]
    stored = world.jobs.get(job.id)
    assert stored.status is JobStatus.PROCESSING and stored.prediction_id == "p-1"
    world.provider.statuses["p-1"] = "succeeded"
    assert job_workflow.check_prediction(world.tasks, job.id, deadline()).done


def test_a_cancel_while_the_create_is_in_flight_cancels_the_prediction_it_made(tmp_path):
    world = World(tmp_path, provider=FakeRemoteProvider(image=RESULT))
    job = world.create()
    canceled = []
    # The owner's cancel lands while Replicate holds the create: the job has no prediction id to cancel yet.
    world.provider.during_start = lambda: canceled.append(cancel_job(job.id, GUEST, world.deps,
                                                                     lambda: world.provider))

    with pytest.raises(JobEnded):
        job_workflow.start_prediction(world.tasks, job.id, task_token=None, timeout_seconds=900,
                                      deadline=deadline())

    assert canceled[0].status is JobStatus.CANCELED and canceled[0].prediction_id is None
    assert world.provider.canceled == ["p-1"]  # by the task, once the create answered
    assert world.jobs.get(job.id).status is JobStatus.CANCELED
    assert world.ledger.given_back == [job.reservation] and world.ledger.settled == []


def test_a_cancel_after_the_create_cancels_the_recorded_prediction_itself(tmp_path):
    world = World(tmp_path, provider=FakeRemoteProvider(image=RESULT))
    job = world.create()
    job_workflow.start_prediction(world.tasks, job.id, task_token=None, timeout_seconds=900, deadline=deadline())

    cancel_job(job.id, GUEST, world.deps, lambda: world.provider)

    assert world.provider.canceled == ["p-1"]
    with pytest.raises(JobEnded):  # the poll loop's next check
        job_workflow.check_prediction(world.tasks, job.id, deadline())


def test_the_webhook_resumes_a_waiting_execution_once(tmp_path):
    world = World(tmp_path)
    world.tokens.put("job-1", "token-1", 0)
    world.workflow.waiting.add("token-1")
    prediction = {"id": "p-1", "status": "succeeded", "output": ["https://replicate.delivery/x.png", "extra"]}

    assert resume_from_webhook(world.tokens, world.workflow, "job-1", {"id": "p-1", "status": "processing"}) == \
        "not_final"
    assert resume_from_webhook(world.tokens, world.workflow, "job-1", prediction) == "resumed"
    assert resume_from_webhook(world.tokens, world.workflow, "job-1", prediction) == "not_waiting"
    assert world.workflow.sent["token-1"] == ("success", {"id": "p-1", "status": "succeeded", "done": True,
                                                          "output": ["https://replicate.delivery/x.png"]})


def test_a_failed_prediction_fails_the_waiting_task(tmp_path):
    world = World(tmp_path)
    world.tokens.put("job-1", "token-1", 0)
    world.workflow.waiting.add("token-1")

    assert resume_from_webhook(world.tokens, world.workflow, "job-1", {"id": "p", "status": "failed"}) == "resumed"
    assert world.workflow.sent["token-1"][0] == "failure"
    assert world.workflow.sent["token-1"][1]["error"] == "provider_error"


def test_a_prediction_object_is_done_only_in_a_final_state():
    assert Prediction("p", "succeeded").done and Prediction("p", "canceled").done
    assert not Prediction("p", "processing").done
