"""Every function in template.yaml has a ready event in `events/` (the table in events/README.md says whose each
file is, read by `local/samples.py:event_index`), and every event that is not an API Gateway request, as is, gets
from the handler the template names for its function the answer the table promises. The API events' own answers
are checked in test_template_routes.py; here only that the table lists each under the function its route reaches.

What an event refers to (job 3e8a1f52-…, its original in S3, its charge) is set up through the project's own
adapters; Replicate is answered at the HTTP layer (respx), CloudFormation's response URL too."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import respx

from enhancer import bootstrap
from enhancer.adapters.sql import connect, migrate_and_check
from enhancer.adapters.sql.schema import migrations
from enhancer.domain.enhancement import EnhanceOptions, cost_tenths
from enhancer.domain.image_keys import ImageCategory, new_image_key
from enhancer.domain.jobs import Job, JobError, JobStatus, RunMode, now_iso
from enhancer.domain.plans import GUEST_ENTITLEMENTS, OwnerType
from local.events import LambdaContext
from local.gateway import Router, load_handler
from local.samples import EVENTS, event_index, event_names, read_event
from local.template import ROOT, http_routes, load_template
from local.workflow import state_machine_definition
from tests.integration.conftest import BUCKET, guest_cookie, guest_key, load_event, png_bytes
from tests.replicate_wire import prediction_json

JOB_ID = "3e8a1f52-9c4d-4b7e-a6f1-0d2c5b8e7a93"  # every workflow event's job
PREDICTION_ID = "gm3qorzdhgbfurvjtvhg6dckhu"  # its prediction, in job-finish-store-result.json
GUEST = guest_cookie("9b2f4c6e-1a3d-4e5f-8a7b-0c1d2e3f4a5b")  # the job's owner
OWNER = guest_key(GUEST)
REPLICATE = "https://api.replicate.com"
PUBLIC_API_URL = "https://api.example.com"
# Functions only the local stack has (local/__main__.py adds them; template.yaml never will).
LOCAL_ONLY = {"DevLoginFunction"}

INDEX = event_index()
API_EVENTS = set(event_names())


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _file_prefix(function_id: str) -> str:
    """An event file's name starts with its function's: ImageProxyFunction → image-proxy-…"""
    return _kebab(function_id.removesuffix("Function")) + "-"


def template_functions() -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function of template.yaml: its properties over the template's Globals."""
    template = load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    return {logical_id: {**globals_, **(resource.get("Properties") or {})}
            for logical_id, resource in template["Resources"].items()
            if resource.get("Type") == "AWS::Serverless::Function"}


def function_of(name: str) -> str:
    return next(function_id for function_id, names in INDEX.items() if name in names)


def invoke_event(name: str) -> Any:
    """The event file, as is, on a freshly loaded handler of its function (CodeUri and Handler from the template),
    with a Lambda context of the function's own timeout; what the handler returns."""
    function_id = function_of(name)
    props = template_functions()[function_id]
    handler = load_handler(ROOT / str(props["CodeUri"]), str(props["Handler"]), function_id)
    context = LambdaContext(function_name=function_id, aws_request_id=f"req-{name}",
                            timeout_seconds=int(props.get("Timeout", 3)))
    return handler(read_event(name), context)


# --- the index ------------------------------------------------------------------------------------------------

def test_every_function_in_the_template_has_an_event_file():
    functions = template_functions()

    assert sorted(set(functions) - set(INDEX)) == [], "functions without an event (a row in events/README.md)"
    assert set(INDEX) - set(functions) == LOCAL_ONLY
    assert all(INDEX[function_id] for function_id in functions)


def test_every_event_file_is_listed_once_under_the_function_it_is_named_after():
    listed = [name for names in INDEX.values() for name in names]

    assert sorted(listed) == sorted(path.stem for path in EVENTS.glob("*.json"))  # each once, none missing
    for function_id, names in INDEX.items():
        for name in names:
            assert name.startswith(_file_prefix(function_id)), (name, function_id)


def test_an_api_event_is_listed_under_the_function_its_route_reaches():
    router = Router(http_routes())
    for name in sorted(API_EVENTS):
        event = read_event(name)
        if function_of(name) in LOCAL_ONLY:
            continue
        route, _ = router.match(event["requestContext"]["http"]["method"], event["rawPath"])
        assert route.function_id == function_of(name), name
    http_functions = {route.function_id for route in http_routes()}
    for function_id, names in INDEX.items():  # and a function no route reaches has no API event
        if function_id not in http_functions | LOCAL_ONLY:
            assert API_EVENTS.isdisjoint(names), function_id


