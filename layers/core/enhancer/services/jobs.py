"""Jobs for their owners (docs/architecture.md §7): create one (the same prepare and reserve steps as generate,
then the workflow), read, list, cancel and delete them. What the workflow does is in `services.job_workflow`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from enhancer.domain.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from enhancer.domain.identity import Identity
from enhancer.domain.jobs import (
    ACTIVE,
    Job,
    JobError,
    JobStatus,
    PageAfter,
    RunMode,
    encode_cursor,
    now_iso,
)
from enhancer.domain.quota import Reservation
from enhancer.domain.values import value_class
from enhancer.observability import logger, metrics
from enhancer.services.ports import ImageStore, Jobs, Ledger, RemoteProvider, Workflow

if TYPE_CHECKING:
    from enhancer.services.generate import GenerateDeps, GenerateRequest, PreparedEnhancement, Quoted

# _ENHANCEMENT: services.generate (its steps, and through them the models, quota and image checks) is imported
# by the functions that create jobs, where the route loads it at init anyway; reading, listing, canceling and
# deleting jobs never needs it, and those functions start without it.
NOT_STARTED = "Jobs cannot be started right now, please retry"
CANCELED_BY_OWNER = "Canceled by its owner"


@value_class
class JobDeps:
    jobs: Jobs
    workflow: Callable[[], Workflow]  # built on first use: a stack without a state machine answers 503 then
    ledger: Ledger
    store: ImageStore
    webhooks: bool  # Replicate's webhooks reach this deployment; otherwise the workflow polls
    timeout_seconds: int


def run_mode(provider_name: str, webhooks: bool) -> RunMode:
    if provider_name != "replicate":
        return RunMode.INLINE
    return RunMode.WEBHOOK if webhooks else RunMode.POLL


def create_job(request: GenerateRequest, identity: Identity, generate: GenerateDeps, deps: JobDeps, *,
               callback_url: str | None = None) -> Job:
    """prepare → reserve → store the original → the job, queued, and its execution. Nothing stays charged
    or stored when a step fails. `callback_url` was checked already (services.callbacks.checked_callback_url)."""
    from enhancer.services.generate import prepare, reserve, store_original  # see _ENHANCEMENT

    prepared = prepare(request, identity, generate)
    reservation = reserve(request, identity, generate, prepared)
    try:
        original_key = store_original(prepared, identity, deps.store)
    except BaseException:
        deps.ledger.give_back(reservation)
        raise
    return enqueue(prepared, identity, reservation, original_key, deps, callback_url=callback_url)


def dry_run_job(request: GenerateRequest, identity: Identity, generate: GenerateDeps, deps: JobDeps) -> Quoted:
    """What create_job would charge, storing, reserving and starting nothing: generate's dry run, and where
    the charge would be taken the workflow built too, so a deployment without jobs answers 503 as the real
    create would after its charge."""
    from enhancer.services.generate import dry_run  # see _ENHANCEMENT

    quoted = dry_run(request, identity, generate)
    if quoted.quote.affordable:
        deps.workflow()
    return quoted


def enqueue(prepared: PreparedEnhancement, identity: Identity, reservation: Reservation, original_key: str,
            deps: JobDeps, *, prediction_id: str | None = None, callback_url: str | None = None) -> Job:
    """A job for work already paid for and stored (a new job, or a generate handed over at its deadline with
    the prediction it left running), and its execution. If the workflow cannot start, the job fails and the
    charge goes back (503)."""
    now = time.time()
    job = Job(
        id=str(uuid.uuid4()), owner_type=identity.owner_type.value, owner_key=identity.owner_key,
        user_id=identity.user.id if identity.user else None, provider=prepared.provider.name,
        mode=run_mode(prepared.provider.name, deps.webhooks), model=prepared.model.slug,
        options=prepared.options.as_dict(), reservation=reservation, input_key=original_key,
        input_content_type=prepared.header.content_type, input_size=len(prepared.image),
        created_at=now_iso(now), updated_at=now_iso(now), deadline_at=now_iso(now + deps.timeout_seconds),
        prediction_id=prediction_id, callback_url=callback_url)
    try:
        deps.jobs.insert(job)
    except BaseException:
        from enhancer.services.generate import delete_quietly  # see _ENHANCEMENT

        deps.ledger.give_back(reservation)
        delete_quietly(deps.store, original_key)
        raise
    run_input: dict[str, Any] = {"jobId": job.id, "mode": job.mode.value, "timeoutSeconds": deps.timeout_seconds}
    if prediction_id:
        run_input["prediction"] = {"id": prediction_id}
    if callback_url:  # the state machine's choices send only these jobs through CallbackJob
        run_input["callback"] = True
    try:
        execution_arn = deps.workflow().start(job.id, run_input)
    except Exception as error:
        logger.exception("job_start_failed", extra={"job_id": job.id})
        if deps.jobs.move(job.id, JobStatus.FAILED, at=now_iso(time.time()),
                          error=JobError("service_unavailable", NOT_STARTED)):
            deps.ledger.give_back(reservation)
        raise ServiceUnavailable(NOT_STARTED, retry_after=5) from error
    deps.jobs.record(job.id, execution_arn=execution_arn, at=now_iso(time.time()))
    metrics.add_metric(name="job_created", unit="Count", value=1)
    return job.with_changes(execution_arn=execution_arn)


def owned_job(jobs: Jobs, job_id: str, identity: Identity) -> Job:
    """The caller's job: 404 when there is none, 403 when it is someone else's."""
    job = jobs.get(job_id) if _plausible_id(job_id) else None
    if job is None:
        raise NotFound("No job with this id")
    if not identity.owns(job.owner_type, job.owner_key):
        raise Forbidden("This job belongs to someone else")
    return job


@value_class
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def list_jobs(jobs: Jobs, identity: Identity, *, status: JobStatus | None, limit: int,
              after: PageAfter | None) -> JobPage:
    """The caller's jobs, newest first; one more than asked is read to know whether a next page exists."""
    found = jobs.page(identity.owner_type.value, identity.owner_key, status=status, limit=limit + 1, after=after)
    page = found[:limit]
    more = len(found) > limit
    return JobPage(jobs=page, next_cursor=encode_cursor(PageAfter(page[-1].created_at, page[-1].id))
                   if more and page else None)


