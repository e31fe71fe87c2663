"""Replicate's webhook arriving twice, or never. Twice: both deliveries answer 200, the waiting execution is
resumed once, the result stored once and the charge settled once. Never: past the job's deadline the sweeper
fails it, refunds it exactly once (swept again, nothing more) and cancels the prediction; a webhook arriving
after that changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import respx
from botocore.exceptions import ClientError

from enhancer import bootstrap
from enhancer.domain.jobs import JobStatus, now_iso
from local.fake_replicate import sign_webhook
from local.samples import read_event
from tests.faults.conftest import (
    OWNER,
    PUBLIC_API_URL,
    REPLICATE,
    WEBHOOK_SECRET,
    jobs_create_event,
    load_event,
    png_bytes,
    task,
    use_replicate,
)
from tests.replicate_wire import prediction_json

PREDICTION = "pfaultwebhook0000000000000"
OUTPUT = "https://replicate.delivery/fault/webhook.png"
TOKEN = "task-token-of-the-waiting-execution"


class _Answered:
    """A stand-in for the HTTP answer a `before-call` hook may return instead of sending the request."""

    status_code = 200

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}


@pytest.fixture
def waiting_job(invoke: Any, provider: Any, state_machine: Any, books: Any) -> str:
    """A guest's webhook-mode job whose AwaitPrediction task has run: charged, its token kept, its prediction
    created with our webhook URL."""
    use_replicate(provider, PUBLIC_API_URL=PUBLIC_API_URL, REPLICATE_WEBHOOKS="true",
                  REPLICATE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    created = invoke("JobsCreateFunction", jobs_create_event())
    assert created.status == 202, created.body[:300]
    job_id = str(created.json()["data"]["id"])
    with respx.mock() as mock:
        mock.post(f"{REPLICATE}/v1/predictions").respond(201, json=prediction_json("starting",
                                                                                    prediction_id=PREDICTION))
        task("JobStartFunction", {"jobId": job_id, "step": "await", "taskToken": TOKEN, "timeoutSeconds": 900})
    job = bootstrap.jobs().get(job_id)
    assert job is not None and job.mode.value == "webhook" and job.status is JobStatus.PROCESSING
    assert books.used() == 1
    return job_id


def _webhook(job_id: str, status: str = "succeeded", delivery: str = "msg_fault_1") -> dict[str, Any]:
    body = json.dumps(prediction_json(status, prediction_id=PREDICTION, output=[OUTPUT])).encode()
    timestamp = int(time.time())
    event = load_event("replicate-webhook-post", body=body, headers={
        "webhook-id": delivery, "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(WEBHOOK_SECRET, delivery, timestamp, body)})
    event["rawQueryString"] = f"job={job_id}"
    return event


def test_a_webhook_delivered_twice_resumes_once_and_charges_once(invoke, faults, books, waiting_job):
    resumed: list[dict[str, Any]] = []

    def send_task_success(params: dict[str, Any], **_: Any) -> tuple[_Answered, dict[str, Any]]:
        resumed.append(json.loads(params["body"]))
        return _Answered(), {}

    from enhancer.adapters.aws import aws_client
    from enhancer.config import get_settings

    client = aws_client("stepfunctions", get_settings().aws_region)
    client.meta.events.register("before-call.stepfunctions.SendTaskSuccess", send_task_success)
    try:
        first = invoke("ReplicateWebhookFunction", _webhook(waiting_job))
        second = invoke("ReplicateWebhookFunction", _webhook(waiting_job))  # Replicate's redelivery, same id
    finally:
        client.meta.events.unregister("before-call.stepfunctions.SendTaskSuccess", send_task_success)

    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert [r["taskToken"] for r in resumed] == [TOKEN]  # the execution resumed once
    prediction = json.loads(resumed[0]["output"])
    with respx.mock() as mock:
        mock.get(OUTPUT).respond(200, content=png_bytes(128, 128), headers={"content-type": "image/png"})
        task("JobFinishFunction", {"jobId": waiting_job, "prediction": prediction})

    job = bootstrap.jobs().get(waiting_job)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.output_key
    results = [key for key in books.objects() if "/results/" in key]
    assert results == [job.output_key]  # one result stored
    assert books.used() == 1 and books.monthly_tenths() == 10 and books.given_back_markers() == 0


def test_a_duplicate_racing_the_first_delivery_is_200_and_changes_nothing(invoke, faults, books, waiting_job):
    # Both deliveries read the token before either removed it: Step Functions refuses the second one's token.
    faults.fail("stepfunctions", "SendTaskSuccess", ClientError(
        {"Error": {"Code": "InvalidToken", "Message": "used"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "SendTaskSuccess"))

    reply = invoke("ReplicateWebhookFunction", _webhook(waiting_job, delivery="msg_fault_2"))

    assert reply.status == 200 and reply.json()["data"] == {"received": True}
    job = bootstrap.jobs().get(waiting_job)
    assert job is not None and job.status is JobStatus.PROCESSING  # the first delivery's execution decides
    assert books.used() == 1 and books.given_back_markers() == 0


def test_a_webhook_that_never_arrives_fails_the_job_at_its_deadline_and_refunds_once(invoke, faults, books, db,
                                                                                   waiting_job):
    db.run("UPDATE ai_jobs SET deadline_at = ? WHERE id = ?", now_iso(time.time() - 1), waiting_job)
    schedule = read_event("job-sweeper-scheduled")
    with respx.mock() as mock:
        cancel = mock.post(f"{REPLICATE}/v1/predictions/{PREDICTION}/cancel").respond(
            200, json=prediction_json("canceled", prediction_id=PREDICTION))
        swept = [task("JobSweeperFunction", schedule) for _ in range(2)]

    assert swept == [{"failed": 1}, {"failed": 0}]
    assert cancel.call_count == 1
    job = bootstrap.jobs().get(waiting_job)
    assert job is not None and job.status is JobStatus.FAILED and job.error and job.error.message
    assert books.used() == 0 and books.monthly_tenths() == 0 and books.given_back_markers() == 1

    # The webhook, late after all: Step Functions no longer knows the stopped execution's token.
    faults.fail("stepfunctions", "SendTaskSuccess", ClientError(
        {"Error": {"Code": "TaskTimedOut", "Message": "gone"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "SendTaskSuccess"))
    late = invoke("ReplicateWebhookFunction", _webhook(waiting_job, delivery="msg_fault_late"))

    assert late.status == 200
    job = bootstrap.jobs().get(waiting_job)
    assert job is not None and job.status is JobStatus.FAILED and job.output_key is None
    assert [key for key in books.objects() if "/results/" in key] == []
    assert books.used() == 0 and books.given_back_markers() == 1
    assert OWNER in job.input_key
