"""What the job stack tests share: clients that pass the CSRF check, creating and watching jobs over HTTP, and
reading the execution a job ran in from (moto's) Step Functions."""

from __future__ import annotations

import time

import boto3
import httpx

from local.fake_replicate import FakeReplicate
from local.samples import png_bytes

# Loopback addresses of their own (tests/stack/conftest.py uses 127.0.x.y), for the second client a test needs.
sources = (f"127.1.{n // 250}.{n % 250 + 2}" for n in range(10_000))
TOKEN = "t" * 32
FINAL = ("succeeded", "failed", "canceled")


def unsafe(client: httpx.Client) -> dict[str, str]:
    client.cookies.set("csrf_token", TOKEN)
    return {"Origin": str(client.base_url).rstrip("/"), "X-CSRF-Token": TOKEN}


def create(client: httpx.Client, *, size: int = 48, headers: dict[str, str] | None = None,
           path: str = "/api/ai-image/jobs", **fields: str) -> httpx.Response:
    return client.post(path, headers={**unsafe(client), **(headers or {})},
                       data={"model": "real-esrgan", **fields},
                       files={"image": ("photo.png", png_bytes(size, size), "image/png")})


def wait_for(client: httpx.Client, job_id: str, statuses=FINAL, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/api/ai-image/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job = answer.json()["data"]
        if job["status"] in statuses:
            return job
        time.sleep(0.6)  # 100 a minute at most: the poll limiter allows 120 per client
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def daily_used(client: httpx.Client) -> int:
    return client.get("/api/ai-image/usage").json()["data"]["usage"]["used"]


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def stepfunctions(stack: dict):
    return boto3.client("stepfunctions", endpoint_url=stack["awsEndpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def execution(stack: dict, job_id: str) -> dict:
    sfn = stepfunctions(stack)
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"].replace(":stateMachine:", ":execution:")
    return sfn.describe_execution(executionArn=f"{arn}:{job_id}")


def entered_states(stack: dict, job_id: str) -> list[str]:
    sfn = stepfunctions(stack)
    events = sfn.get_execution_history(executionArn=execution(stack, job_id)["executionArn"])["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]



def prediction_of(fake: FakeReplicate, before: set[str], timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(fake.prediction_ids()) - before
        if new:
            return new.pop()
        time.sleep(0.05)
    raise AssertionError("no prediction was created")


def wait_until_ended(stack: dict, job_id: str, timeout: float = 15) -> None:
    """Until the job's execution is no longer RUNNING (the local stack ends stopped ones, as AWS does)."""
    deadline = time.monotonic() + timeout
    while execution(stack, job_id)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert execution(stack, job_id)["status"] != "RUNNING"


def assert_a_failed_prediction_fails_the_job_readably(client: httpx.Client, fake: FakeReplicate) -> None:
    """With the fake set to fail: the job ends failed with our own words (none of the provider's), charge back."""
    from local.fake_replicate import FAIL

    fake.mode = FAIL
    used = daily_used(client)

    job = wait_for(client, create(client).json()["data"]["id"])

    assert job["status"] == "failed" and job["output"] is None
    assert job["error"] == {"type": "provider_error", "message": "The model could not enhance this image"}
    assert fake.failure_error not in str(job)
    assert daily_used(client) == used
