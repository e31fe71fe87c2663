"""The job workflow in the local stack (docs/architecture.md §7–8): template.yaml's state machine, run by moto's
Step Functions, with its Lambda tasks dispatched in-process to the real handlers.

moto runs ASL definitions for real (`execute_state_machine`), but without Docker its Lambda backend runs no
code; `install_lambda_dispatch` makes it call the handlers loaded from the template instead, and
`end_stopped_executions_promptly` makes StopExecution behave as on AWS. Both patch moto's private classes,
which is why moto is pinned exactly.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.events import LambdaContext
from local.template import PSEUDO_PARAMETERS, ROOT, load_template, parameter_values, resolve

STATE_MACHINE_ID = "EnhanceJobStateMachine"
STATE_MACHINE_NAME = "enhance-job"
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT_ID = PSEUDO_PARAMETERS["AWS::AccountId"]
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/enhancer-local-workflow"  # moto checks no IAM
# Lambda's own defaults, for a function the template does not describe.
LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3
LAMBDA_DEFAULT_MEMORY_MB = 128
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

Handler = Callable[[Any, Any], Any]
logger = logging.getLogger(__name__)


class WorkflowNotInTemplate(LookupError):
    """template.yaml has no state machine resource of that name."""


def function_arn(function_id: str) -> str:
    """The ARN a function has locally: its logical id is its name."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_id}"


# --- reading the template -------------------------------------------------------------------------------------

def _state_machine_resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template.get("Resources", {}).get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::StateMachine":
        raise WorkflowNotInTemplate(
            f"template.yaml has no AWS::Serverless::StateMachine named {logical_id}: the local stack runs jobs "
            "with it (add the resource, with DefinitionUri and DefinitionSubstitutions)")
    return resource.get("Properties") or {}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical_id: resource.get("Properties") or {}
            for logical_id, resource in template.get("Resources", {}).items()
            if resource.get("Type") == "AWS::Serverless::Function"}


def _local_values(template: dict[str, Any], parameters: dict[str, str] | None) -> dict[str, str]:
    """What `Ref` and `Sub` resolve to: parameters, pseudo parameters, and each function's name (`Ref`), ARN
    (`${Function.Arn}` in a `Sub`) and alias (`!Ref Function.Alias`: locally the one version there is)."""
    values = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    for function_id in _functions(template):
        values[function_id] = function_id
        values[f"{function_id}.Arn"] = function_arn(function_id)
        values[f"{function_id}.Alias"] = function_arn(function_id)
    values.update(parameter_values(template, parameters))
    return values


def _get_att(node: Any) -> tuple[str, str] | None:
    if not (isinstance(node, dict) and set(node) == {"Fn::GetAtt"}):
        return None
    target = node["Fn::GetAtt"]
    resource, attribute = target.split(".", 1) if isinstance(target, str) else target
    return str(resource), str(attribute)


def _substitution(name: str, node: Any, template: dict[str, Any], values: dict[str, str]) -> str:
    """One DefinitionSubstitutions value as CloudFormation would give it: a string."""
    get_att = _get_att(node)
    if get_att is not None:
        resource, attribute = get_att
        if attribute == "Arn" and resource in _functions(template):
            return function_arn(resource)
        raise ValueError(f"DefinitionSubstitutions {name}: !GetAtt {resource}.{attribute} has no local value "
                         "(only a function's Arn has)")
    value = resolve(node, values)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"DefinitionSubstitutions {name}: {value!r} cannot be resolved locally")


def _substitutions(template: dict[str, Any], props: dict[str, Any],
                   parameters: dict[str, str] | None) -> dict[str, str]:
    values = _local_values(template, parameters)
    return {name: _substitution(name, node, template, values)
            for name, node in (props.get("DefinitionSubstitutions") or {}).items()}


def state_machine_definition(logical_id: str = STATE_MACHINE_ID, template: dict[str, Any] | None = None,
                             parameters: dict[str, str] | None = None) -> str:
    """The state machine's ASL as deployed: its DefinitionUri (relative to the repository root) or inline
    Definition, with each `${Name}` replaced by its DefinitionSubstitutions value. `parameters` overrides
    template parameters' defaults. A `${…}` with no substitution raises ValueError: CloudFormation would
    deploy it as is and the state machine would fail only when it reaches it."""
    template = template or load_template()
    props = _state_machine_resource(template, logical_id)
    if "DefinitionUri" in props:
        source = str(props["DefinitionUri"])
        text = (ROOT / source).read_text()
    elif "Definition" in props:
        source, text = f"{logical_id}.Definition", json.dumps(props["Definition"])
    else:
        raise ValueError(f"{logical_id} has neither DefinitionUri nor Definition")
    substitutions = _substitutions(template, props, parameters)
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in substitutions})
    if unknown:
        raise ValueError(f"{source}: {', '.join('${' + name + '}' for name in unknown)} not in "
                         f"{logical_id}'s DefinitionSubstitutions")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], text)


