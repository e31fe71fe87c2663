"""Jobs over HTTP against the local stack, through the template's own state machine in moto: the local engine
(no token), and Replicate faked at the HTTP layer (local/fake_replicate.py, in this process, so each test
decides how its predictions end) on the webhook path (the poll path: test_jobs_poll_stack.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from local.aws import free_port
from local.fake_replicate import ECHO, HOLD, FakeReplicate
from tests.local_stack import running_stack
from tests.stack.conftest import client_from
from tests.stack.jobs import (
    assert_a_failed_prediction_fails_the_job_readably,
    create,
    daily_used,
    entered_states,
    path_of,
    prediction_of,
    sources,
    unsafe,
    wait_for,
    wait_until_ended,
)

# --- the local engine ---------------------------------------------------------------------------------------

def test_a_guests_job_succeeds_and_its_result_is_the_owners_alone(stack, client):
    created = create(client)
    assert created.status_code == 202 and created.json()["data"]["status"] == "queued"

    job = wait_for(client, created.json()["data"]["id"])

    assert job["status"] == "succeeded" and job["startedAt"] and job["completedAt"] and job["error"] is None
    result = client.get(path_of(job["output"]["url"]))
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert result.content.startswith(b"\x89PNG")
    with client_from(next(sources), stack["url"]) as stranger:
        assert stranger.get(path_of(job["output"]["url"])).status_code == 403
        assert stranger.get(f"/api/ai-image/jobs/{job['id']}").status_code == 403


def test_pages_of_two_walk_the_callers_own_jobs_newest_first(stack, client):
    ids = [create(client).json()["data"]["id"] for _ in range(3)]
    with client_from(next(sources), stack["url"]) as other:
        create(other)

    seen, cursor = [], None
    while True:
        page = client.get("/api/ai-image/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        seen += [job["id"] for job in page.json()["data"]["jobs"]]
        cursor = page.json()["data"]["nextCursor"]
        if not cursor:
            break

    assert seen == list(reversed(ids))
    assert client.get("/api/ai-image/jobs", params={"limit": 101}).status_code == 400


def test_two_creates_with_one_idempotency_key_make_one_job_and_one_charge(client):
    before = daily_used(client)
    first = create(client, headers={"Idempotency-Key": "k-1"})
    second = create(client, headers={"Idempotency-Key": "k-1"})
    other_body = create(client, headers={"Idempotency-Key": "k-1"}, scale="4")

    assert first.status_code == second.status_code == 202
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert other_body.status_code == 409 and other_body.json()["error"]["type"] == "conflict"
    wait_for(client, first.json()["data"]["id"])
    assert daily_used(client) == before + 1


def test_a_deleted_job_is_gone_with_its_images(client):
    job = wait_for(client, create(client).json()["data"]["id"])

    deleted = client.delete(f"/api/ai-image/jobs/{job['id']}", headers=unsafe(client))

    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert client.get(f"/api/ai-image/jobs/{job['id']}").status_code == 404
    assert client.get(path_of(job["output"]["url"])).status_code == 404
    assert job["id"] not in [j["id"] for j in client.get("/api/ai-image/jobs").json()["data"]["jobs"]]


# --- Replicate, faked at the HTTP layer ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(delay=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def replicate_stack(fake, tmp_path_factory) -> Iterator[dict]:
    port = free_port()
    with running_stack(tmp_path_factory.mktemp("replicate-stack"), port, ENHANCER_PROVIDER="replicate",
                       REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.url,
                       REPLICATE_WEBHOOK_SECRET=fake.webhook_secret, PUBLIC_API_URL=f"http://127.0.0.1:{port}",
                       GENERATE_DEADLINE_SECONDS="3") as state:
        yield state


@pytest.fixture
def remote(replicate_stack, fake) -> Iterator[httpx.Client]:
    fake.mode, fake.delay = ECHO, 0.2
    with client_from(next(sources), replicate_stack["url"]) as http:
        yield http


def test_a_job_on_the_webhook_path_takes_at_most_four_state_transitions(replicate_stack, remote, fake):
    job = wait_for(remote, create(remote).json()["data"]["id"])

    assert job["status"] == "succeeded"
    assert remote.get(path_of(job["output"]["url"])).content.startswith(b"\x89PNG")
    states = entered_states(replicate_stack, job["id"])
    assert len(states) <= 4, states
    assert any(d.status == 200 for d in fake.deliveries)  # it was the webhook that finished it


def test_cancel_ends_the_job_once_and_a_later_result_leaves_it_canceled(replicate_stack, remote, fake):
    fake.mode = HOLD
    before, used = set(fake.prediction_ids()), daily_used(remote)
    job_id = create(remote).json()["data"]["id"]
    prediction_id = prediction_of(fake, before)
    assert daily_used(remote) == used + 1

    canceled = remote.post(f"/api/ai-image/jobs/{job_id}/cancel", headers=unsafe(remote))
    again = remote.post(f"/api/ai-image/jobs/{job_id}/cancel", headers=unsafe(remote))
    # The cancel reached Replicate; a run that ended as it arrived still reports success: a signed webhook after.
    assert fake.wait_until_settled(prediction_id)["status"] == "canceled"
    late = {**fake.prediction(prediction_id), "status": "succeeded",
            "output": f"{fake.url}/outputs/{prediction_id}.png"}
    assert fake.deliver_webhook(prediction_id, body=json.dumps(late)).status == 200

    assert canceled.status_code == again.status_code == 200
    assert canceled.json()["data"]["status"] == again.json()["data"]["status"] == "canceled"
    time.sleep(0.5)
    job = remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]
    assert job["status"] == "canceled" and job["output"] is None and job["canceledAt"]
    assert daily_used(remote) == used  # the reservation came back, once
    wait_until_ended(replicate_stack, job_id)


def test_a_provider_failure_fails_the_job_readably_and_leaves_usage_unchanged(remote, fake):
    assert_a_failed_prediction_fails_the_job_readably(remote, fake)


def test_forged_and_stale_webhooks_are_refused_and_leave_the_job_alone(remote, fake):
    fake.mode = HOLD
    before = set(fake.prediction_ids())
    job_id = create(remote).json()["data"]["id"]
    prediction_id = prediction_of(fake, before)
    wait_for(remote, job_id, statuses=("processing",))

    forged = fake.deliver_webhook(prediction_id, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    stale = fake.deliver_webhook(prediction_id, timestamp=int(time.time()) - 302)
    future = fake.deliver_webhook(prediction_id, timestamp=int(time.time()) + 302)

    assert (forged.status, stale.status, future.status) == (400, 400, 400)
    assert remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]["status"] == "processing"
    fake.finish(prediction_id)
    assert wait_for(remote, job_id)["status"] == "succeeded"  # the genuine one still works
    assert fake.deliver_webhook(prediction_id).status == 200  # and a duplicate of it is answered, changing nothing
    assert remote.get(f"/api/ai-image/jobs/{job_id}").json()["data"]["status"] == "succeeded"


def test_a_generate_slower_than_its_deadline_becomes_a_job_that_succeeds(remote, fake):
    fake.delay = 6  # past the stack's 3 s generate deadline
    used = daily_used(remote)

    answer = create(remote, path="/api/ai-image/generate")

    assert answer.status_code == 202, answer.text
    job = answer.json()["data"]
    assert answer.headers["location"] == f"/api/ai-image/jobs/{job['id']}"
    assert wait_for(remote, job["id"], timeout=40)["status"] == "succeeded"
    assert daily_used(remote) == used + 1  # charged once
    assert len(fake.prediction_ids()) == len(set(fake.prediction_ids()))
