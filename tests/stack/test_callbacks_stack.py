"""Completion callbacks over HTTP against a local stack of their own (README "Completion callbacks"): a signed-in
user's job with a `callbackUrl` on a local HTTPS receiver runs the template's state machine in moto, and the
receiver gets exactly one POST, which a verifier written from the Standard Webhooks specification accepts
(tests/callback_receiver.py); unsafe URLs are a 400 and a guest's a 401. The stack trusts the receiver's CA and
maps receiver.test to 127.0.0.1 (and metadata.test to the metadata service's address) through the development
settings CALLBACK_TEST_CA_BUNDLE and CALLBACK_TEST_HOSTS. Retries: tests/integration/test_callbacks_handlers.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from local.aws import free_port
from tests.callback_receiver import Receiver, user_signing_secret, verify
from tests.local_stack import running_stack
from tests.stack.accounts import sign_in
from tests.stack.conftest import _aws_client, client_from
from tests.stack.jobs import create, entered_states, wait_for, wait_until_ended

_sources = (f"127.3.{n // 250}.{n % 250 + 2}" for n in range(10_000))


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    server = Receiver(tmp_path_factory.mktemp("receiver"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def callback_stack(receiver, tmp_path_factory) -> Iterator[dict]:
    port = free_port()
    # BASE_URL: the callback's image URLs are absolute on it, as the job routes' are.
    with running_stack(tmp_path_factory.mktemp("callback-stack"), port, BASE_URL=f"http://127.0.0.1:{port}",
                       CALLBACK_TEST_HOSTS="receiver.test=127.0.0.1,metadata.test=169.254.169.254",
                       CALLBACK_TEST_CA_BUNDLE=str(receiver.ca)) as state:
        yield state


@pytest.fixture
def user(callback_stack) -> Iterator[tuple[httpx.Client, str]]:
    with client_from(next(_sources), callback_stack["url"]) as http:
        yield http, sign_in(http, f"callbacks-{time.time_ns()}@example.com")


def _owner_key_secret(stack: dict) -> str:
    from local.__main__ import LOCAL_SECRET_PARAMETER

    parameter = _aws_client(stack, "ssm").get_parameter(Name=LOCAL_SECRET_PARAMETER, WithDecryption=True)
    return str(parameter["Parameter"]["Value"])


def _delivered(client: httpx.Client, job_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/ai-image/jobs/{job_id}").json()["data"]
        if job["callback"]["attempts"]:
            return job
        time.sleep(0.6)
    raise AssertionError(f"job {job_id}'s callback was not attempted in {timeout} s")


def test_a_job_with_a_callback_url_gets_one_signed_callback_an_independent_verifier_accepts(
        callback_stack, receiver, user):
    client, user_id = user
    receiver.answers = [200]
    before = len(receiver.received)

    created = create(client, callbackUrl=receiver.url("/done"))
    assert created.status_code == 202, created.text
    job_id = created.json()["data"]["id"]
    assert created.json()["data"]["callback"] == {"url": receiver.url("/done"), "delivered": False, "attempts": []}
    assert wait_for(client, job_id)["status"] == "succeeded"
    job = _delivered(client, job_id)
    wait_until_ended(callback_stack, job_id)

    received = receiver.received[before:]
    assert len(received) == 1, received
    [callback] = received
    assert callback.path == "/done" and callback.headers["content-type"] == "application/json"
    assert callback.headers["webhook-id"] == f"{job_id}.succeeded"
    assert verify(user_signing_secret(_owner_key_secret(callback_stack), user_id), callback, now=time.time())
    # What an integrator does: the secret the user reads on GET /api/keys verifies it.
    shown_secret = client.get("/api/keys").json()["data"]["callbackSigningSecret"]
    assert verify(base64.b64decode(shown_secret.removeprefix("whsec_")), callback, now=time.time())
    body = json.loads(callback.body)
    shown = {name: value for name, value in job.items() if name != "callback"}
    assert body == shown  # the job as its route shows it, without the callback's own record
    assert job["callback"]["delivered"] is True and [a["status"] for a in job["callback"]["attempts"]] == [200]
    states = entered_states(callback_stack, job_id)
    assert states == ["Route", "RunModelThenCallback", "CallbackJob", "CallbackAgain", "CallbackDone"], states


def test_a_job_without_a_callback_url_enters_no_callback_state(callback_stack, user):
    client, _ = user

    job = wait_for(client, create(client).json()["data"]["id"])
    wait_until_ended(callback_stack, job["id"])

    assert "callback" not in job
    assert entered_states(callback_stack, job["id"]) == ["Route", "RunModel"]


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://metadata.test/hook",
                                 "https://169.254.169.254/latest/meta-data/", "http://receiver.test/hook"])
def test_loopback_and_metadata_callback_urls_are_refused(callback_stack, receiver, user, url):
    client, _ = user
    before = len(receiver.received)

    refused = create(client, callbackUrl=url)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"] == {"field": "callbackUrl"}
    assert client.get("/api/ai-image/jobs").json()["data"]["jobs"] == []
    assert len(receiver.received) == before


def test_a_guests_callback_url_is_a_401(callback_stack, receiver):
    with client_from(next(_sources), callback_stack["url"]) as guest:
        refused = create(guest, callbackUrl=receiver.url())

    assert refused.status_code == 401 and refused.json()["error"]["type"] == "auth_error"
