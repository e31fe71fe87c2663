"""What the job workflow's tasks do (statemachine/enhance-job.asl.json), and the Replicate webhook that resumes
it. Every status change is a conditional move (`Jobs.move`): a task that finds its job ended (canceled, or
failed by the sweeper) raises `JobEnded` and the execution ends quietly; a result that arrives for an ended job
is removed, never shown. The charge is settled only with `succeeded` and given back only with `failed` or
`canceled` — give-backs are idempotent, so a retried task cannot refund twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import AppError, ProviderFailed, ServiceUnavailable
from enhancer.domain.jobs import Job, JobError, JobStatus, now_iso
from enhancer.domain.models import ModelSpec, find_model
from enhancer.domain.plans import OwnerType
from enhancer.domain.values import value_class
from enhancer.observability import logger, metrics
from enhancer.services.generate import SOURCE_URL_SECONDS, delete_quietly, store_result
from enhancer.services.ports import (
    EnhancedImage,
    ImageChecker,
    ImageConverter,
    ImageStore,
    Jobs,
    Ledger,
    Prediction,
    Provider,
    RemoteProvider,
    SourceImage,
    TaskTokens,
    Workflow,
    as_remote,
)

WEBHOOK_PATH = "/api/ai-image/webhooks/replicate"
TOO_LONG = "The enhancement took too long"
FAILED_UNEXPECTEDLY = "The enhancement failed unexpectedly"
ORIGINAL_GONE = "The original image is no longer stored"
MODEL_FAILED = "The model could not enhance this image"
_DEFAULT_MESSAGES = {"provider_error": MODEL_FAILED}
# Error types whose messages are this application's own fixed texts, safe to show on the job.
_SHOWN_TYPES = frozenset({"provider_error", "validation_error", "service_unavailable", "payload_too_large",
                          "forbidden"})


class JobEnded(AppError):
    """The job left queued/processing while its workflow ran (canceled, or failed by the sweeper). Leaves a
    task as `job_ended`, which the state machine catches and ends on; never an HTTP answer."""

    type = "job_ended"


@value_class
class WorkflowDeps:
    jobs: Jobs
    ledger: Ledger
    store: ImageStore
    tokens: TaskTokens
    provider: Callable[[], Provider]
    check_image: ImageChecker
    max_pixels: int
    public_api_url: str | None
    convert: ImageConverter


def _job(jobs: Jobs, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None or job.status.is_terminal:
        raise JobEnded("The job has ended")
    return job


def _begin(deps: WorkflowDeps, job_id: str) -> Job:
    """The job, processing: moved from queued, or already processing (this task retried)."""
    job = _job(deps.jobs, job_id)
    if job.status is JobStatus.QUEUED and not deps.jobs.move(job.id, JobStatus.PROCESSING, at=now_iso(time.time())):
        job = _job(deps.jobs, job_id)  # someone else moved it: still processing, or ended
    return job


def _model(job: Job) -> tuple[ModelSpec, EnhanceOptions]:
    model = find_model(job.model)
    if model is None:
        raise ProviderFailed("The job's model is no longer offered")
    return model, EnhanceOptions(**job.options)


def _remote(deps: WorkflowDeps) -> RemoteProvider:
    provider = deps.provider()
    remote = as_remote(provider)
    if remote is None:
        raise ServiceUnavailable(f"The provider {provider.name} cannot run remote jobs")
    return remote


def _succeed(deps: WorkflowDeps, job: Job, enhanced: EnhancedImage) -> None:
    # The format chosen at create (kept with the options); a job from before formats: the input's kind.
    output = EnhanceOptions(**job.options).output(job.input_content_type)
    key = store_result(enhanced, output, OwnerType(job.owner_type), job.owner_key, deps.store, deps.convert)
    if not deps.jobs.move(job.id, JobStatus.SUCCEEDED, at=now_iso(time.time()), output_key=key):
        delete_quietly(deps.store, key)  # canceled meanwhile: the cancel stands, the result goes
        raise JobEnded("The job ended before its result was stored")
    deps.ledger.settle(job.reservation)
    metrics.add_metric(name="usage_increment", unit="Count", value=1)
    metrics.add_metric(name="job_succeeded", unit="Count", value=1)


# --- the tasks ------------------------------------------------------------------------------------------------

def run_inline(deps: WorkflowDeps, job_id: str, deadline: float) -> None:
    """RunModel: the model runs in this task (local engine, echo) and the job succeeds."""
    job = _begin(deps, job_id)
    model, options = _model(job)
    provider = deps.provider()
    stored = deps.store.get(job.input_key)
    if stored is None:
        raise ProviderFailed(ORIGINAL_GONE)
    data = stored.read()
    header = deps.check_image(data, max_pixels=deps.max_pixels)
    url = deps.store.presigned_get_url(job.input_key, SOURCE_URL_SECONDS) if provider.needs_source_url else None
    source = SourceImage(data=data, content_type=header.content_type, width=header.width, height=header.height,
                         url=url)
    _succeed(deps, job, provider.run(model, options, source, deadline))


def start_prediction(deps: WorkflowDeps, job_id: str, *, task_token: str | None, timeout_seconds: int,
                     deadline: float) -> Prediction:
    """AwaitPrediction (with the task token, for the webhook) or StartPrediction (polled): the prediction,
    created once — a retried task reuses the one it made."""
    job = _begin(deps, job_id)
    remote = _remote(deps)
    webhook = None
    if task_token is not None:
        if not deps.public_api_url:
            raise ServiceUnavailable("PUBLIC_API_URL is not set: Replicate cannot call back")
        # Kept before the prediction exists, so even an instant webhook finds it.
        deps.tokens.put(job.id, task_token, int(time.time()) + timeout_seconds + 3600)
        webhook = f"{deps.public_api_url}{WEBHOOK_PATH}?job={quote(job.id)}"
    if job.prediction_id:
        return Prediction(id=job.prediction_id, status="starting")
    model, options = _model(job)
    image_url = deps.store.presigned_get_url(job.input_key, SOURCE_URL_SECONDS)
    prediction = remote.start(model, options, image_url, webhook=webhook, deadline=deadline)
    deps.jobs.record(job.id, prediction_id=prediction.id, at=now_iso(time.time()))
    _cancel_if_ended(deps, job.id, prediction.id, remote)
    return prediction


def _cancel_if_ended(deps: WorkflowDeps, job_id: str, prediction_id: str, remote: RemoteProvider) -> None:
    """A job canceled while its create was in flight: the cancel found no prediction to cancel, so this does it.
    The prediction id is recorded before the job is read again, and a cancel moves the job before reading it for
    the id, so one of the two always sees the other (both may; a second cancel is harmless)."""
    current = deps.jobs.get(job_id)
    if current is not None and not current.status.is_terminal:
        return
    try:
        remote.cancel(prediction_id, deadline=time.monotonic() + 5)
    except Exception:
        logger.exception("prediction_cancel_failed", extra={"job_id": job_id})
    raise JobEnded("The job ended while its prediction was being created")


def check_prediction(deps: WorkflowDeps, job_id: str, deadline: float) -> Prediction:
    """CheckPrediction: the prediction as it stands; past the job's deadline the job fails instead. A job
    handed over by generate starts here, so this also marks it processing."""
    job = _begin(deps, job_id)
    if job.deadline_at < now_iso(time.time()):
        raise ProviderFailed(TOO_LONG)
    if not job.prediction_id:
        raise ProviderFailed(FAILED_UNEXPECTEDLY)
    return _remote(deps).poll(job.prediction_id, deadline=deadline)


def store_prediction_result(deps: WorkflowDeps, job_id: str, prediction: Prediction, deadline: float) -> None:
    """StoreResult: the prediction's image under the owner's results, the job succeeded, the charge settled."""
    job = _job(deps.jobs, job_id)
    model, _ = _model(job)
    _succeed(deps, job, _remote(deps).output(model, prediction, deadline=deadline))
    deps.tokens.remove(job.id)


def fail(deps: WorkflowDeps, job_id: str, error: dict[str, Any]) -> JobError | None:
    """FailJob: the job failed with a readable error and its charge given back. Safe to repeat: the move
    happens once, and the give-back is idempotent (it also completes a give-back an earlier attempt missed)."""
    job = deps.jobs.get(job_id)
    if job is None:
        return None
    job_error = readable_error(error)
    moved = deps.jobs.move(job.id, JobStatus.FAILED, at=now_iso(time.time()), error=job_error)
    current = deps.jobs.get(job.id) or job
    if current.status in (JobStatus.FAILED, JobStatus.CANCELED):
        deps.ledger.give_back(job.reservation)
    if moved:
        logger.warning("job_failed", extra={"job_id": job.id, "error_type": job_error.type})
        metrics.add_metric(name="job_failed", unit="Count", value=1)
        if current.prediction_id:
            try:
                _remote(deps).cancel(current.prediction_id, deadline=time.monotonic() + 5)
            except Exception:  # the prediction ends on its own; the cancel only saves its cost
                logger.exception("prediction_cancel_failed", extra={"job_id": job.id})
    deps.tokens.remove(job.id)
    return job_error


def readable_error(error: dict[str, Any]) -> JobError:
    """A state's error (`{"Error", "Cause"}`) as the job shows it: our own messages for our error types, a
    fixed sentence for anything else (a bug's text never reaches the owner)."""
    name = str(error.get("Error") or "")
    error_type = name.removeprefix("transient_")
    if name in ("States.Timeout", "States.HeartbeatTimeout"):
        return JobError("provider_error", TOO_LONG)
    if error_type not in _SHOWN_TYPES:
        return JobError("server_error", FAILED_UNEXPECTEDLY)
    cause = error.get("Cause")
    message = cause if isinstance(cause, str) else ""
    try:
        payload = json.loads(message)
    except ValueError:
        payload = None
    if isinstance(payload, dict):  # a Lambda task's error: {"errorMessage", "errorType", …}
        message = str(payload.get("errorMessage") or "")
    # A failure sent with SendTaskFailure may reach the Catch without its cause (moto drops it): the type's
    # own sentence then.
    return JobError(error_type, message[:300] or _DEFAULT_MESSAGES.get(error_type, FAILED_UNEXPECTEDLY))


# --- the webhook ----------------------------------------------------------------------------------------------

FINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})


def resume_from_webhook(tokens: TaskTokens, workflow: Workflow, job_id: str, prediction: dict[str, Any]) -> str:
    """Resume the job's waiting execution with a (verified) Replicate prediction; what happened, for the log:
    `resumed`, `duplicate` (the token was used already), `not_waiting` or `not_final`."""
    status = str(prediction.get("status") or "")
    if status not in FINAL:
        return "not_final"
    token = tokens.get(job_id)
    if token is None:
        return "not_waiting"
    if status == "succeeded":
        output = prediction.get("output")
        if isinstance(output, list):
            output = output[:1]  # the image; the rest never fits a task result anyway
        sent = workflow.resume(token, {"id": str(prediction.get("id") or ""), "status": status,
                                       "output": output, "done": True})
    else:
        message = "The enhancement was canceled" if status in ("canceled", "aborted") else MODEL_FAILED
        sent = workflow.fail(token, error="provider_error", cause=message)
    tokens.remove(job_id)
    return "resumed" if sent else "duplicate"