# --- the workflow's events are the payloads its state machine builds -----------------------------------------

def _state_machine() -> tuple[dict[str, Any], dict[str, Any]]:
    """The ASL definition (unsubstituted) and the DefinitionSubstitutions of the template's state machine."""
    template = load_template()
    props = next(resource["Properties"] for resource in template["Resources"].values()
                 if resource.get("Type") == "AWS::Serverless::StateMachine")
    return json.loads((ROOT / props["DefinitionUri"]).read_text()), props["DefinitionSubstitutions"]


def _function_named_by(node: Any) -> str:
    """The function a substitution names: `!GetAtt F.Arn`, or `!Ref F.Alias` (its published alias)."""
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    if isinstance(node, dict) and "Ref" in node:
        return str(node["Ref"]).split(".")[0]
    raise AssertionError(f"a task's FunctionName substitution that names no function: {node!r}")


def test_each_workflow_task_state_has_the_event_it_sends_and_nothing_else_is_listed():
    """`<function>-<state>.json` for every Task state: the keys of its `Parameters.Payload`, the constants as they
    are, `$$.Task.Token` a token, `$.jobId` the job, `$.prediction` what CheckPrediction selects (the webhook's
    resume sends the same four), `$.error` what a Catch with `ResultPath: $.error` puts there."""
    definition, substitutions = _state_machine()
    states = definition["States"]
    selected = {key.removesuffix(".$") for key in states["CheckPrediction"]["ResultSelector"]}
    sent: dict[str, list[str]] = {}

    for state_name, state in states.items():
        if state["Type"] != "Task":
            continue
        placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Parameters"]["FunctionName"])
        assert placeholder, state_name
        function_id = _function_named_by(substitutions[placeholder.group(1)])
        name = _file_prefix(function_id) + _kebab(state_name)
        sent.setdefault(function_id, []).append(name)
        payload, event = state["Parameters"]["Payload"], read_event(name)

        assert set(event) == {key.removesuffix(".$") for key in payload}, name
        for key, value in payload.items():
            field = key.removesuffix(".$")
            if not key.endswith(".$"):
                assert event[field] == value, (name, field)
            elif value == "$$.Task.Token":
                assert isinstance(event[field], str) and len(event[field]) > 100, name
            elif value == "$.jobId":
                assert event[field] == JOB_ID, name
            elif value == "$.prediction":
                assert set(event[field]) == selected, name
            elif value == "$.error":
                assert set(event[field]) == {"Error", "Cause"}, name
            elif value == "$.timeoutSeconds":
                assert isinstance(event[field], int) and event[field] >= 60, name
            else:
                raise AssertionError(f"{state_name}: no check for {key}: {value}")

    assert sent == {function_id: INDEX[function_id] for function_id in sent}


# --- each event that is no API request, invoked -----------------------------------------------------------------

ANSWERS: dict[str, str] = {}  # event name → the test that invokes it


