"""The entry points of every kind of function (enhancer.entrypoints): typed task input, error types ASL can
match, the Logger context and the EMF flush, and a task function that never loads the HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel, Field

from enhancer.domain.errors import ProviderFailed, ProviderTimedOut, ServiceUnavailable
from enhancer.entrypoints import TaskError, http_handler, scheduled_handler, task_error, task_handler
from enhancer.observability import logger, metrics
from local.events import LambdaContext, response_parts
from local.template import ROOT
from tests.integration.conftest import load_event


class EnhanceStep(BaseModel):
    job_id: str = Field(alias="jobId")
    scale: int = Field(default=2, ge=2, le=4)


@task_handler
def enhance_step(event: EnhanceStep, context: Any) -> dict[str, Any]:
    logger.warning("task_ran", extra={"job": event.job_id})
    metrics.add_metric(name="task_ran", unit="Count", value=1)
    if event.job_id == "provider-down":
        raise ProviderFailed("The model is down", details={"provider": "replicate"})
    if event.job_id == "too-slow":
        raise ProviderTimedOut()
    if event.job_id == "no-table":
        raise ServiceUnavailable("The store is unavailable")
    if event.job_id == "bug":
        raise KeyError("missing")
    return {"jobId": event.job_id, "scale": event.scale}


class StepResult(BaseModel):
    job_id: str = Field(serialization_alias="jobId")
    done: bool


@task_handler
def typed_result(event: EnhanceStep, context: Any) -> StepResult:
    return StepResult(job_id=event.job_id, done=True)


def _context(name: str = "EnhanceStepFunction") -> LambdaContext:
    return LambdaContext(function_name=name, aws_request_id="req-42")


@pytest.fixture(autouse=True)
def _metrics_printed(monkeypatch):
    """EMF documents are printed here (the local stack and some environments turn them off)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

def test_a_task_gets_its_input_parsed_into_the_model_of_its_annotation():
    assert enhance_step({"jobId": "j1", "scale": 4}, _context()) == {"jobId": "j1", "scale": 4}
    assert enhance_step({"jobId": "j2", "ignored": True}, _context()) == {"jobId": "j2", "scale": 2}
    assert enhance_step('{"jobId": "j3"}', _context()) == {"jobId": "j3", "scale": 2}  # a JSON string parses too


def test_a_model_a_task_returns_is_serialised_for_the_state_machine():
    assert typed_result({"jobId": "j1"}, _context()) == {"jobId": "j1", "done": True}


@pytest.mark.parametrize(("event", "field"), [
    ({}, "jobId"), ({"jobId": "j1", "scale": 3.5}, "scale"), ({"jobId": "j1", "scale": 8}, "scale"),
    (["j1"], "input"), (None, "jobId"),
])
def test_input_that_does_not_fit_the_model_leaves_as_validation_error(event, field):
    with pytest.raises(TaskError) as info:
        enhance_step(event, _context())

    assert type(info.value).__name__ == "validation_error"  # Lambda's errorType: what ASL ErrorEquals matches
    assert info.value.type == "validation_error"
    assert info.value.message.startswith("Invalid input: ") and field in info.value.message
    assert info.value.details["issues"]


@pytest.mark.parametrize(("job", "error_type", "message"), [
    ("provider-down", "provider_error", "The model is down"),
    # Retryable (a timeout): named so the state machine retries it, and not a model that refused the image.
    ("too-slow", "transient_provider_error", "The enhancement took too long, please retry"),
    ("no-table", "service_unavailable", "The store is unavailable"),
])
def test_an_application_error_leaves_as_a_class_named_after_its_type(job, error_type, message):
    with pytest.raises(task_error(error_type)) as info:
        enhance_step({"jobId": job}, _context())

    error = info.value
    assert type(error).__name__ == error_type and isinstance(error, TaskError)
    assert str(error) == message  # Lambda's errorMessage
    assert error.__cause__ is not None and error_type.endswith(error.__cause__.type)


