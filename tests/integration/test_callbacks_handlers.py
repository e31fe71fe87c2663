"""Completion callbacks (README "Completion callbacks") through the real handlers: the job create's checks of
`callbackUrl` (JobsCreateFunction, moto, SQLite), and the CallbackJob task (JobCallbackFunction) POSTing to a
local HTTPS receiver (tests/callback_receiver.py) over real TLS, with an independent verifier of the signature.

The task runs here as the state machine's loop runs it, one attempt per call: the wait between attempts (10 s
and up) is the state machine's, so the stack test (tests/stack/test_callbacks_stack.py) runs a delivery that
succeeds at once, and the retries are driven here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from enhancer import bootstrap
from enhancer.domain.jobs import JobStatus
from local.events import LambdaContext
from local.gateway import load_handler
from local.template import ROOT, load_template
from tests.callback_receiver import Receiver, user_signing_secret, verify
from tests.integration.conftest import SECRET, load_event, multipart, png_bytes
from tests.integration.test_generate_handler import GUEST, TOKEN, _signed_in

PNG = png_bytes(64, 64)


@pytest.fixture
def receiver(tmp_path) -> Iterator[Receiver]:
    server = Receiver(tmp_path)
    yield server
    server.close()


@pytest.fixture
def callbacks_env(receiver, monkeypatch, provider) -> Receiver:
    """The development/testing map and CA: receiver.test is the local receiver, metadata.test the metadata
    service's address (which must stay refused even so)."""
    monkeypatch.setenv("CALLBACK_TEST_HOSTS", "receiver.test=127.0.0.1,metadata.test=169.254.169.254,"
                                              "other.test=127.0.0.1")
    monkeypatch.setenv("CALLBACK_TEST_CA_BUNDLE", str(receiver.ca))
    monkeypatch.setenv("BASE_URL", "https://app.example.com")
    bootstrap.reset()
    return receiver


def create(invoke, fields: dict[str, str], cookies: dict[str, str]):
    body, content_type = multipart({"model": "real-esrgan", **fields}, PNG)
    return invoke("JobsCreateFunction", load_event(
        "jobs-create-post", cookies={"csrf_token": TOKEN, **cookies},
        headers={"content-type": content_type, "x-csrf-token": TOKEN}, body=body))


def run_callback(job_id: str) -> object:
    """CallbackJob: the task's real handler from template.yaml, with the input the state machine sends it."""
    props = load_template()["Resources"]["JobCallbackFunction"]["Properties"]
    handler = load_handler(ROOT / str(props["CodeUri"]), str(props["Handler"]), "JobCallbackFunction")
    return handler({"jobId": job_id}, LambdaContext(function_name="JobCallbackFunction", aws_request_id="req-cb",
                                                    timeout_seconds=int(props["Timeout"])))


def ended_job(invoke, accounts, db, url: str, status: JobStatus = JobStatus.SUCCEEDED) -> tuple[str, str]:
    """A signed-in user's job created with `url`, then ended (as its workflow would leave it)."""
    user_id, cookies = _signed_in(accounts, "pro", f"{time.time_ns()}@example.com")
    created = create(invoke, {"callbackUrl": url}, cookies)
    assert created.status == 202, created.body[:300]
    job_id = created.json()["data"]["id"]
    db.run("UPDATE ai_jobs SET status = ?, completed_at = started_at WHERE id = ?", status.value, job_id)
    return user_id, job_id


def callback_of(invoke, accounts, user_id: str, job_id: str) -> dict:
    session = accounts.create_session(user_id, int(time.time()) + 600)
    reply = invoke("JobGetFunction", load_event("job-get-get", path=f"/api/ai-image/jobs/{job_id}",
                                                cookies={"session_id": session}))
    assert reply.status == 200, reply.body[:300]
    return reply.json()["data"]["callback"]


# --- create -------------------------------------------------------------------------------------------------

def test_a_signed_in_users_job_keeps_its_callback_url_and_its_execution_takes_the_callback_path(
        invoke, aws, accounts, db, state_machine, callbacks_env):
    _, cookies = _signed_in(accounts, "pro", "cb@example.com")

    created = create(invoke, {"callbackUrl": callbacks_env.url()}, cookies)

    assert created.status == 202, created.body[:300]
    job = created.json()["data"]
    assert job["callback"] == {"url": callbacks_env.url(), "delivered": False, "attempts": []}
    assert db.rows("SELECT callback_url FROM ai_jobs WHERE id = ?", job["id"]) == [(callbacks_env.url(),)]
    [execution] = state_machine()
    assert json.loads(execution["input"])["callback"] is True
    # A job without one takes the path it always took, and shows no callback.
    plain = create(invoke, {}, cookies).json()["data"]
    assert "callback" not in plain
    assert all("callback" not in json.loads(e["input"]) for e in state_machine() if plain["id"] in e["executionArn"])


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://127.0.0.1:8443/hook", "https://[::1]/hook",
                                 "https://169.254.169.254/latest/meta-data/", "https://metadata.test/hook",
                                 "https://[::ffff:169.254.169.254]/", "http://receiver.test/hook",
                                 "https://user:pw@receiver.test/hook", "https://nowhere.invalid/hook"])
