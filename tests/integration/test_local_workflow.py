"""The local stack's workflow (local/workflow.py) against moto's server over HTTP, as `make dev` runs it: the
definition read from a template with its substitutions, Lambda tasks dispatched to in-process handlers (their
error names driving Retry and Catch), task tokens, and StopExecution ending an execution at once.

The template and definition are the tests' own, so nothing here depends on the product's state machine."""

from __future__ import annotations

import copy
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import workflow
from local.aws import LocalAws, start_moto

DEFINITION = {
    "Comment": "${Comment}",
    "StartAt": "Scenario",
    "States": {
        "Scenario": {"Type": "Choice", "Default": "Step", "Choices": [
            {"Variable": "$.scenario", "StringEquals": "token", "Next": "Await"},
            {"Variable": "$.scenario", "StringEquals": "uncaught", "Next": "Unhandled"}]},
        "Step": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "${StepArn}", "Payload": {"jobId.$": "$.jobId"}},
                 "ResultSelector": {"result.$": "$.Payload"}, "ResultPath": "$.step", "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "${FlakyArn}", "Payload": {}},
                  "Retry": [{"ErrorEquals": ["provider_error"], "MaxAttempts": 0},
                            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 2.0,
                             "MaxAttempts": 2, "MaxDelaySeconds": 1, "JitterStrategy": "FULL"}],
                  "ResultSelector": {"attempts.$": "$.Payload.attempts"}, "ResultPath": "$.flaky", "Next": "Doomed"},
        "Doomed": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "${DoomedArn}", "Payload": {}},
                   "Retry": [{"ErrorEquals": ["provider_error"], "MaxAttempts": 0},
                             {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3,
                              "JitterStrategy": "FULL"}],
                   "Catch": [{"ErrorEquals": ["provider_error"], "ResultPath": "$.error", "Next": "Done"}],
                   "Next": "Done"},
        "Unhandled": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": "${DoomedArn}", "Payload": {}}, "End": True},
        "Await": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                  "Parameters": {"FunctionName": "${AwaitArn}",
                                 "Payload": {"jobId.$": "$.jobId", "taskToken.$": "$$.Task.Token"}},
                  "TimeoutSeconds": "${TokenTimeoutSeconds}", "ResultPath": "$.prediction",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "After"}],
                  "Next": "After"},
        "After": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "${AfterArn}", "Payload": {}}, "ResultPath": None,
                  "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
TASKS = ("StepFunction", "FlakyFunction", "DoomedFunction", "AwaitFunction", "AfterFunction")


def definition_text(definition: dict[str, Any]) -> str:
    """The definition as its file has it: a number substitution stands unquoted, as CloudFormation allows."""
    return json.dumps(definition, indent=1).replace('"${TokenTimeoutSeconds}"', "${TokenTimeoutSeconds}")


