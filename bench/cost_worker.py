"""The cost section's worker: the product in one interpreter, as the local stack runs it, driven over HTTP as a
page would, with every invocation, printed byte and AWS call recorded (bench/cost.py turns them into dollars).

moto's server runs in-process, the template's state machine is executed by moto with its tasks dispatched to the
real handlers, local/fake_replicate.py plays Replicate and its signed webhooks come back through local/gateway.py.
Each handler is wrapped to time its invocations, keep the request it got and count what its thread prints; hooks on
the handlers' shared boto3 clients (bench/dynamo_round_trips.py's CallCounter) count DynamoDB, S3 and Step
Functions calls; each execution's history gives its entered states.
"""

from __future__ import annotations

import base64
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from bench.cost_model import request_units
from bench.dynamo_round_trips import CallCounter
from bench.inprocess import CSRF, REGION, worker_main

RUNS = 4  # counted per operation, after the warm-up; the counts are the same every run, durations are averaged
WARM_UP = 1  # the first of each operation pays lazy imports and client creation; not counted
DELAYED_RUNS = 1  # per operation, with the fake model taking MODEL_DELAY_SECONDS: what model time adds
MODEL_DELAY_SECONDS = 1.0
POLL_INTERVAL_SECONDS = 1.0  # the job route's limiter is sized for "a page polling every second"
IMAGE_SIZE = (1024, 768)  # a JPEG of noise, about 0.6 MB: more than one 512 KB HTTP API increment
JOB_TIMEOUT_SECONDS = 30
FINAL = ("succeeded", "failed", "canceled")
HTTP_FUNCTIONS = ("GenerateFunction", "JobsCreateFunction", "JobGetFunction", "ReplicateWebhookFunction")
SERVICES = ("dynamodb", "s3", "stepfunctions")


# --- the worker: what each invocation does ---------------------------------------------------------------------