def task_function_ids(logical_id: str = STATE_MACHINE_ID, template: dict[str, Any] | None = None) -> list[str]:
    """The functions the state machine's substitutions name, by `!GetAtt <Function>.Arn` or `!Ref <Function>.Alias`."""
    template = template or load_template()
    props = _state_machine_resource(template, logical_id)
    functions = _functions(template)
    ids = []
    for node in (props.get("DefinitionSubstitutions") or {}).values():
        get_att = _get_att(node)
        ref = node.get("Ref") if isinstance(node, dict) and set(node) == {"Ref"} else None
        if get_att and get_att[1] == "Arn":
            function_id = get_att[0]
        elif isinstance(ref, str) and ref.endswith(".Alias"):
            function_id = ref.removesuffix(".Alias")
        else:
            continue
        if function_id in functions and function_id not in ids:
            ids.append(function_id)
    return ids


def task_handlers(template: dict[str, Any] | None = None,
                  logical_id: str = STATE_MACHINE_ID) -> dict[str, Handler]:
    """Each task function's handler, loaded from its CodeUri and Handler as its own Lambda would, by logical id
    (the function name in its local ARN)."""
    from local.gateway import load_handler

    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = _functions(template)
    handlers = {}
    for function_id in task_function_ids(logical_id, template):
        props = functions[function_id]
        code_uri = ROOT / str(props.get("CodeUri", globals_.get("CodeUri", ".")))
        handler = str(props.get("Handler", globals_.get("Handler", "app.handler")))
        handlers[function_id] = load_handler(code_uri, handler, function_id)
    return handlers


def _limits(function_id: str, template: dict[str, Any]) -> tuple[int, int]:
    """(Timeout seconds, MemorySize MB) of a function: its own, else the template's Globals, else Lambda's."""
    props = _functions(template).get(function_id)
    if props is None:
        return LAMBDA_DEFAULT_TIMEOUT_SECONDS, LAMBDA_DEFAULT_MEMORY_MB
    globals_ = template.get("Globals", {}).get("Function", {})
    values = parameter_values(template)
    timeout = resolve(props.get("Timeout", globals_.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_SECONDS)), values)
    memory = resolve(props.get("MemorySize", globals_.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB)), values)
    return int(timeout), int(memory)


# --- moto's Lambda: the handlers, in-process ------------------------------------------------------------------

@dataclass(frozen=True)
class _TaskFunction:
    handler: Handler
    timeout_seconds: int
    memory_mb: int


_task_functions: dict[str, _TaskFunction] = {}
_patch_lock = threading.Lock()
_dispatch_installed = False
_stop_fix_installed = False


def _run_task(function_id: str, task: _TaskFunction, body: Any, response_headers: dict[str, str]) -> bytes:
    """One invocation as Lambda answers it: the result as JSON, or its unhandled-error payload (whose errorType
    is the error name a state's Retry and Catch match)."""
    context = LambdaContext(function_name=function_id, aws_request_id=str(uuid.uuid4()),
                            memory_limit_in_mb=task.memory_mb, timeout_seconds=task.timeout_seconds)
    try:
        result = task.handler(json.loads(body or b"{}"), context)
    except Exception as exc:  # every error a handler raises is the task's failure, as in Lambda
        logger.info("task %s raised %s", function_id, type(exc).__name__, exc_info=True)
        return _function_error(response_headers, type(exc).__name__, str(exc))
    try:
        return json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return _function_error(response_headers, "Runtime.MarshalError", f"Unable to marshal response: {exc}")


def _function_error(response_headers: dict[str, str], error_type: str, message: str) -> bytes:
    response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []}).encode()