def test_the_error_class_of_a_type_is_one_class_and_keeps_the_details():
    with pytest.raises(task_error("transient_provider_error")) as info:
        enhance_step({"jobId": "too-slow"}, _context())

    assert task_error("provider_error") is task_error("provider_error")
    assert task_error("provider_error") is not task_error("service_unavailable")
    assert info.value.details == {"retryable": True}


def test_an_unexpected_error_leaves_unchanged():
    with pytest.raises(KeyError):
        enhance_step({"jobId": "bug"}, _context())


def test_a_task_without_an_input_annotation_is_refused_when_it_is_built():
    def untyped(event, context):
        return event

    with pytest.raises(TypeError, match="annotate the first parameter"):
        task_handler(untyped)


def test_task_log_lines_carry_the_lambda_context_and_metrics_are_flushed(output):
    enhance_step({"jobId": "j1"}, _context())

    records = output()
    [line] = [r for r in records if r.get("message") == "task_ran"]
    assert line["function_name"] == "EnhanceStepFunction" and line["function_request_id"] == "req-42"
    assert line["job"] == "j1"
    [emf] = [r for r in records if "_aws" in r]
    assert emf["task_ran"] == [1.0]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "task_ran", "Unit": "Count"}]


def test_a_failing_task_is_logged_with_its_type_and_still_flushes_its_metrics(output):
    with pytest.raises(task_error("provider_error")):
        enhance_step({"jobId": "provider-down"}, _context())

    records = output()
    [failed] = [r for r in records if r.get("message") == "task_failed"]
    assert failed["error_type"] == "provider_error" and failed["function_name"] == "EnhanceStepFunction"
    assert any("_aws" in r and r.get("task_ran") == [1.0] for r in records)


def test_the_logger_state_of_one_invocation_does_not_reach_the_next(output):
    enhance_step({"jobId": "j1"}, _context())
    logger.append_keys(leaked="yes")
    enhance_step({"jobId": "j2"}, _context())

    lines = [r for r in output() if r.get("message") == "task_ran"]
    assert [r["job"] for r in lines] == ["j1", "j2"] and "leaked" not in lines[1]


def test_a_scheduled_function_gets_the_event_as_it_comes_with_the_event_id_as_correlation_id(output):
    seen = []

    @scheduled_handler
    def nightly(event: dict[str, Any], context: Any) -> str:
        seen.append(event)
        logger.warning("swept")
        metrics.add_metric(name="swept", unit="Count", value=3)
        return "done"

    event = {"id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2026-11-29T03:00:00Z", "detail": {}}

    assert nightly(event, _context("SweepFunction")) == "done"
    assert seen == [event]
    records = output()
    [line] = [r for r in records if r.get("message") == "swept"]
    assert line["function_name"] == "SweepFunction" and line["correlation_id"] == event["id"]
    assert any("_aws" in r and r.get("swept") == [3.0] for r in records)


def test_an_http_function_serves_its_router_with_the_pipeline_and_the_logger_context(settings_env, output):
    from fastapi import APIRouter

    from enhancer.http.envelope import success

    router = APIRouter()

    @router.get("/api/ai-image/models")
    async def models() -> Any:
        logger.warning("served")
        return success({"ok": True})

    handler = http_handler(router)
    status, headers, body = response_parts(handler(load_event("models-get"), _context("ModelsFunction")))

    assert status == 200 and json.loads(body) == {"success": True, "data": {"ok": True}}
    assert ("x-content-type-options", "nosniff") in [(k.lower(), v) for k, v in headers]
    [line] = [r for r in output() if r.get("message") == "served"]
    assert line["function_name"] == "ModelsFunction"
    assert line["correlation_id"] == load_event("models-get")["requestContext"]["requestId"]


def test_a_task_function_never_imports_the_http_stack():
    code = f"""
import sys
sys.path[:0] = [{str(ROOT / "functions" / "migrate")!r}, {str(ROOT / "layers" / "core")!r}]
import app
assert callable(app.handler)
loaded = sorted(m for m in ("fastapi", "starlette", "mangum", "enhancer.http") if m in sys.modules)
print(",".join(loaded))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"ENVIRONMENT": "development", "PATH": "/usr/bin:/bin"})

    assert result.stdout.strip() == ""
