"""Faults injected at the boundaries only: botocore event hooks on the shared clients the handlers use
(`enhancer.adapters.aws.aws_client`), HTTP mocks (respx) for Replicate, a second SQLite connection holding the
lock, a database that cannot be opened. Never a patch of our own functions. Each test reads the books back the
way the product does (the usage route, the table, the bucket, the jobs table) to show nothing was lost, half
stored or charged twice. The README's "Faults" table lists them (tests/unit/test_unit_fault_table.py)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from enhancer import bootstrap
from enhancer.adapters.aws import aws_client
from enhancer.adapters.dynamo_keys import daily_usage_key, monthly_usage_key
from enhancer.config import get_settings
from enhancer.domain.clock import month_key
from local.events import LambdaContext
from local.gateway import load_handler
from local.template import ROOT, load_template
from local.workflow import state_machine_definition
from tests.integration import conftest as integration
from tests.integration.conftest import BUCKET, TABLE, Reply, guest_cookie, guest_key, load_event, multipart, png_bytes

# The integration suite's fixtures (handlers invoked with events from events/, moto, a real SQLite file), shared.
settings_env, aws, accounts = integration.settings_env, integration.aws, integration.accounts
invoke = integration.invoke
engine, database_url_of_test, db = integration.engine, integration.database_url_of_test, integration.db
output, logs = integration.output, integration.logs
provider = integration.provider
__all__ = ["BUCKET", "TABLE", "Reply", "guest_cookie", "guest_key", "load_event", "multipart", "png_bytes"]

CSRF = "0123456789abcdef0123456789abcdef"
GUEST = guest_cookie("5d41402a-bc4b-4a76-b971-9d911017c592")
OWNER = guest_key(GUEST)
REPLICATE = "https://api.replicate.com"
PUBLIC_API_URL = "https://api.example.com"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fault-suite-webhook-secret-32byt").decode()
PNG = png_bytes(64, 64)


def throttled(operation: str) -> ClientError:
    """What botocore raises once its retries have given up on a throttled call."""
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate of requests exceeds the allowed "
                                  "throughput"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def unreachable(service: str) -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com/")


class Faults:
    """Hooks on the shared clients: `fail(service, operation, error, when=…)` raises `error` from
    `before-call.<service>.<operation>` (before anything is sent) for each call `when(request_body)` accepts;
    `calls` counts the calls each hook saw, failed or not."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self._registered: list[tuple[Any, str, Callable[..., Any]]] = []

    def fail(self, service: str, operation: str, error: Exception | Callable[[], Exception], *,
             when: Callable[[bytes, int], bool] = lambda body, n: True) -> None:
        client = aws_client(service, get_settings().aws_region)
        event = f"before-call.{service}.{operation}"
        name = f"{service}.{operation}"

        def hook(params: dict[str, Any], **_: Any) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            body = params.get("body") or b""
            if when(body if isinstance(body, bytes) else str(body).encode(), self.calls[name]):
                self.failed[name] = self.failed.get(name, 0) + 1
                raise error() if callable(error) else error

        client.meta.events.register(event, hook)
        self._registered.append((client, event, hook))

    def heal(self) -> None:
        for client, event, hook in self._registered:
            client.meta.events.unregister(event, hook)
        self._registered.clear()


@pytest.fixture
def faults(aws: Any) -> Iterator[Faults]:
    injected = Faults()
    yield injected
    injected.heal()