def install_lambda_dispatch(handlers: dict[str, Handler], template: dict[str, Any] | None = None) -> None:
    """Make moto's Lambda (the Docker-less backend Step Functions invokes) call `handlers` in-process, by
    function name or ARN, with a Lambda context whose remaining time counts down from the function's Timeout
    in `template`. Idempotent: a second call adds (or replaces) handlers. A name with no handler keeps moto's
    own behaviour. Handlers run on moto's request threads, so they must be thread-safe."""
    global _dispatch_installed
    from moto.awslambda_simple.models import LambdaSimpleBackend

    template = template or load_template()
    with _patch_lock:
        for function_id, handler in handlers.items():
            _task_functions[function_id] = _TaskFunction(handler, *_limits(function_id, template))
        if _dispatch_installed:
            return
        moto_invoke = LambdaSimpleBackend.invoke

        def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
                   response_headers: Any) -> str | bytes | None:
            function_id = function_name.split(":function:")[-1].split(":")[0]
            task = _task_functions.get(function_id)
            if task is None:
                return moto_invoke(self, function_name, qualifier, body, headers, response_headers)
            return _run_task(function_id, task, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        _dispatch_installed = True


# --- moto's StopExecution, as AWS's ---------------------------------------------------------------------------

def _end_stopped(execution: Any) -> None:
    """An execution just stopped: ABORTED at once, and its waiting task tokens released so its thread ends."""
    worker = getattr(execution, "exec_worker", None)  # None: not one the ASL interpreter runs
    if worker is None:
        return
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    if not isinstance(worker.env.program_state(), ProgramStopped):  # it had ended already; its status stands
        return
    execution.exec_status = ExecutionStatus.ABORTED
    # The interpreter's thread ends when the program is stopped and the task it waits on returns. A task
    # waiting for its token would only return at its timeout (then FAILED with States.Timeout), so it is
    # answered here; the program is stopped, so the answer runs no further state.
    for endpoint in list(worker.env.callback_pool_manager._pool.values()):
        if endpoint.get_outcome() is None:
            endpoint.notify(CallbackOutcomeSuccess(callback_id=endpoint.callback_id, output="{}"))


def end_stopped_executions_promptly() -> None:
    """Make StopExecution end an execution at once, as AWS does: its status is ABORTED immediately and nothing
    after the current task runs.

    moto (5.2.5) marks the program stopped but leaves the execution RUNNING until the task in progress
    returns, and a `.waitForTaskToken` task does not return until its TimeoutSeconds, after which the
    execution ends FAILED with States.Timeout (its Catch not run) instead of ABORTED. The product calls only
    StopExecution, as on AWS, so the local stack fixes it here: stopping also answers the execution's pending
    task tokens, which lets its thread end as ABORTED. Idempotent.
    """
    global _stop_fix_installed
    from moto.stepfunctions.models import StepFunctionBackend

    with _patch_lock:
        if _stop_fix_installed:
            return
        moto_stop_execution = StepFunctionBackend.stop_execution

        def stop_execution(self: Any, execution_arn: str) -> Any:
            execution = moto_stop_execution(self, execution_arn)
            _end_stopped(execution)
            return execution

        StepFunctionBackend.stop_execution = stop_execution  # type: ignore[method-assign]
        _stop_fix_installed = True


# --- the state machine ----------------------------------------------------------------------------------------

def _log_group_arn(node: Any) -> Any:
    """A destination's log group: `!GetAtt <LogGroup>.Arn` as the ARN it would have (named by its logical id)."""
    get_att = _get_att(node)
    if get_att is None:
        return node
    return f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{get_att[0]}:*"


def _logging_configuration(props: dict[str, Any]) -> dict[str, Any] | None:
    """SAM's `Logging` (CloudFormation's `LoggingConfiguration`) in the API's spelling. moto stores it and
    writes no logs, but AWS refuses a level other than OFF without a destination, so they are kept."""
    logging_ = props.get("Logging") or props.get("LoggingConfiguration")
    if not logging_:
        return None
    config: dict[str, Any] = {"level": str(logging_.get("Level", "OFF"))}
    if "IncludeExecutionData" in logging_:
        config["includeExecutionData"] = str(logging_["IncludeExecutionData"]).lower() == "true"
    destinations = [{"cloudWatchLogsLogGroup": {"logGroupArn": _log_group_arn(
        destination.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn"))}}
        for destination in logging_.get("Destinations") or []]
    if destinations:
        config["destinations"] = destinations
    return config


def create_state_machine(stepfunctions: Any, definition: str, name: str = STATE_MACHINE_NAME, *,
                         template: dict[str, Any] | None = None, logical_id: str = STATE_MACHINE_ID) -> str:
    """Create the state machine (a fake role; the template's Type, STANDARD by default, its logging level and
    tracing) and return its ARN."""
    template = template or load_template()
    props = resolve(_state_machine_resource(template, logical_id), _local_values(template, None))
    request: dict[str, Any] = {"name": name, "definition": definition, "roleArn": ROLE_ARN,
                               "type": str(props.get("Type", "STANDARD"))}
    logging_ = _logging_configuration(props)
    if logging_:
        request["loggingConfiguration"] = logging_
    tracing = props.get("Tracing") or props.get("TracingConfiguration")
    if tracing:
        request["tracingConfiguration"] = {"enabled": str(tracing.get("Enabled", False)).lower() == "true"}
    return str(stepfunctions.create_state_machine(**request)["stateMachineArn"])


def start_workflow(stepfunctions: Any = None, *, template: dict[str, Any] | None = None,
                   logical_id: str = STATE_MACHINE_ID, name: str = STATE_MACHINE_NAME,
                   handlers: dict[str, Handler] | None = None, parameters: dict[str, str] | None = None) -> str:
    """The workflow in the local stack, in whatever endpoint AWS_ENDPOINT_URL points at: the state machine
    created from the template, STATE_MACHINE_ARN set to it, its tasks (`handlers`, else the template's) run
    in-process. Returns the ARN; WorkflowNotInTemplate when the template has no such state machine."""
    template = template or load_template()
    definition = state_machine_definition(logical_id, template, parameters)
    # moto's interpreter logs every task failure with its traceback, including those a Retry or Catch handles.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    end_stopped_executions_promptly()
    if stepfunctions is None:
        import boto3

        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    arn = create_state_machine(stepfunctions, definition, name, template=template, logical_id=logical_id)
    os.environ["STATE_MACHINE_ARN"] = arn  # before the task handlers load: they read it, as the routes do
    install_lambda_dispatch(task_handlers(template, logical_id) if handlers is None else handlers, template)
    return arn