class InvocationRecorder:
    """Wraps handlers to record each invocation (function, seconds, bytes printed, the HTTP request and answer)
    and knows which function the current thread is running, so output and AWS calls are attributed to it."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._invocations: list[dict[str, Any]] = []

    def current(self) -> dict[str, Any] | None:
        return getattr(self._local, "invocation", None)

    def wrap(self, function_id: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def invoke(event: Any, context: Any) -> Any:
            record: dict[str, Any] = {"function": function_id, "log_bytes": 0}
            if isinstance(event, dict) and "routeKey" in event:
                record.update(http_request(event))
            self._local.invocation = record
            started = time.perf_counter()
            try:
                result = handler(event, context)
            finally:
                record["seconds"] = time.perf_counter() - started
                self._local.invocation = None
                with self._lock:
                    self._invocations.append(record)
            if "route_key" in record and isinstance(result, dict):
                record["status"] = int(result.get("statusCode", 0))
                record["response_bytes"] = len(str(result.get("body") or ""))
            return result

        return invoke

    def take(self) -> list[dict[str, Any]]:
        """The invocations recorded since the last take."""
        with self._lock:
            taken, self._invocations = self._invocations, []
        return taken


class CountingStream:
    """A stream that adds what the running invocation's thread writes to that invocation's `log_bytes` (Lambda
    sends a function's stdout and stderr to CloudWatch Logs), then passes it on."""

    def __init__(self, target: Any, recorder: InvocationRecorder) -> None:
        self._target, self._recorder = target, recorder

    def write(self, text: str) -> int:
        invocation = self._recorder.current()
        if invocation is not None:
            invocation["log_bytes"] += len(text.encode())
        return int(self._target.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def http_request(event: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API request's size as API Gateway received it (request line, headers, cookies, body) from its
    payload 2.0 event, and what the access log records of it."""
    context = event.get("requestContext", {}).get("http", {})
    query = f"?{event['rawQueryString']}" if event.get("rawQueryString") else ""
    headers = dict(event.get("headers") or {})
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    body = event.get("body") or ""
    body_bytes = len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode())
    head = f"{context.get('method')} {event.get('rawPath')}{query} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    return {"route_key": event["routeKey"], "method": context.get("method"), "path": event.get("rawPath"),
            "request_bytes": len(head.encode()) + body_bytes}


class UsageCounter(CallCounter):
    """CallCounter's API calls by operation, plus each call's DynamoDB request units and the function whose
    invocation made it; a parameter build with no call after it is a presigned URL (signed locally)."""

    def __init__(self, recorder: InvocationRecorder) -> None:
        super().__init__()
        self._recorder = recorder
        self._params = threading.local()  # before-parameter-build and before-call run on the caller's thread
        self.calls_by: list[dict[str, Any]] = []
        self.builds: Counter[str] = Counter()

    def _parameters(self, event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
        super()._parameters(event_name, params, **kwargs)
        self.builds[event_name.split(".", 2)[2]] += 1
        self._params.value = params

    def _call(self, event_name: str, **kwargs: Any) -> None:
        super()._call(event_name, **kwargs)
        operation = event_name.split(".", 2)[2]
        write_units, read_units = request_units(operation, getattr(self._params, "value", None) or {})
        invocation = self._recorder.current()
        self.calls_by.append({"operation": operation, "function": invocation["function"] if invocation else None,
                              "write_units": write_units, "read_units": read_units})

    def presigned(self) -> dict[str, int]:
        return dict(self.builds - Counter(self.calls))

    def clear(self) -> None:
        super().clear()
        self.calls_by.clear()
        self.builds.clear()


def _addresses() -> Iterator[str]:
    """A loopback address per client, so limits counted per IP start from zero for each operation."""
    for n in range(1000):
        yield f"127.43.{n // 250}.{n % 250 + 2}"


def _item_bytes(value: Any) -> int:
    """A DynamoDB item's size as it bills writes: attribute names plus values (numbers about 1 byte per 2 digits)."""
    if isinstance(value, dict) and len(value) == 1:
        (kind, inner), = value.items()
        if kind in ("S", "B"):
            return len(inner.encode() if isinstance(inner, str) else inner)
        if kind == "N":
            return math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
        if kind in ("M", "L"):
            items = inner.items() if kind == "M" else ((None, v) for v in inner)
            return 3 + sum((len(k.encode()) if k else 0) + 1 + _item_bytes(v) for k, v in items)
        if kind in ("SS", "NS", "BS"):
            return sum(len(str(v)) for v in inner)
        return 1  # BOOL, NULL
    return sum(len(name.encode()) + _item_bytes(v) for name, v in value.items())


# --- the worker: the operations --------------------------------------------------------------------------------

class Product:
    """The product in this interpreter, as the local stack runs it, and the operations measured against it."""

    def __init__(self, recorder: InvocationRecorder) -> None:
        import os

        import boto3

        from bench.inprocess import BUCKET, TABLE, migrate_database
        from enhancer import bootstrap
        from enhancer.adapters.aws import aws_client
        from local.aws import free_port, provision, start_moto, use_fake_credentials
        from local.fake_replicate import FakeReplicate
        from local.workflow import install_lambda_dispatch, start_workflow, task_handlers

        self.recorder = recorder
        use_fake_credentials()
        self.aws = start_moto()
        os.environ["AWS_ENDPOINT_URL"] = self.aws.endpoint
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.fake = FakeReplicate(delay=0.0).start()
        os.environ.update({"ENHANCER_PROVIDER": "replicate", "REPLICATE_API_TOKEN": self.fake.token,
                           "REPLICATE_BASE_URL": self.fake.url, "REPLICATE_WEBHOOK_SECRET": self.fake.webhook_secret,
                           "PUBLIC_API_URL": self.url})  # the webhook path, as the template deploys jobs
        provision(TABLE, BUCKET)
        migrate_database()
        bootstrap.reset()
        self.counters = {service: UsageCounter(recorder) for service in SERVICES}
        for service, counter in self.counters.items():
            counter.install(aws_client(service, REGION))
        # The bench's own clients (not the handlers' shared ones): what they do is not counted.
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.table = TABLE
        self.state_machine_arn = start_workflow(handlers={})  # sets STATE_MACHINE_ARN before any handler loads
        install_lambda_dispatch({fid: recorder.wrap(fid, handler) for fid, handler in task_handlers().items()})
        self.server = self._serve(port)
        self.addresses = _addresses()

    def _serve(self, port: int) -> Any:
        from local.gateway import Gateway, load_handler, serve
        from local.template import http_routes

        routes = [r for r in http_routes() if r.function_id in HTTP_FUNCTIONS]
        handlers = {}
        for route in routes:
            if route.function_id not in handlers:
                handler = load_handler(route.code_uri, route.handler, route.function_id)
                handlers[route.function_id] = self.recorder.wrap(route.function_id, handler)
        server = serve(Gateway(routes, handlers, None), "127.0.0.1", port, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        self.server.shutdown()
        self.fake.stop()
        self.aws.stop()

    def client(self, session_id: str) -> Any:
        """A signed-in page's client from a loopback address of its own (CSRF cookie and header, Origin)."""
        import httpx

        http = httpx.Client(base_url=self.url, timeout=30,
                            transport=httpx.HTTPTransport(local_address=next(self.addresses)))
        http.cookies.set("csrf_token", CSRF)
        http.cookies.set("session_id", session_id)
        http.headers.update({"Origin": self.url, "X-CSRF-Token": CSRF})
        return http

    def measured(self, operation: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one operation alone and return what it used."""
        for counter in self.counters.values():
            counter.clear()
        self.recorder.take()
        started = time.perf_counter()
        result = operation()
        result["seconds"] = time.perf_counter() - started
        result["invocations"] = self.recorder.take()
        for service, counter in self.counters.items():
            result[service] = {"calls": list(counter.calls_by), "presigned": counter.presigned()}
        return result

    def generate(self, http: Any, image: bytes) -> dict[str, Any]:
        files = {"image": ("photo.jpg", image, "image/jpeg")}
        answer = http.post("/api/ai-image/generate", data={"model": "real-esrgan", "scale": "2"}, files=files)
        if answer.status_code != 200:
            raise RuntimeError(f"generate answered {answer.status_code}: {answer.text[:300]}")
        return {"status": "succeeded"}

    def job(self, http: Any, image: bytes) -> dict[str, Any]:
        """POST a job, GET it every POLL_INTERVAL_SECONDS until it has ended, then wait for its execution."""
        files = {"image": ("photo.jpg", image, "image/jpeg")}
        started = time.perf_counter()
        created = http.post("/api/ai-image/jobs", data={"model": "real-esrgan", "scale": "2"}, files=files)
        if created.status_code != 202:
            raise RuntimeError(f"job create answered {created.status_code}: {created.text[:300]}")
        job_id = created.json()["data"]["id"]
        status, polls = "queued", 0
        while status not in FINAL:
            if time.perf_counter() - started > JOB_TIMEOUT_SECONDS:
                raise RuntimeError(f"job {job_id} still {status} after {JOB_TIMEOUT_SECONDS} s")
            time.sleep(POLL_INTERVAL_SECONDS)
            answer = http.get(f"/api/ai-image/jobs/{job_id}")
            polls += 1
            if answer.status_code != 200:
                raise RuntimeError(f"job poll answered {answer.status_code}: {answer.text[:300]}")
            status = answer.json()["data"]["status"]
        return {"status": status, "polls": polls, **self._execution(job_id)}

    def _execution(self, job_id: str) -> dict[str, Any]:
        """The job's execution once it has ended (its last task may outlast the job's `succeeded`): its entered
        states, the tasks it scheduled and those that failed (each retry is one more transition)."""
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while True:
            executions = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
            execution = next((e for e in executions if e["name"] == job_id), None)
            if execution and execution["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the execution of job {job_id} has not ended")
            time.sleep(0.02)
        events = self.stepfunctions.get_execution_history(executionArn=execution["executionArn"],
                                                          maxResults=1000)["events"]
        types = [e["type"] for e in events]
        return {"execution_status": execution["status"],
                "entered_states": [e["stateEnteredEventDetails"]["name"] for e in events
                                   if e["type"].endswith("StateEntered")],
                "tasks_scheduled": sum(t.endswith("Scheduled") for t in types),
                "tasks_failed": sum(t.endswith(("Failed", "TimedOut")) and not t.startswith("Execution")
                                    for t in types)}

    def largest_item_bytes(self) -> int:
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return max((_item_bytes(item) for item in items), default=0)


def _session(email: str) -> str:
    """A signed-in pro user (room for every run in its daily allowance) and a session cookie for it."""
    from enhancer.adapters.sql import open_accounts
    from enhancer.config import get_settings

    accounts = open_accounts(get_settings().database_url)
    user = accounts.upsert_user(email, "pro")
    return accounts.create_session(user.user_id, int(time.time()) + 3600)


def _measure(product: Product) -> dict[str, Any]:
    from local.samples import encoded, noise_image

    image = encoded(noise_image(*IMAGE_SIZE), "JPEG", quality=85)
    sync_user, job_user = _session("bench-cost-sync@example.com"), _session("bench-cost-jobs@example.com")
    result: dict[str, Any] = {"image_bytes": len(image), "sync": [], "jobs": [], "sync_delayed": [],
                              "jobs_delayed": []}
    for n in range(WARM_UP + RUNS):
        with product.client(sync_user) as http:
            result["sync"].append({"warm_up": n < WARM_UP, **product.measured(lambda: product.generate(http, image))})
        with product.client(job_user) as http:
            result["jobs"].append({"warm_up": n < WARM_UP, **product.measured(lambda: product.job(http, image))})
    product.fake.delay = MODEL_DELAY_SECONDS
    for _ in range(DELAYED_RUNS):
        with product.client(sync_user) as http:
            result["sync_delayed"].append(product.measured(lambda: product.generate(http, image)))
        with product.client(job_user) as http:
            result["jobs_delayed"].append(product.measured(lambda: product.job(http, image)))
    result["webhook_statuses"] = dict(Counter(str(d.status) for d in product.fake.deliveries))
    result["largest_item_bytes"] = product.largest_item_bytes()
    return {**result, **_holds()}


def _holds() -> dict[str, float]:
    """How long a function can be held by the model: generate's deadline, Replicate's cap on `Prefer: wait`."""
    from enhancer.adapters.providers.replicate.inputs import MAX_PREFER_WAIT_SECONDS
    from enhancer.config import get_enhancement_settings

    return {"generate_deadline_s": get_enhancement_settings().generate_deadline_seconds,
            "prefer_wait_max_s": MAX_PREFER_WAIT_SECONDS}


def measure(options: dict[str, Any]) -> dict[str, Any]:
    recorder = InvocationRecorder()
    # Before anything imports Powertools: its Logger keeps the sys.stdout it finds; EMF prints to the current one.
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CountingStream(sys.stdout, recorder), CountingStream(sys.stderr, recorder)
    product = None
    try:
        product = Product(recorder)
        return {**_measure(product), "model_delay_s": MODEL_DELAY_SECONDS, "poll_interval_s": POLL_INTERVAL_SECONDS}
    finally:
        if product is not None:
            product.stop()
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    worker_main(measure)
