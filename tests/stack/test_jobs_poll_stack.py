"""Jobs on the poll path: Replicate faked at the HTTP layer as in test_jobs_stack.py, but no PUBLIC_API_URL, so
there is no address Replicate could call back. The state machine then starts the prediction and checks on it
every WaitForPrediction seconds until it ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from local.fake_replicate import ECHO, HOLD, FakeReplicate
from tests.local_stack import running_stack
from tests.stack.conftest import client_from
from tests.stack.jobs import (
    assert_a_failed_prediction_fails_the_job_readably,
    create,
    daily_used,
    entered_states,
    execution,
    path_of,
    prediction_of,
    sources,
    unsafe,
    wait_for,
    wait_until_ended,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(delay=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def polling_stack(fake, tmp_path_factory) -> Iterator[dict]:
    with running_stack(tmp_path_factory.mktemp("polling-stack"), ENHANCER_PROVIDER="replicate",
                       REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.url,
                       REPLICATE_WEBHOOK_SECRET=fake.webhook_secret) as state:
        yield state


@pytest.fixture
def remote(polling_stack, fake) -> Iterator[httpx.Client]:
    # StartPrediction holds its create (`Prefer: wait`) as long as its function may run; a Replicate that answers
    # after a second, still processing, lets the poll loop go round within a test's time.
    fake.mode, fake.delay, fake.max_hold = ECHO, 0.2, 1
    with client_from(next(sources), polling_stack["url"]) as http:
        yield http


def test_a_job_without_a_webhook_address_is_polled_to_success(polling_stack, remote, fake):
    fake.mode = HOLD  # until the loop has gone round twice
    before, seen = set(fake.prediction_ids()), len(fake.requests)
    job_id = create(remote).json()["data"]["id"]
    prediction_id = prediction_of(fake, before)
    deadline = time.monotonic() + 30
    while entered_states(polling_stack, job_id).count("CheckPrediction") < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]["status"] == "processing"
    fake.finish(prediction_id)

    job = wait_for(remote, job_id)

    assert job["status"] == "succeeded"
    assert remote.get(path_of(job["output"]["url"])).content.startswith(b"\x89PNG")
    creates = [r.json() for r in fake.requests[seen:] if r.method == "POST" and r.path.endswith("/predictions")]
    assert len(creates) == 1 and "webhook" not in creates[0]  # one prediction, no callback asked for
    assert fake.deliveries == []
    states = entered_states(polling_stack, job_id)
    assert states[:3] == ["Route", "StartPrediction", "WaitForPrediction"] and states[-1] == "StoreResult", states
    assert states.count("CheckPrediction") >= 2, states
    assert execution(polling_stack, job_id)["status"] == "SUCCEEDED"


def test_cancel_while_processing_cancels_the_prediction_and_ends_the_loop(polling_stack, remote, fake):
    fake.mode = HOLD
    before, used = set(fake.prediction_ids()), daily_used(remote)
    job_id = create(remote).json()["data"]["id"]
    prediction_id = prediction_of(fake, before)
    deadline = time.monotonic() + 15
    while "WaitForPrediction" not in entered_states(polling_stack, job_id) and time.monotonic() < deadline:
        time.sleep(0.2)  # the create has answered and the job knows its prediction

    canceled = remote.post(f"/api/ai-image/jobs/{job_id}/cancel", headers=unsafe(remote))

    assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "canceled"
    assert fake.prediction(prediction_id)["status"] == "canceled"  # the provider was told
    assert daily_used(remote) == used
    wait_until_ended(polling_stack, job_id)
    assert remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]["status"] == "canceled"


def test_a_cancel_while_the_create_is_held_cancels_the_prediction_made_after_it(polling_stack, remote, fake):
    fake.mode, fake.max_hold = HOLD, 5
    before, used = set(fake.prediction_ids()), daily_used(remote)
    job_id = create(remote).json()["data"]["id"]
    prediction_id = prediction_of(fake, before)  # Replicate has it; the job has no prediction id yet

    canceled = remote.post(f"/api/ai-image/jobs/{job_id}/cancel", headers=unsafe(remote))

    assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "canceled"
    wait_until_ended(polling_stack, job_id)
    # The stopped execution's task still runs (as a Lambda invocation does): once the held create answers, it
    # cancels the prediction rather than leave it running, and billing, at Replicate.
    deadline = time.monotonic() + 15
    while fake.prediction(prediction_id)["status"] != "canceled" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fake.prediction(prediction_id)["status"] == "canceled"
    job = remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]
    assert job["status"] == "canceled" and job["output"] is None
    assert daily_used(remote) == used


def test_a_failed_prediction_fails_the_job_readably_and_gives_the_charge_back(remote, fake):
    assert_a_failed_prediction_fails_the_job_readably(remote, fake)