def cancel_job(job_id: str, identity: Identity, deps: JobDeps,
               remote: Callable[[], RemoteProvider | None]) -> Job:
    """queued or processing → canceled, the charge back, the execution stopped and the prediction canceled.
    Idempotent: a job already ended is answered as it is (of a cancel racing a completion, one wins)."""
    job = owned_job(deps.jobs, job_id, identity)
    if job.status in ACTIVE and deps.jobs.move(job.id, JobStatus.CANCELED, at=now_iso(time.time()),
                                               error=JobError("canceled", CANCELED_BY_OWNER)):
        deps.ledger.give_back(job.reservation)
        metrics.add_metric(name="job_canceled", unit="Count", value=1)
        end_elsewhere(job, deps, remote, cause=CANCELED_BY_OWNER)
    current = deps.jobs.get(job.id)
    return current if current is not None else job


def end_elsewhere(job: Job, deps: JobDeps, remote: Callable[[], RemoteProvider | None], *, cause: str) -> None:
    """After the job ended in the store: stop its execution and cancel its prediction, best effort — the
    job's status already decides, and a late result finds it ended."""
    current = deps.jobs.get(job.id) or job
    if current.execution_arn:
        try:
            deps.workflow().stop(current.execution_arn, cause=cause)
        except Exception:
            logger.exception("job_stop_failed", extra={"job_id": job.id})
    if current.prediction_id:
        try:
            provider = remote()
            if provider is not None:
                provider.cancel(current.prediction_id, deadline=time.monotonic() + 5)
        except Exception:
            logger.exception("prediction_cancel_failed", extra={"job_id": job.id})


def delete_job(job_id: str, identity: Identity, deps: JobDeps) -> Job:
    """A job that ended, gone: its original and result removed from S3, the job from every listing."""
    job = owned_job(deps.jobs, job_id, identity)
    if not job.status.is_terminal:
        raise ValidationFailed("Only a job that has ended can be deleted; cancel it first",
                               details={"field": "id", "status": job.status.value})
    for key in (job.input_key, job.output_key):
        if key:
            deps.store.delete(key)  # S3 deletes are idempotent; a failure leaves the job to retry on
    if not deps.jobs.delete(job.id):
        raise NotFound("No job with this id")
    return job


def _plausible_id(job_id: str) -> bool:
    try:
        return str(uuid.UUID(job_id)) == job_id
    except ValueError:
        return False


OVERDUE = "The enhancement took too long"


def fail_overdue(deps: JobDeps, remote: Callable[[], RemoteProvider | None], *, now: float,
                 batch: int = 100) -> int:
    """The sweeper: every job still queued or processing past its deadline fails, its charge goes back, its
    execution stops and its prediction is canceled. Returns how many it failed."""
    failed = 0
    for job in deps.jobs.overdue(now_iso(now), batch):
        if deps.jobs.move(job.id, JobStatus.FAILED, at=now_iso(time.time()), error=JobError("provider_error", OVERDUE)):
            deps.ledger.give_back(job.reservation)
            end_elsewhere(job, deps, remote, cause=OVERDUE)
            failed += 1
    if failed:
        logger.warning("jobs_overdue_failed", extra={"count": failed})
        metrics.add_metric(name="job_overdue", unit="Count", value=failed)
    return failed