def answers(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(test: Callable[..., None]) -> Callable[..., None]:
        ANSWERS[name] = test.__name__
        return test
    return register


def test_every_event_that_is_no_api_request_is_invoked_here():
    listed = {name for names in INDEX.values() for name in names if name not in API_EVENTS}

    assert listed == set(ANSWERS)


@dataclass
class World:
    """The stores the handlers use (moto, the test's SQLite), the provider they build, and job JOB_ID."""

    invoke: Any
    aws: Any
    monkeypatch: pytest.MonkeyPatch

    def provider(self, name: str, **env: str) -> None:
        self.monkeypatch.setenv("ENHANCER_PROVIDER", name)
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        bootstrap.reset()

    def replicate(self, **env: str) -> None:
        self.provider("replicate", REPLICATE_API_TOKEN="r8_test_token", REPLICATE_BASE_URL=REPLICATE, **env)

    def job(self, *, provider: str, mode: RunMode, status: JobStatus = JobStatus.QUEUED,
            prediction_id: str | None = None, overdue: bool = False) -> Job:
        """Job JOB_ID of guest GUEST, as creating it leaves it: charged (the ledger), its original stored (S3),
        its row (SQL); then moved to `status` and its prediction recorded."""
        options = EnhanceOptions(scale=2)
        reservation = bootstrap.ledger().reserve(
            charge_id=str(uuid.uuid4()), owner_type=OwnerType.GUEST.value, owner_key=OWNER, user_id=None,
            cost_tenths=cost_tenths(options), entitlements=GUEST_ENTITLEMENTS)
        original = png_bytes(32, 32)
        key = new_image_key(ImageCategory.UPLOADS, OwnerType.GUEST, OWNER, "png")
        bootstrap.image_store().put(key, original, "image/png")
        created = time.time() - (1200 if overdue else 5)
        job = Job(id=JOB_ID, owner_type=OwnerType.GUEST.value, owner_key=OWNER, user_id=None, provider=provider,
                  mode=mode, model="real-esrgan", options=options.as_dict(), reservation=reservation, input_key=key,
                  input_content_type="image/png", input_size=len(original), created_at=now_iso(created),
                  updated_at=now_iso(created), deadline_at=now_iso(created + 900))
        jobs = bootstrap.jobs()
        jobs.insert(job)
        if status is not JobStatus.QUEUED:
            assert jobs.move(JOB_ID, status, at=now_iso(created + 1))
        if prediction_id:
            jobs.record(JOB_ID, prediction_id=prediction_id, at=now_iso(created + 1))
        assert self.used() == 1
        return job

    def stored(self) -> Job:
        job = bootstrap.jobs().get(JOB_ID)
        assert job is not None
        return job

    def used(self) -> int:
        """The guest's images this month, as the usage route answers it."""
        reply = self.invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))
        assert reply.status == 200, reply.body[:300]
        return int(reply.json()["data"]["usage"]["used"])

    def object(self, key: str) -> tuple[bytes, str]:
        stored = self.aws.s3.get_object(Bucket=BUCKET, Key=key)
        return stored["Body"].read(), stored["ContentType"]


@pytest.fixture
def world(invoke, aws, monkeypatch) -> World:
    world = World(invoke, aws, monkeypatch)
    world.provider("echo")
    return world


@answers("job-start-run-model")
@answers("job-start-run-model-then-callback")
@pytest.mark.parametrize("event", ["job-start-run-model", "job-start-run-model-then-callback"])
def test_run_model_runs_the_model_in_the_task_and_the_job_succeeds(world, event):
    world.job(provider="echo", mode=RunMode.INLINE)

    assert invoke_event(event) is None

    job = world.stored()
    assert job.status is JobStatus.SUCCEEDED and job.started_at and job.completed_at
    assert job.output_key and job.output_key.startswith(f"ai-enhancer/results/guest/{OWNER}/")
    assert world.object(job.output_key) == world.object(job.input_key)  # echo: the original back
    assert world.used() == 1  # settled, not given back


@answers("job-start-await-prediction")
@answers("job-start-await-prediction-then-callback")
@pytest.mark.parametrize("event", ["job-start-await-prediction", "job-start-await-prediction-then-callback"])
def test_await_prediction_keeps_the_token_and_creates_the_prediction_with_the_webhook(world, event):
    world.replicate(PUBLIC_API_URL=PUBLIC_API_URL)
    world.job(provider="replicate", mode=RunMode.WEBHOOK)
    with respx.mock() as mock:
        create = mock.post(f"{REPLICATE}/v1/predictions").respond(
            201, json=prediction_json("starting", prediction_id=PREDICTION_ID))

        answer = invoke_event(event)

    assert answer == {"id": PREDICTION_ID, "status": "starting", "output": None, "done": False}
    sent = json.loads(create.calls.last.request.content)
    assert sent["webhook"] == f"{PUBLIC_API_URL}/api/ai-image/webhooks/replicate?job={JOB_ID}"
    assert f"ai-enhancer/uploads/guest/{OWNER}/" in sent["input"]["image"]  # a presigned URL of the original
    assert bootstrap.task_tokens().get(JOB_ID) == read_event("job-start-await-prediction")["taskToken"]
    job = world.stored()
    assert job.status is JobStatus.PROCESSING and job.prediction_id == PREDICTION_ID


