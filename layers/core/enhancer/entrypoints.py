"""The Lambda handler of every kind of function, one entry point per trigger (docs/architecture.md §2).

    handler = http_handler(router)            an API Gateway route: FastAPI in Mangum
    @task_handler                             a Step Functions task: typed input, errors ASL can match
    @scheduled_handler                        an EventBridge schedule: the event as it comes
    @custom_resource_handler                  a CloudFormation custom resource: Create/Update run, the answer sent

Each adds the Powertools Logger (the Lambda context in every line, state cleared between invocations) and
Metrics (the EMF document flushed when the invocation ends, also when it fails). Only `http_handler` imports
FastAPI, Starlette or Mangum, and only when it is called, so a task or a schedule never loads them.

Errors leaving a task: Lambda reports the exception's class name as `errorType`, and ASL `Retry` / `Catch`
match on it (`ErrorEquals`). So an application error (`enhancer.domain.errors.AppError`) leaves as a
`TaskError` whose class is named after the error's `type` — the word the HTTP envelope uses: `ProviderFailed`
leaves as `provider_error`, `ServiceUnavailable` as `service_unavailable`. An error that says a retry may
succeed (`details.retryable`, e.g. Replicate answering 5xx or a timeout) leaves as `transient_<type>`, so the
state machine retries it and not a model that refused the image. Input that does not fit the task's model
leaves as `validation_error`. Anything else (a bug, a throttled AWS call) leaves unchanged and is matched by
`States.ALL`, which the workflow retries a few times.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from enhancer import end_of_init
from enhancer.domain.errors import AppError, ConfigurationError, validation_issues
from enhancer.observability import logger, metrics

if TYPE_CHECKING:
    from fastapi import APIRouter
    from pydantic import ValidationError

Handler = Callable[[Any, Any], Any]
InputT = TypeVar("InputT")

VALIDATION_ERROR = "validation_error"


def _observed(fn: Handler, *, correlation_id_path: str | None = None) -> Handler:
    """Logger context and metrics around a handler: metrics outermost, so they flush after everything. The event
    is never logged, whatever POWERTOOLS_LOGGER_LOG_EVENT says: an API event carries cookies and API keys. The
    first event ends init (`enhancer.end_of_init`: garbage collection back on)."""
    observed = metrics.log_metrics(
        logger.inject_lambda_context(fn, correlation_id_path=correlation_id_path, clear_state=True, log_event=False))

    def handler(event: Any, context: Any) -> Any:
        end_of_init()
        return observed(event, context)

    return functools.update_wrapper(handler, observed)


# --- HTTP -------------------------------------------------------------------------------------------------

def http_handler(*routers: APIRouter, verify_origin: bool = True) -> Handler:
    """The handler of an HTTP API function serving `routers` (`create_app` in `enhancer.http.app`)."""
    from aws_lambda_powertools.logging import correlation_paths
    from mangum import Mangum

    from enhancer.http.app import create_app

    app = create_app(*routers, verify_origin=verify_origin)
    # Routes reach adapters only through the composition root, so routes that never imported it build none.
    bootstrap = sys.modules.get("enhancer.bootstrap")
    if bootstrap is not None:
        bootstrap.preload(*_route_functions(routers))
    # lifespan="off": Mangum would otherwise run start-up and shutdown on every invocation.
    asgi = Mangum(app, lifespan="off")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return asgi(event, context)

    return _observed(handler, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)


def _route_functions(routers: tuple[APIRouter, ...]) -> list[Callable[..., Any]]:
    """Every endpoint of the routers and every dependency their routes declare, however deep (FastAPI's
    dependants; a route's own `dependencies=[...]` are among them)."""
    found: list[Callable[..., Any]] = []
    routes = [route for router in routers for route in router.routes]
    pending = [dependant for route in routes if (dependant := getattr(route, "dependant", None)) is not None]
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            found.append(dependant.call)
        pending.extend(dependant.dependencies)
    return found


# --- Step Functions tasks ---------------------------------------------------------------------------------

class TaskError(Exception):
    """What an application error becomes when it leaves a task; `task_error(type)` gives the class of a type."""

    type: str = "server_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@functools.cache
def task_error(error_type: str) -> type[TaskError]:
    """The exception class for an error type, named after it (`provider_error`): the same class every time, so
    tests and callers in the same process can catch it too."""
    if not error_type.isidentifier():
        raise ValueError(f"not usable as an error name: {error_type!r}")
    return type(error_type, (TaskError,), {"type": error_type, "__module__": __name__, "__qualname__": error_type})


def _input_model(fn: Callable[..., Any]) -> Any:
    parameters = list(inspect.signature(fn).parameters)
    model = typing.get_type_hints(fn).get(parameters[0]) if parameters else None
    if model is None or model is Any:
        raise TypeError(f"{fn.__qualname__}: annotate the first parameter with the task's input model")
    return model


def _invalid_input(error: ValidationError) -> TaskError:
    issues = validation_issues(error.errors())
    summary = "; ".join(f"{'.'.join(i['path']) or 'input'}: {i['message']}" for i in issues)
    logger.warning("task_input_invalid", extra={"issues": issues})
    return task_error(VALIDATION_ERROR)(f"Invalid input: {summary}", details={"issues": issues})


def task_handler(fn: Callable[[InputT, Any], Any]) -> Handler:
    """The handler of a function a state machine calls. The input is parsed by Powertools' parser into the type
    of `fn`'s first parameter (a pydantic model; no payload counts as `{}`); a pydantic model returned is
    serialised to JSON types under its aliases. Errors leave as the module docstring says."""
    from aws_lambda_powertools.utilities.parser import BaseModel, ValidationError, parse

    from enhancer import bootstrap

    model = _input_model(fn)
    bootstrap.preload(fn)

    @functools.wraps(fn)
    def handler(event: Any, context: Any) -> Any:
        try:
            parsed = parse(event={} if event is None else event, model=model)
        except ValidationError as error:
            raise _invalid_input(error) from error
        try:
            result = fn(parsed, context)
        except AppError as error:
            name = f"transient_{error.type}" if (error.details or {}).get("retryable") else error.type
            logger.warning("task_failed", extra={"error_type": name, "error": error.message})
            raise task_error(name)(error.message, details=error.details) from error
        return result.model_dump(mode="json", by_alias=True) if isinstance(result, BaseModel) else result

    return _observed(handler)


# --- EventBridge schedules --------------------------------------------------------------------------------

def scheduled_handler(fn: Callable[[dict[str, Any], Any], Any]) -> Handler:
    """The handler of a function an EventBridge schedule invokes: `fn` gets the event as it comes; the event's
    `id` is the correlation id of its log lines."""
    from aws_lambda_powertools.logging import correlation_paths

    from enhancer import bootstrap

    bootstrap.preload(fn)
    return _observed(fn, correlation_id_path=correlation_paths.EVENT_BRIDGE)


# --- CloudFormation custom resources ------------------------------------------------------------------------

def is_custom_resource_request(event: Any) -> bool:
    """Whether `event` is CloudFormation asking a custom resource (and not an operator's own payload)."""
    return isinstance(event, dict) and {"RequestType", "ResponseURL", "StackId", "RequestId"} <= event.keys()


def custom_resource_handler(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
    """The handler of a custom resource whose work is `fn(properties)` on Create and Update; its result is the
    resource's `Data`. Delete succeeds without work (a stack must always be deletable). An AppError fails the
    resource with its message as the reason the stack events show; anything else fails it with the request id
    to look up in the log. The answer is always sent, so the stack never waits for it."""
    from enhancer.adapters.cloudformation import respond

    def handler(event: dict[str, Any], context: Any) -> None:
        physical_id = event.get("PhysicalResourceId") or event["LogicalResourceId"]
        if event["RequestType"] == "Delete":
            respond(event, status="SUCCESS", reason="nothing to undo", physical_id=physical_id)
            return
        try:
            data = fn(event.get("ResourceProperties") or {})
        except (AppError, ConfigurationError) as error:  # their messages name the problem, never a secret
            logger.warning("custom_resource_failed", extra={"error": str(error)})
            respond(event, status="FAILED", reason=str(error), physical_id=physical_id)
            return
        except Exception:
            logger.exception("custom_resource_failed")
            request_id = getattr(context, "aws_request_id", "?")
            respond(event, status="FAILED", reason=f"internal error: see the function's log, request {request_id}",
                    physical_id=physical_id)
            return
        respond(event, status="SUCCESS", reason="done", physical_id=physical_id, data=data)

    return _observed(handler)