def test_an_unsafe_callback_url_is_a_400_naming_the_field_and_nothing_is_charged(
        invoke, aws, accounts, db, state_machine, callbacks_env, url):
    _, cookies = _signed_in(accounts, "pro", "cb@example.com")

    reply = create(invoke, {"callbackUrl": url}, cookies)

    assert reply.status == 400, reply.body[:300]
    error = reply.json()["error"]
    assert error["type"] == "validation_error" and error["details"] == {"field": "callbackUrl"}
    assert "169.254" not in error["message"] and "127.0.0.1" not in error["message"]
    assert db.rows("SELECT id FROM ai_jobs") == [] and state_machine() == []


def test_a_guests_callback_url_is_a_401(invoke, aws, accounts, db, state_machine, callbacks_env):
    reply = create(invoke, {"callbackUrl": callbacks_env.url()}, {"guest_id": GUEST})

    assert reply.status == 401 and reply.json()["error"]["type"] == "auth_error"
    assert db.rows("SELECT id FROM ai_jobs") == []


# --- the task -----------------------------------------------------------------------------------------------

def test_a_receiver_answering_500_then_200_gets_the_same_signed_message_twice_and_both_attempts_are_kept(
        invoke, aws, accounts, db, state_machine, callbacks_env):
    callbacks_env.answers = [500, 200]
    user_id, job_id = ended_job(invoke, accounts, db, callbacks_env.url("/hook?x=1"))

    first = run_callback(job_id)
    second = run_callback(job_id)
    third = run_callback(job_id)  # the state machine would not ask again; a repeat sends nothing more

    assert first["delivered"] is False and 5 <= first["retryInSeconds"] <= 10
    assert second == third == {"delivered": True, "retryInSeconds": None}
    assert len(callbacks_env.received) == 2
    key = user_signing_secret(SECRET, user_id)
    for received in callbacks_env.received:
        assert received.path == "/hook?x=1" and received.headers["host"] == f"receiver.test:{callbacks_env.port}"
        assert received.headers["webhook-id"] == f"{job_id}.succeeded"
        assert verify(key, received, now=time.time())
        assert not verify(user_signing_secret(SECRET, "someone-else"), received, now=time.time())
    assert callbacks_env.received[0].body == callbacks_env.received[1].body
    body = json.loads(callbacks_env.received[0].body)
    assert body["id"] == job_id and body["status"] == "succeeded" and "callback" not in body
    assert body["input"]["url"].startswith("https://app.example.com/r2-ai/")
    callback = callback_of(invoke, accounts, user_id, job_id)
    assert callback["delivered"] is True
    assert [a.get("status") for a in callback["attempts"]] == [500, 200]
    assert all(a["at"].endswith("Z") and isinstance(a["ms"], int) for a in callback["attempts"])


def test_a_failed_job_is_called_back_with_its_failure(invoke, aws, accounts, db, state_machine, callbacks_env):
    user_id, job_id = ended_job(invoke, accounts, db, callbacks_env.url(), JobStatus.FAILED)

    assert run_callback(job_id) == {"delivered": True, "retryInSeconds": None}

    [received] = callbacks_env.received
    assert received.headers["webhook-id"] == f"{job_id}.failed" and json.loads(received.body)["status"] == "failed"
    assert verify(user_signing_secret(SECRET, user_id), received, now=time.time())


def test_a_certificate_for_another_name_is_refused_and_recorded(invoke, aws, accounts, db, state_machine,
                                                                 callbacks_env):
    # other.test reaches the same receiver, whose certificate names receiver.test only: TLS checks the name.
    user_id, job_id = ended_job(invoke, accounts, db, f"https://other.test:{callbacks_env.port}/hook")

    answer = run_callback(job_id)

    assert answer["delivered"] is False and answer["retryInSeconds"]
    assert callbacks_env.received == []
    [attempt] = callback_of(invoke, accounts, user_id, job_id)["attempts"]
    assert attempt["error"] == "TLS failed" and "status" not in attempt


def test_a_redirect_is_not_followed(invoke, aws, accounts, db, state_machine, callbacks_env):
    callbacks_env.answers = [307]
    user_id, job_id = ended_job(invoke, accounts, db, callbacks_env.url())

    answer = run_callback(job_id)

    assert answer["delivered"] is False and len(callbacks_env.received) == 1
    assert callback_of(invoke, accounts, user_id, job_id)["attempts"][0]["status"] == 307


def test_a_job_still_running_or_without_a_callback_sends_nothing(invoke, aws, accounts, db, state_machine,
                                                                  callbacks_env):
    _, cookies = _signed_in(accounts, "pro", "cb@example.com")
    running = create(invoke, {"callbackUrl": callbacks_env.url()}, cookies).json()["data"]["id"]
    plain = create(invoke, {}, cookies).json()["data"]["id"]
    db.run("UPDATE ai_jobs SET status = 'succeeded' WHERE id = ?", plain)

    assert run_callback(running) == run_callback(plain) == {"delivered": False, "retryInSeconds": None}
    assert callbacks_env.received == []


def test_the_test_settings_are_refused_in_production(monkeypatch, settings_env):
    from enhancer.config import ConfigurationError, get_job_settings

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBACK_TEST_HOSTS", "receiver.test=127.0.0.1")
    bootstrap.reset()

    with pytest.raises(ConfigurationError, match="CALLBACK_TEST_HOSTS"):
        get_job_settings()