@answers("job-start-start-prediction")
def test_start_prediction_creates_the_prediction_to_poll_without_a_webhook(world):
    world.replicate()
    world.job(provider="replicate", mode=RunMode.POLL)
    with respx.mock() as mock:
        create = mock.post(f"{REPLICATE}/v1/predictions").respond(
            201, json=prediction_json("starting", prediction_id=PREDICTION_ID))

        answer = invoke_event("job-start-start-prediction")

    assert answer == {"id": PREDICTION_ID, "status": "starting", "output": None, "done": False}
    assert "webhook" not in json.loads(create.calls.last.request.content)
    assert bootstrap.task_tokens().get(JOB_ID) is None
    job = world.stored()
    assert job.status is JobStatus.PROCESSING and job.prediction_id == PREDICTION_ID


@answers("job-check-check-prediction")
def test_check_prediction_reads_the_jobs_prediction(world):
    output = read_event("job-finish-store-result")["prediction"]["output"]
    world.replicate()
    world.job(provider="replicate", mode=RunMode.POLL, status=JobStatus.PROCESSING, prediction_id=PREDICTION_ID)
    with respx.mock() as mock:
        mock.get(f"{REPLICATE}/v1/predictions/{PREDICTION_ID}").respond(
            200, json=prediction_json("succeeded", prediction_id=PREDICTION_ID, output=output))

        answer = invoke_event("job-check-check-prediction")

    # What CheckPrediction's ResultSelector passes on, StoreResult gets: the prediction of the finish event.
    assert answer == {"id": PREDICTION_ID, "status": "succeeded", "output": output, "done": True}
    assert answer == read_event("job-finish-store-result")["prediction"]
    assert world.stored().status is JobStatus.PROCESSING


@answers("job-finish-store-result")
@answers("job-finish-store-result-then-callback")
@pytest.mark.parametrize("event", ["job-finish-store-result", "job-finish-store-result-then-callback"])
def test_store_result_stores_the_output_and_the_job_succeeds(world, event):
    prediction = read_event(event)["prediction"]
    result = png_bytes(64, 64)
    world.replicate()
    world.job(provider="replicate", mode=RunMode.WEBHOOK, status=JobStatus.PROCESSING, prediction_id=PREDICTION_ID)
    bootstrap.task_tokens().put(JOB_ID, read_event("job-start-await-prediction")["taskToken"],
                                int(time.time()) + 3600)
    with respx.mock() as mock:
        mock.get(prediction["output"]).respond(200, content=result, headers={"content-type": "image/png"})

        assert invoke_event(event) is None

    job = world.stored()
    assert job.status is JobStatus.SUCCEEDED and job.output_key
    assert world.object(job.output_key) == (result, "image/png")
    assert bootstrap.task_tokens().get(JOB_ID) is None
    assert world.used() == 1


@answers("job-fail-fail-job")
def test_fail_job_fails_the_job_readably_gives_the_charge_back_and_cancels_the_prediction(world):
    world.replicate()
    world.job(provider="replicate", mode=RunMode.POLL, status=JobStatus.PROCESSING, prediction_id=PREDICTION_ID)
    with respx.mock() as mock:
        cancel = mock.post(f"{REPLICATE}/v1/predictions/{PREDICTION_ID}/cancel").respond(
            200, json=prediction_json("canceled", prediction_id=PREDICTION_ID))

        answer = invoke_event("job-fail-fail-job")

    message = "The model could not enhance this image"
    assert answer == {"error": {"type": "provider_error", "message": message}}
    job = world.stored()
    assert job.status is JobStatus.FAILED and job.error == JobError("provider_error", message)
    assert world.used() == 0
    assert cancel.called


@answers("job-callback-callback-job")
def test_callback_job_posts_the_ended_job_signed_to_its_url_and_records_the_attempt(world, tmp_path):
    from tests.callback_receiver import Receiver, user_signing_secret, verify
    from tests.integration.conftest import SECRET

    receiver = Receiver(tmp_path)
    try:
        world.monkeypatch.setenv("CALLBACK_TEST_HOSTS", "receiver.test=127.0.0.1")
        world.monkeypatch.setenv("CALLBACK_TEST_CA_BUNDLE", str(receiver.ca))
        world.monkeypatch.setenv("BASE_URL", "https://app.example.com")
        bootstrap.reset()
        world.job(provider="echo", mode=RunMode.INLINE)
        with connect(os.environ["DATABASE_URL"]) as conn:  # the callback is a signed-in user's: make it theirs
            conn.execute("INSERT INTO users (id, name, username, email, plan) VALUES (?, ?, ?, ?, ?)",
                         ("user-cb", "a", "a-cb", "cb@example.com", "pro"))
            conn.execute("UPDATE ai_jobs SET owner_type = 'user', owner_ref = 'user-cb', user_id = 'user-cb', "
                         "status = 'succeeded', callback_url = ? WHERE id = ?", (receiver.url(), JOB_ID))

        assert invoke_event("job-callback-callback-job") == {"delivered": True, "retryInSeconds": None}

        [received] = receiver.received
        assert received.path == "/hook" and received.headers["webhook-id"] == f"{JOB_ID}.succeeded"
        assert verify(user_signing_secret(SECRET, "user-cb"), received, now=time.time())
        assert json.loads(received.body)["id"] == JOB_ID
        [attempt] = world.stored().callback_attempts
        assert attempt.status == 200 and attempt.delivered
    finally:
        receiver.close()


