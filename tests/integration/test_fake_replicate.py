"""The fake Replicate API the local stack uses (local/fake_replicate.py), over real HTTP: the echo model, its
knobs, and signed webhooks checked here independently of the fake's own signing code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from local.fake_replicate import CREATE_500, FAIL, HOLD, NON_IMAGE, NON_IMAGE_BYTES, FakeReplicate
from local.samples import png_bytes

PHOTO = png_bytes(32, 32)
VERSION = "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
WEBHOOK_TOLERANCE_SECONDS = 300


def signature_is_valid(secret: str, headers: dict[str, str], body: bytes,
                       tolerance: int | None = WEBHOOK_TOLERANCE_SECONDS) -> bool:
    """Standard Webhooks verification, written out here rather than taken from the fake."""
    timestamp = headers["webhook-timestamp"]
    if tolerance is not None and abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = f"{headers['webhook-id']}.{timestamp}.{body.decode()}".encode()
    expected = hmac.new(base64.b64decode(secret.split("_")[1]), signed, hashlib.sha256).digest()
    return any(part.startswith("v1,") and hmac.compare_digest(base64.b64decode(part[3:]), expected)
               for part in headers["webhook-signature"].split())


@dataclass
class Receiver:
    """A tiny server: GET /photo.png serves PHOTO (the "presigned S3 URL"), POST /hook records a webhook and
    answers 200 when its signature verifies with `secret`, else 400 (as the product's webhook route does)."""

    secret: str = ""
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    _server: Any = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body = (200, PHOTO) if self.path == "/photo.png" else (404, b"")
                self.send_response(status)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.hooks.append((headers, body))
                self.send_response(200 if signature_is_valid(receiver.secret, headers, body) else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(delay=0.05) as server:
        yield server


@pytest.fixture
def receiver(fake: FakeReplicate) -> Iterator[Receiver]:
    server = Receiver(secret=fake.webhook_secret).start()
    yield server
    server.stop()


@pytest.fixture
def api(fake: FakeReplicate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.token}"}, timeout=10) as client:
        yield client


def create(api: httpx.Client, receiver: Receiver, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/predictions", json={"version": VERSION, "input": {"image": f"{receiver.url}/photo.png"},
                                                 **body})
    assert response.status_code == 201, response.text
    return response.json()


def poll(api: httpx.Client, prediction_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        prediction = api.get(f"/v1/predictions/{prediction_id}").json()
        if prediction["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
            return prediction
        time.sleep(0.02)


def test_a_prediction_echoes_its_input_image(fake, api, receiver):
    created = create(api, receiver)

    assert created["status"] == "starting"
    assert created["input"] == {"image": f"{receiver.url}/photo.png"}
    assert created["urls"]["get"] == f"{fake.url}/v1/predictions/{created['id']}"
    assert created["urls"]["cancel"].endswith(f"/v1/predictions/{created['id']}/cancel")
    assert created["created_at"].endswith("Z")
    done = poll(api, created["id"])
    assert done["status"] == "succeeded"
    assert done["error"] is None
    output = httpx.get(done["output"])  # no token: delivery URLs need none
    assert output.status_code == 200
    assert output.content == PHOTO
    assert output.headers["content-type"] == "image/png"


def test_the_official_model_endpoint_with_prefer_wait_answers_the_finished_prediction(api, receiver):
    response = api.post("/v1/models/topazlabs/image-upscale/predictions", headers={"Prefer": "wait=5"},
                        json={"input": {"img": f"{receiver.url}/photo.png"}})

    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"
    assert response.json()["model"] == "topazlabs/image-upscale"


def test_requests_without_the_token_are_refused(fake, receiver):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(f"{fake.url}/v1/predictions", headers=headers,
                              json={"version": VERSION, "input": {"image": f"{receiver.url}/photo.png"}})
        assert response.status_code == 401
        assert response.json()["detail"] == "You did not pass a valid authentication token"
    assert fake.prediction_ids() == []
    assert [r.headers.get("authorization") for r in fake.requests] == [None, "Bearer wrong"]


def test_a_create_without_a_version_is_invalid(api):
    response = api.post("/v1/predictions", json={"input": {}})

    assert response.status_code == 422
    assert "version: is required" in response.json()["invalid_fields"]


def test_the_completed_webhook_is_signed_as_replicate_signs_it(fake, api, receiver):
    created = create(api, receiver, webhook=f"{receiver.url}/hook?job=j1", webhook_events_filter=["completed"])

    settled = fake.wait_until_settled(created["id"])

    assert len(receiver.hooks) == 1
    headers, body = receiver.hooks[0]
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 10
    assert signature_is_valid(fake.webhook_secret, headers, body)
    assert json.loads(body) == settled
    assert settled["status"] == "succeeded"
    assert [(d.prediction_id, d.url, d.status) for d in fake.deliveries] == [
        (created["id"], f"{receiver.url}/hook?job=j1", 200)]


def test_the_signature_verifies_with_the_replicate_sdk_too(fake, api, receiver):
    from replicate.webhook import Webhooks, WebhookSigningSecret

    created = create(api, receiver, webhook=f"{receiver.url}/hook", webhook_events_filter=["completed"])
    fake.wait_until_settled(created["id"])
    headers, body = receiver.hooks[0]

    Webhooks.validate(headers=headers, body=body.decode(), secret=WebhookSigningSecret(key=fake.webhook_secret),
                      tolerance=WEBHOOK_TOLERANCE_SECONDS)


def test_no_webhook_when_the_filter_leaves_out_completed(fake, api, receiver):
    created = create(api, receiver, webhook=f"{receiver.url}/hook", webhook_events_filter=["start"])

    assert fake.wait_until_settled(created["id"])["status"] == "succeeded"
    assert receiver.hooks == []
    assert fake.deliveries == []


def test_webhooks_can_be_resent_and_forged(fake, api, receiver):
    created = create(api, receiver, webhook=f"{receiver.url}/hook", webhook_events_filter=["completed"])
    fake.wait_until_settled(created["id"])

    duplicate = fake.deliver_webhook(created["id"])
    stale = fake.deliver_webhook(created["id"], timestamp=int(time.time()) - 3600)
    wrong_secret = fake.deliver_webhook(created["id"], secret="whsec_" + base64.b64encode(b"not the secret").decode())
    tampered = fake.deliver_webhook(created["id"], body=json.dumps({"id": created["id"], "status": "failed"}))

    assert [d.status for d in fake.deliveries] == [200, 200, 400, 400, 200]
    assert (duplicate.status, stale.status, wrong_secret.status, tampered.status) == (200, 400, 400, 200)
    first_id = receiver.hooks[0][0]["webhook-id"]
    assert receiver.hooks[1][0]["webhook-id"] == first_id  # a re-send is the same message, as a retry is
    assert receiver.hooks[1][1] == receiver.hooks[0][1]
    assert json.loads(receiver.hooks[4][1])["status"] == "failed"  # a body of the test's choosing, signed


def test_cancel_ends_a_running_prediction_and_sends_the_completed_webhook(fake, api, receiver):
    fake.mode = HOLD
    created = create(api, receiver, webhook=f"{receiver.url}/hook", webhook_events_filter=["completed"])

    canceled = api.post(f"/v1/predictions/{created['id']}/cancel")

    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert fake.wait_until_settled(created["id"])["status"] == "canceled"
    assert api.get(f"/v1/predictions/{created['id']}").json()["status"] == "canceled"
    assert api.post(f"/v1/predictions/{created['id']}/cancel").json()["status"] == "canceled"  # idempotent
    assert [json.loads(body)["status"] for _, body in receiver.hooks] == ["canceled"]  # one webhook
    with pytest.raises(ValueError, match="ended already"):
        fake.finish(created["id"])


def test_cancel_after_success_changes_nothing(fake, api, receiver):
    created = create(api, receiver)
    poll(api, created["id"])

    assert api.post(f"/v1/predictions/{created['id']}/cancel").json()["status"] == "succeeded"


def test_fail_mode_ends_predictions_failed(fake, api, receiver):
    fake.mode = FAIL
    created = create(api, receiver, webhook=f"{receiver.url}/hook")

    settled = fake.wait_until_settled(created["id"])

    assert settled["status"] == "failed"
    assert settled["error"] == "fake model failure"
    assert settled["output"] is None
    assert json.loads(receiver.hooks[0][1])["status"] == "failed"  # no filter: every event, completed included


def test_create_500_mode_refuses_to_create(fake, api, receiver):
    fake.mode = CREATE_500

    response = api.post("/v1/predictions", json={"version": VERSION, "input": {"image": f"{receiver.url}/photo.png"}})

    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert fake.prediction_ids() == []


def test_non_image_mode_serves_bytes_that_are_no_image(fake, api, receiver):
    fake.mode = NON_IMAGE
    done = poll(api, create(api, receiver)["id"])

    output = httpx.get(done["output"])

    assert done["status"] == "succeeded"
    assert output.content == NON_IMAGE_BYTES
    assert output.headers["content-type"] == "image/png"  # the label lies; only the bytes tell


def test_hold_mode_waits_for_the_test_to_finish_or_fail(fake, api, receiver):
    fake.mode = HOLD
    finished, failed = create(api, receiver), create(api, receiver)
    time.sleep(0.3)  # well past the delay
    assert api.get(f"/v1/predictions/{finished['id']}").json()["status"] == "processing"

    assert fake.finish(finished["id"])["status"] == "succeeded"
    assert fake.fail(failed["id"], "out of memory")["error"] == "out of memory"
    assert httpx.get(fake.prediction(finished["id"])["output"]).content == PHOTO
    assert poll(api, failed["id"])["status"] == "failed"


def test_an_input_that_cannot_be_fetched_fails_the_prediction(fake, api, receiver):
    response = api.post("/v1/predictions", json={"version": VERSION, "input": {"image": f"{receiver.url}/missing"}})

    done = poll(api, response.json()["id"])

    assert done["status"] == "failed"
    assert "could not fetch the input image" in done["error"]


def test_unknown_predictions_are_not_found(api):
    assert api.get("/v1/predictions/nosuchprediction").status_code == 404
    assert api.post("/v1/predictions/nosuchprediction/cancel").status_code == 404
