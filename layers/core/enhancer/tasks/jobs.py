"""The enhance-job workflow's tasks (statemachine/enhance-job.asl.json) and the stuck-job sweeper: typed input,
one service call each. Functions: JobStartFunction (`start`), JobCheckFunction (`check`), JobFinishFunction
(`finish`), JobFailFunction (`fail`), JobCallbackFunction (`callback`), JobSweeperFunction (`sweep`)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from enhancer import bootstrap
from enhancer.entrypoints import scheduled_handler, task_handler
from enhancer.services import job_workflow
from enhancer.services.jobs import fail_overdue
from enhancer.services.ports import Prediction

# Left for the task's own bookkeeping (store the result, move the job) after the model returns.
TASK_MARGIN_SECONDS = 10.0


class _Input(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    job_id: str = Field(alias="jobId", min_length=1, max_length=64)


class StartInput(_Input):
    step: Literal["run", "await", "start"]
    task_token: str | None = Field(default=None, alias="taskToken", max_length=8192)
    timeout_seconds: int = Field(default=900, alias="timeoutSeconds", ge=1, le=86_400)


class PredictionInput(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    status: str = Field(max_length=32)
    output: Any = None


class FinishInput(_Input):
    prediction: PredictionInput


class FailInput(_Input):
    error: dict[str, Any] = Field(default_factory=dict)


def _deadline(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if remaining is not None else 60.0
    return time.monotonic() + max(1.0, seconds - TASK_MARGIN_SECONDS)


def _prediction(prediction: Prediction) -> dict[str, Any]:
    return {"id": prediction.id, "status": prediction.status, "output": prediction.output, "done": prediction.done}


@task_handler
def start(event: StartInput, context: Any) -> dict[str, Any] | None:
    deps = bootstrap.workflow_deps()
    if event.step == "run":
        job_workflow.run_inline(deps, event.job_id, _deadline(context))
        return None
    if event.step == "await" and not event.task_token:
        raise ValueError("the await step needs its task token")
    prediction = job_workflow.start_prediction(
        deps, event.job_id, task_token=event.task_token if event.step == "await" else None,
        timeout_seconds=event.timeout_seconds, deadline=_deadline(context))
    return _prediction(prediction)


@task_handler
def check(event: _Input, context: Any) -> dict[str, Any]:
    return _prediction(job_workflow.check_prediction(bootstrap.workflow_deps(), event.job_id, _deadline(context)))


@task_handler
def finish(event: FinishInput, context: Any) -> None:
    prediction = Prediction(id=event.prediction.id, status=event.prediction.status, output=event.prediction.output)
    job_workflow.store_prediction_result(bootstrap.workflow_deps(), event.job_id, prediction, _deadline(context))


@task_handler
def fail(event: FailInput, context: Any) -> dict[str, Any]:
    error = job_workflow.fail(bootstrap.workflow_deps(), event.job_id, event.error)
    return {"error": {"type": error.type, "message": error.message} if error else None}


@task_handler
def callback(event: _Input, context: Any) -> dict[str, Any]:
    from enhancer.services.callbacks import deliver

    return deliver(bootstrap.callback_deps(), event.job_id)


@scheduled_handler
def sweep(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {"failed": fail_overdue(bootstrap.job_deps(), bootstrap.remote_provider, now=time.time())}