@answers("job-sweeper-scheduled")
def test_the_schedule_fails_an_overdue_job_gives_its_charge_back_and_stops_its_execution(world, monkeypatch):
    event = read_event("job-sweeper-scheduled")
    [schedule] = [name for name, spec in template_functions()["JobSweeperFunction"]["Events"].items()
                  if spec["Type"] == "Schedule"]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert f":rule/enhancer-prod-JobSweeperFunction{schedule}-" in event["resources"][0]  # the rule SAM names
    stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
    machine = stepfunctions.create_state_machine(name="enhance-job", definition=state_machine_definition(),
                                                 roleArn="arn:aws:iam::123456789012:role/enhance-job")
    monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
    bootstrap.reset()
    world.job(provider="echo", mode=RunMode.INLINE, overdue=True)
    execution = bootstrap.workflow().start(JOB_ID, {"jobId": JOB_ID, "mode": "inline", "timeoutSeconds": 900})
    bootstrap.jobs().record(JOB_ID, execution_arn=execution, at=now_iso(time.time()))

    assert invoke_event("job-sweeper-scheduled") == {"failed": 1}

    job = world.stored()
    assert job.status is JobStatus.FAILED
    assert job.error == JobError("provider_error", "The enhancement took too long")
    assert world.used() == 0
    assert stepfunctions.describe_execution(executionArn=execution)["status"] == "ABORTED"


@answers("migrate-check")
def test_the_operators_check_answers_ok_on_a_migrated_store(accounts):
    assert invoke_event("migrate-check") == {"ok": True, "applied": [], "problems": []}


@answers("migrate-apply")
def test_the_operators_apply_migrates_a_new_store(settings_env):
    assert invoke_event("migrate-apply") == {"ok": True, "applied": [m.name for m in migrations("sqlite")],
                                             "problems": []}
    assert migrate_and_check(f"sqlite:///{settings_env}", apply=False).ok


def _cloudformation_answer(name: str) -> dict[str, Any]:
    """The custom resource event, as is, with CloudFormation's response URL answered at the HTTP layer (as
    test_migrations.py does): the JSON document the handler PUT there."""
    event = read_event(name)
    with respx.mock() as mock:
        response_url = mock.put(event["ResponseURL"]).mock(return_value=httpx.Response(200))
        assert invoke_event(name) is None
    answer = json.loads(response_url.calls.last.request.content)
    assert (answer["StackId"], answer["RequestId"], answer["LogicalResourceId"]) == (
        event["StackId"], event["RequestId"], event["LogicalResourceId"])
    return answer


@answers("migrate-custom-resource-create")
def test_the_deploys_create_migrates_a_new_store_and_answers_success(settings_env):
    answer = _cloudformation_answer("migrate-custom-resource-create")

    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "SchemaMigrations"
    assert answer["Data"] == {"Applied": len(migrations("sqlite"))}
    assert migrate_and_check(f"sqlite:///{settings_env}", apply=False).ok


@answers("migrate-custom-resource-update")
def test_the_deploys_update_answers_success_for_the_resource_it_created(accounts):
    answer = _cloudformation_answer("migrate-custom-resource-update")

    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"Applied": 0}
    assert answer["PhysicalResourceId"] == read_event("migrate-custom-resource-update")["PhysicalResourceId"]


@answers("migrate-custom-resource-delete")
def test_the_stacks_delete_answers_success_without_opening_the_database(settings_env):
    answer = _cloudformation_answer("migrate-custom-resource-delete")

    assert answer["Status"] == "SUCCESS" and answer["Reason"] == "nothing to undo"
    assert answer["PhysicalResourceId"] == "SchemaMigrations"
    assert not settings_env.exists()