@dataclass
class Books:
    """What a guest has been charged and what is stored, read back from the table, the bucket and the usage
    route."""

    invoke: Any
    aws: Any

    def daily(self, owner: str = OWNER, owner_type: str = "guest") -> int:
        item = self.aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": daily_usage_key(owner_type, owner)}})
        return int(item["Item"]["count"]["N"]) if "Item" in item else 0

    def monthly_tenths(self, owner: str = OWNER, owner_type: str = "guest") -> int:
        key = monthly_usage_key(owner_type, owner, month_key(time.time()))
        item = self.aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}})
        return int(item["Item"]["usedTenths"]["N"]) if "Item" in item else 0

    def caps(self) -> dict[str, int]:
        """Every guest cap counter (per IP per hour, all guests per day) with its count."""
        items = self.aws.dynamodb.scan(TableName=TABLE)["Items"]
        return {i["pk"]["S"]: int(i["count"]["N"]) for i in items if i["pk"]["S"].startswith("ai:cap:")}

    def given_back_markers(self) -> int:
        items = self.aws.dynamodb.scan(TableName=TABLE)["Items"]
        return sum(1 for i in items if i["pk"]["S"].startswith("ai:charge:given-back:"))

    def used(self, cookie: str = GUEST) -> int:
        """The guest's images today, as the usage route answers them."""
        reply = self.invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": cookie}))
        assert reply.status == 200, reply.body[:300]
        return int(reply.json()["data"]["usage"]["used"])

    def objects(self) -> list[str]:
        return sorted(o["Key"] for o in self.aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

    def untouched(self) -> None:
        """Nothing charged (or all of it given back) and nothing stored."""
        assert self.daily() == 0 and self.monthly_tenths() == 0
        assert all(count == 0 for count in self.caps().values()), self.caps()
        assert self.objects() == []
        assert self.used() == 0


@pytest.fixture
def books(invoke: Any, aws: Any) -> Books:
    return Books(invoke, aws)


def use_replicate(provider: Callable[..., None], **env: str) -> None:
    provider("replicate", REPLICATE_API_TOKEN="r8_fault_token", REPLICATE_BASE_URL=REPLICATE, **env)


@pytest.fixture
def state_machine(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The job workflow's state machine in moto; STATE_MACHINE_ARN names it."""
    client = boto3.client("stepfunctions", region_name="us-east-1")
    machine = client.create_state_machine(name="enhance-job", definition=state_machine_definition(),
                                          roleArn="arn:aws:iam::123456789012:role/enhance-job")
    monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
    bootstrap.reset()
    return client


def generate_event(fields: dict[str, str] | None = None, image: bytes | None = PNG, *, cookie: str = GUEST,
                   extra_cookies: dict[str, str] | None = None) -> dict[str, Any]:
    body, content_type = multipart(fields or {"model": "real-esrgan"}, image)
    event = load_event("generate-post", cookies={"csrf_token": CSRF, "guest_id": cookie, **(extra_cookies or {})},
                       headers={"content-type": content_type, "x-csrf-token": CSRF}, body=body)
    return event


def jobs_create_event(fields: dict[str, str] | None = None, *, cookie: str = GUEST,
                      headers: dict[str, str] | None = None) -> dict[str, Any]:
    body, content_type = multipart(fields or {"model": "real-esrgan"}, PNG)
    return load_event("jobs-create-post", cookies={"csrf_token": CSRF, "guest_id": cookie},
                      headers={"content-type": content_type, "x-csrf-token": CSRF, **(headers or {})}, body=body)


def task(function_id: str, event: Any) -> Any:
    """A workflow task's or the sweeper's real handler (CodeUri and Handler from template.yaml), freshly loaded,
    called with `event` as the state machine or the schedule sends it."""
    props = load_template()["Resources"][function_id]["Properties"]
    handler = load_handler(ROOT / str(props["CodeUri"]), str(props["Handler"]), function_id)
    return handler(event, LambdaContext(function_name=function_id, aws_request_id=f"req-{function_id}",
                                        timeout_seconds=int(props.get("Timeout", 3))))


def assert_error(reply: Reply, status: int, error_type: str) -> dict[str, Any]:
    assert reply.status == status, reply.body[:400]
    body = reply.json()
    assert body["success"] is False and body["error"]["type"] == error_type, body
    return dict(body["error"])


def job_rows(db: Any) -> list[tuple[Any, ...]]:
    return db.rows("SELECT id, status FROM ai_jobs ORDER BY created_at")