def make_template(definition_file: Path, **substitutions: Any) -> dict[str, Any]:
    functions = {name: {"Type": "AWS::Serverless::Function",
                        "Properties": {"CodeUri": "functions/none/", "Handler": "app.handler"}} for name in TASKS}
    functions["StepFunction"]["Properties"]["Timeout"] = 7
    return {
        "Parameters": {"TokenTimeout": {"Type": "Number", "Default": 30}, "Stage": {"Type": "String",
                                                                                 "Default": "local"}},
        "Globals": {"Function": {"Timeout": 15, "MemorySize": 256}},
        "Resources": {
            **functions,
            "UnrelatedFunction": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler"}},
            "WorkflowLogs": {"Type": "AWS::Logs::LogGroup"},
            "Workflow": {"Type": "AWS::Serverless::StateMachine", "Properties": {
                "Type": "STANDARD",
                "DefinitionUri": str(definition_file),  # absolute: joined to the repository root, it stays
                "DefinitionSubstitutions": {
                    **{f"{name.removesuffix('Function')}Arn": {"Fn::GetAtt": [name, "Arn"]} for name in TASKS},
                    "TokenTimeoutSeconds": {"Ref": "TokenTimeout"},
                    "Comment": {"Fn::Sub": "jobs for ${Stage} in ${AWS::Region}"},
                    **substitutions},
                "Logging": {"Level": "ALL", "IncludeExecutionData": True, "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["WorkflowLogs", "Arn"]}}}]},
                "Tracing": {"Enabled": True}}},
        },
    }


class provider_error(Exception):  # named as the error a Retry or Catch matches
    pass


class transient_error(Exception):
    pass


class Tasks:
    """In-process handlers for the test definition's functions, recording what they saw (thread-safe: moto
    calls them on its request threads)."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[str] = queue.Queue()
        self.contexts: list[Any] = []
        self.after_calls = 0
        self.flaky_attempts = 0
        self._lock = threading.Lock()

    def step(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.contexts.append(context)
        return {"event": event, "function": context.function_name, "arn": context.invoked_function_arn,
                "remaining": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb}

    def flaky(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.flaky_attempts += 1
            attempts = self.flaky_attempts
        if attempts == 1:
            raise transient_error("try again")
        return {"attempts": attempts}

    def doomed(self, event: dict[str, Any], context: Any) -> None:
        raise provider_error("the model refused the image")

    def await_token(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.tokens.put(event["taskToken"])
        return {"prediction": "created"}

    def after(self, event: dict[str, Any], context: Any) -> None:
        with self._lock:
            self.after_calls += 1

    def handlers(self) -> dict[str, Any]:
        return {"StepFunction": self.step, "FlakyFunction": self.flaky, "DoomedFunction": self.doomed,
                "AwaitFunction": self.await_token, "AfterFunction": self.after}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[LocalAws]:
    """moto's server as the local stack starts it. Its settings are process-wide, so they are put back after."""
    from moto.core.config import default_user_config

    saved_config, saved_port = copy.deepcopy(default_user_config), os.environ.get("MOTO_PORT")
    aws = start_moto()
    yield aws
    aws.stop()
    default_user_config.clear()
    default_user_config.update(saved_config)  # type: ignore[typeddict-item]
    if saved_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = saved_port


@pytest.fixture
def sfn(moto_server: LocalAws) -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1", endpoint_url=moto_server.endpoint)


@pytest.fixture
def template(tmp_path: Path) -> dict[str, Any]:
    definition_file = tmp_path / "workflow.asl.json"
    definition_file.write_text(definition_text(DEFINITION))
    return make_template(definition_file)


@pytest.fixture
def tasks() -> Tasks:
    return Tasks()


@pytest.fixture
def machine(sfn: Any, template: dict[str, Any], tasks: Tasks, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test state machine created by the local stack's entry point, with the test's handlers."""
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)  # restored after the test
    return workflow.start_workflow(sfn, template=template, logical_id="Workflow", name=f"wf-{uuid.uuid4().hex[:8]}",
                                   handlers=tasks.handlers())


def start(sfn: Any, machine: str, **payload: Any) -> str:
    return sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex,
                               input=json.dumps({"jobId": "job-1", **payload}))["executionArn"]


def finished(sfn: Any, execution: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


# --- the definition and the handlers, from the template -----------------------------------------------------

def test_the_definition_gets_its_substitutions_as_cloudformation_gives_them(template):
    definition = json.loads(workflow.state_machine_definition("Workflow", template))

    states = definition["States"]
    assert states["Step"]["Parameters"]["FunctionName"] == "arn:aws:lambda:us-east-1:123456789012:function:StepFunction"
    assert states["Await"]["Parameters"]["FunctionName"] == workflow.function_arn("AwaitFunction")
    assert states["Await"]["TimeoutSeconds"] == 30  # !Ref of a parameter: its Default, a number in the text
    assert definition["Comment"] == "jobs for local in us-east-1"  # !Sub of a parameter and a pseudo parameter


def test_a_parameter_given_overrides_its_default(template):
    definition = json.loads(workflow.state_machine_definition("Workflow", template, {"TokenTimeout": "5"}))

    assert definition["States"]["Await"]["TimeoutSeconds"] == 5


def test_a_placeholder_without_a_substitution_is_refused(tmp_path, template):
    typo = tmp_path / "typo.asl.json"
    typo.write_text(definition_text(DEFINITION).replace("${StepArn}", "${StpArn}"))
    template["Resources"]["Workflow"]["Properties"]["DefinitionUri"] = str(typo)

    with pytest.raises(ValueError, match=r"\$\{StpArn\}"):
        workflow.state_machine_definition("Workflow", template)


def test_a_substitution_with_no_local_value_is_refused(template):
    substitutions = template["Resources"]["Workflow"]["Properties"]["DefinitionSubstitutions"]
    substitutions["Comment"] = {"Fn::GetAtt": ["WorkflowLogs", "Arn"]}

    with pytest.raises(ValueError, match=r"WorkflowLogs\.Arn"):
        workflow.state_machine_definition("Workflow", template)


def test_a_template_without_the_state_machine_fails_loudly(template):
    del template["Resources"]["Workflow"]

    with pytest.raises(workflow.WorkflowNotInTemplate, match="AWS::Serverless::StateMachine named Workflow"):
        workflow.state_machine_definition("Workflow", template)
    with pytest.raises(workflow.WorkflowNotInTemplate):
        workflow.start_workflow(object(), template=template, logical_id="Workflow")


def test_task_handlers_are_the_functions_the_substitutions_name(tmp_path, template):
    code = tmp_path / "code"
    code.mkdir()
    (code / "tasks.py").write_text("def run(event, context):\n    return {'ran': context.function_name}\n")
    for name in TASKS:
        template["Resources"][name]["Properties"].update(CodeUri=str(code), Handler="tasks.run")

    handlers = workflow.task_handlers(template, "Workflow")

    assert sorted(handlers) == sorted(TASKS)  # not UnrelatedFunction
    assert handlers["StepFunction"]({}, type("Context", (), {"function_name": "StepFunction"})()) == {
        "ran": "StepFunction"}


# --- running it in moto ---------------------------------------------------------------------------------------

def test_the_state_machine_is_created_as_the_template_describes(sfn, machine):
    described = sfn.describe_state_machine(stateMachineArn=machine)

    assert os.environ["STATE_MACHINE_ARN"] == machine
    assert described["type"] == "STANDARD"
    assert described["roleArn"] == workflow.ROLE_ARN
    assert described["loggingConfiguration"] == {"level": "ALL", "includeExecutionData": True, "destinations": [
        {"cloudWatchLogsLogGroup": {"logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:WorkflowLogs:*"}}]}
    assert described["tracingConfiguration"] == {"enabled": True}
    assert "${" not in described["definition"]


def test_tasks_run_in_process_and_their_error_names_drive_retry_and_catch(sfn, machine, tasks):
    execution = start(sfn, machine)

    described = finished(sfn, execution)

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    step = output["step"]["result"]
    assert step["event"] == {"jobId": "job-1"}
    assert step["function"] == "StepFunction"
    assert step["arn"] == workflow.function_arn("StepFunction")
    assert 6000 < step["remaining"] <= 7000  # the function's own Timeout, counting down from the invocation
    assert step["memory"] == 256  # the Globals' MemorySize
    assert output["flaky"] == {"attempts": 2}  # transient_error retried under States.ALL, with full jitter
    assert output["error"]["Error"] == "provider_error"  # not retried, caught by name
    assert json.loads(output["error"]["Cause"]) == {"errorType": "provider_error",
                                                    "errorMessage": "the model refused the image", "stackTrace": []}


def test_an_uncaught_error_fails_the_execution_with_its_name(sfn, machine):
    described = finished(sfn, start(sfn, machine, scenario="uncaught"))

    assert described["status"] == "FAILED"
    assert described["error"] == "provider_error"


def test_a_task_token_is_resumed_by_send_task_success(sfn, machine, tasks):
    execution = start(sfn, machine, scenario="token")
    token = tasks.tokens.get(timeout=10)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    sfn.send_task_success(taskToken=token, output=json.dumps({"id": "p1", "status": "succeeded"}))

    described = finished(sfn, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["prediction"] == {"id": "p1", "status": "succeeded"}
    assert tasks.after_calls == 1


def test_stopping_an_execution_waiting_for_its_token_aborts_it_at_once(sfn, machine, tasks):
    """As on AWS: ABORTED at once, no Catch, nothing after; moto alone waits for the task's timeout."""
    execution = start(sfn, machine, scenario="token")
    token = tasks.tokens.get(timeout=10)

    sfn.stop_execution(executionArn=execution)

    described = finished(sfn, execution, timeout=2)
    assert described["status"] == "ABORTED"
    with pytest.raises(sfn.exceptions.ClientError) as refused:
        sfn.send_task_success(taskToken=token, output="{}")
    assert refused.value.response["Error"]["Code"] in ("InvalidToken", "TaskTimedOut")
    time.sleep(0.5)  # the interpreter's thread has ended; it ran no further state
    assert tasks.after_calls == 0
    assert sfn.get_execution_history(executionArn=execution)["events"][-1]["type"] == "ExecutionAborted"


def test_the_patches_are_installed_once(tasks):
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.models import StepFunctionBackend

    workflow.install_lambda_dispatch(tasks.handlers(), {"Resources": {}})
    workflow.end_stopped_executions_promptly()
    invoke, stop = LambdaSimpleBackend.invoke, StepFunctionBackend.stop_execution

    workflow.install_lambda_dispatch(tasks.handlers(), {"Resources": {}})
    workflow.end_stopped_executions_promptly()

    assert (LambdaSimpleBackend.invoke, StepFunctionBackend.stop_execution) == (invoke, stop)
