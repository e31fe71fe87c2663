"""Handlers invoked in-process with API Gateway events from `events/`, AWS through moto, a real SQLite file."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from enhancer import bootstrap
from enhancer.adapters.sql import connect, migrate_and_check, open_accounts
from enhancer.adapters.sql.accounts import SqlAccounts
from enhancer.domain.identity import guest_cookie_value, guest_owner_key
from local.aws import create_bucket, create_table, serialise_dynamodb
from local.events import LambdaContext, response_parts
from local.gateway import load_handler
from local.samples import load_event, multipart, png_bytes  # noqa: F401 - shared with the benches; tests import them here
from local.template import http_routes
from local.workflow import state_machine_definition
from tests.expectations import security_header_problems

TABLE = "enhancer-test"
BUCKET = "enhancer-test-images"
SECRET = "integration-test-owner-key-secret-0123456789"


def start_in_a_fresh_rate_window(needed_seconds: float = 20.0) -> None:
    """Rate limits count in fixed minutes (domain/rate_limits.py): a test that fills one waits for the next
    minute when fewer than `needed_seconds` are left in this one, rather than straddle two."""
    if 60 - time.time() % 60 < needed_seconds:
        time.sleep(60.5 - time.time() % 60)


@dataclass
class Reply:
    status: int
    header_list: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.header_list if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def set_cookies(self) -> list[str]:
        return [v for k, v in self.header_list if k.lower() == "set-cookie"]

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def engine() -> str:
    """The SQL engine behind the handlers: SQLite. A module whose handlers are the SQL store's main clients
    (billing, accounts, sign-in) overrides it with `engine = both_engines` to run every test on PostgreSQL too."""
    return "sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def both_engines(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url_of_test(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{tmp_path / 'enhancer.db'}" if engine == "sqlite" else str(
        request.getfixturevalue("postgres_url"))


class Database:
    """The test's SQL database, read and written the way a test checks what the handlers stored."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = connect(self.url)
        try:
            return [tuple(row) for row in conn.execute(statement, args).fetchall()]
        finally:
            conn.close()

    def run(self, statement: str, *args: Any) -> None:
        conn = connect(self.url)
        try:
            conn.execute(statement, args)
        finally:
            conn.close()


@pytest.fixture
def db(database_url_of_test: str) -> Database:
    return Database(database_url_of_test)


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url_of_test: str) -> Path:
    db_path = tmp_path / "enhancer.db"
    for name, value in {"ENVIRONMENT": "testing", "TABLE_NAME": TABLE, "BUCKET_NAME": BUCKET,
                        "DATABASE_URL": database_url_of_test, "OWNER_KEY_SECRET": SECRET,
                        "POWERTOOLS_METRICS_NAMESPACE": "EnhancerTest"}.items():
        monkeypatch.setenv(name, value)
    for name in ("OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS", "IMAGE_PROXY_INLINE_MAX_BYTES"):
        monkeypatch.delenv(name, raising=False)
    bootstrap.reset()
    yield db_path
    bootstrap.reset()


@pytest.fixture
def aws(settings_env: Path) -> Any:
    serialise_dynamodb()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_table(dynamodb, TABLE)
        create_bucket(s3, BUCKET)
        yield type("Aws", (), {"dynamodb": dynamodb, "s3": s3})


@pytest.fixture
def accounts(settings_env: Path, database_url_of_test: str) -> SqlAccounts:
    url = database_url_of_test
    assert migrate_and_check(url, apply=True).ok
    return open_accounts(url)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """provider(name, **env): the provider the freshly loaded handlers build (echo by default)."""

    def use(name: str, **env: str) -> None:
        monkeypatch.setenv("ENHANCER_PROVIDER", name)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        bootstrap.reset()

    use("echo")
    return use


@pytest.fixture
def state_machine(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The job workflow in moto, from the template's definition, as STATE_MACHINE_ARN (moto runs no execution:
    each stays RUNNING). state_machine(): the executions started on it, described (so with their `input`)."""
    stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
    arn = stepfunctions.create_state_machine(name="enhance-job", definition=state_machine_definition(),
                                             roleArn="arn:aws:iam::123456789012:role/enhance-job")["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    bootstrap.reset()

    def started() -> list[dict[str, Any]]:
        return [stepfunctions.describe_execution(executionArn=e["executionArn"])
                for e in stepfunctions.list_executions(stateMachineArn=arn)["executions"]]

    return started


@pytest.fixture
def invoke(aws: Any, accounts: SqlAccounts) -> Any:
    """invoke(function_id, event): the function's real handler from template.yaml, freshly loaded."""
    routes = {r.function_id: r for r in http_routes()}
    loaded: dict[str, Any] = {}

    def call(function_id: str, event: dict[str, Any]) -> Reply:
        if function_id not in loaded:
            route = routes[function_id]
            loaded[function_id] = load_handler(route.code_uri, route.handler, function_id)
        result = loaded[function_id](event, LambdaContext(function_name=function_id, aws_request_id="req-1"))
        return Reply(*response_parts(result))

    return call


def guest_cookie(guest_id: str) -> str:
    """The `guest_id` cookie the service issues for this guest id (signed with the test secret)."""
    return guest_cookie_value(SECRET.encode(), guest_id)


def guest_key(guest: str) -> str:
    """The owner key of a guest, given its id or its cookie."""
    return guest_owner_key(SECRET.encode(), guest.partition(".")[0])


def assert_security_headers(reply: Reply) -> None:
    assert security_header_problems(reply.header) == [], f"on a {reply.status} response"


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time: pytest's capsys swaps it in only for a test's call phase,
    while Powertools' log handler keeps the stream it was created with."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Any:
    """output(): every JSON line the code printed during the test (Powertools' log records and EMF metric
    documents), parsed, in order."""
    from enhancer.observability import logger

    handler = logger.registered_handler
    previous, handler.stream = handler.stream, _CurrentStdout()  # not setStream: it flushes the old stream
    yield lambda: [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    handler.stream = previous


@pytest.fixture
def logs(output: Any) -> Any:
    """logs(): the JSON lines written during the test (the `output` fixture, under the name log tests use)."""
    return output
