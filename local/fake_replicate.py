"""A fake Replicate HTTP API for the local stack and its tests: an "echo" model behind the endpoints the
Replicate adapter calls, with signed completion webhooks (Standard Webhooks, as Replicate signs them).

A prediction fetches its input image (`input.image` or `input.img`, an http URL such as a presigned S3 URL),
waits `delay` seconds and succeeds with `output` = a URL on this server serving those bytes unchanged. `mode`
makes it misbehave instead (MODES). Every request received and every webhook delivered is recorded.

Knobs: the attributes `delay`, `mode`, `failure_error` and `max_hold` (the longest a `Prefer: wait` create is
held, in seconds; Replicate's own cap is 60), all settable while it runs, and for `make dev`
(`LOCAL_REPLICATE=fake`, see `use_fake_replicate`) the variables LOCAL_REPLICATE_DELAY and LOCAL_REPLICATE_MODE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ECHO = "echo"  # succeed with the input image
FAIL = "fail"  # end `failed` with `failure_error`
CREATE_500 = "create-500"  # creating a prediction answers 500
NON_IMAGE = "non-image"  # succeed, but the output URL serves bytes that are no image (labelled image/png)
HOLD = "hold"  # never finish until `finish(id)`, `fail(id)` or a cancel
MODES = (ECHO, FAIL, CREATE_500, NON_IMAGE, HOLD)
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
NON_IMAGE_BYTES = b"<html><body>this is not an image</body></html>"
MAX_PREFER_WAIT_SECONDS = 60
FETCH_TIMEOUT_SECONDS = 10
WEBHOOK_TIMEOUT_SECONDS = 10
_PREDICTION_PATH = re.compile(r"^/v1/predictions/([A-Za-z0-9_-]+)(/cancel)?$")
_MODEL_PATH = re.compile(r"^/v1/models/([^/]+)/([^/]+)/predictions$")
_OUTPUT_PATH = re.compile(r"^/outputs/([A-Za-z0-9_-]+)\.png$")


def sign_webhook(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header Standard Webhooks defines: `v1,` + base64 HMAC-SHA256, keyed with the
    base64 part of `whsec_<base64>`, of `<webhook-id>.<timestamp>.<body>`."""
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class WebhookDelivery:
    prediction_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # what the receiver answered; None when it could not be reached
    error: str | None = None


@dataclass
class _Prediction:
    state: dict[str, Any]  # the JSON the API answers
    webhook: str | None
    events: tuple[str, ...] | None  # webhook_events_filter; None: every event
    webhook_id: str = field(default_factory=lambda: f"msg_{uuid.uuid4()}")  # one per delivery, kept on re-sends
    image: bytes = b""
    content_type: str = "application/octet-stream"
    decision: tuple[str, str | None] | None = None  # set by finish()/fail(): ("succeeded" | "failed", error)
    settled: threading.Event = field(default_factory=threading.Event)  # terminal, completed webhook sent

    @property
    def terminal(self) -> bool:
        return self.state["status"] in TERMINAL


class FakeReplicate:
    """The fake API on 127.0.0.1 (a free port unless `port` is given): `start()`, `stop()`, or a `with` block.
    Thread-safe: the API's threads, the predictions' threads and the test's all go through one lock."""

    def __init__(self, *, token: str | None = None, webhook_secret: str | None = None, delay: float = 0.2,
                 mode: str = ECHO, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token or f"r8_fake_{secrets.token_hex(16)}"
        self.webhook_secret = webhook_secret or f"whsec_{base64.b64encode(secrets.token_bytes(24)).decode()}"
        self.delay = delay
        self.mode = mode
        self.failure_error = "fake model failure"
        self.max_hold: float = MAX_PREFER_WAIT_SECONDS
        self._predictions: dict[str, _Prediction] = {}
        self._requests: list[RecordedRequest] = []
        self._deliveries: list[WebhookDelivery] = []
        self._changed = threading.Condition()
        self._host = host
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_environment(cls) -> FakeReplicate:
        """Configured by LOCAL_REPLICATE_DELAY (seconds, default 0.2) and LOCAL_REPLICATE_MODE (one of MODES)."""
        mode = os.environ.get("LOCAL_REPLICATE_MODE", ECHO)
        if mode not in MODES:
            raise ValueError(f"LOCAL_REPLICATE_MODE: {mode!r} is not one of {', '.join(MODES)}")
        return cls(delay=float(os.environ.get("LOCAL_REPLICATE_DELAY", "0.2")), mode=mode)

    # --- lifecycle ---

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> FakeReplicate:
        # A short poll: stop() (every test's teardown) waits for it.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-replicate")
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:  # predictions held or waiting end now (as canceled, without webhooks)
            for prediction in self._predictions.values():
                if not prediction.terminal:
                    prediction.webhook = None
                    self._end(prediction, "canceled")
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeReplicate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests read ---

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (the output downloads included)."""
        with self._changed:
            return list(self._requests)

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook sent, in order, with the receiver's status."""
        with self._changed:
            return list(self._deliveries)

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        """A prediction's JSON as GET /v1/predictions/{id} answers it (KeyError when unknown)."""
        with self._changed:
            return json.loads(json.dumps(self._predictions[prediction_id].state))

    def prediction_ids(self) -> list[str]:
        with self._changed:
            return list(self._predictions)

    def wait_until_settled(self, prediction_id: str, timeout: float = 10) -> dict[str, Any]:
        """Wait until the prediction is terminal and its completed webhook (if any) sent; its JSON."""
        with self._changed:
            prediction = self._predictions[prediction_id]
        if not prediction.settled.wait(timeout):
            raise TimeoutError(f"prediction {prediction_id} did not settle in {timeout} s")
        return self.prediction(prediction_id)

    # --- what tests do ---

    def finish(self, prediction_id: str, timeout: float = 10) -> dict[str, Any]:
        """Let a held prediction succeed (with its echo); returns once it is settled."""
        return self._decide(prediction_id, ("succeeded", None), timeout)

    def fail(self, prediction_id: str, error: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """Let a held prediction fail with `error`; returns once it is settled."""
        return self._decide(prediction_id, ("failed", error or self.failure_error), timeout)

    def cancel(self, prediction_id: str) -> dict[str, Any]:
        """What POST /v1/predictions/{id}/cancel does: canceled unless already terminal."""
        with self._changed:
            prediction = self._predictions[prediction_id]
            ended = not prediction.terminal and self._end(prediction, "canceled")
            state = json.loads(json.dumps(prediction.state))
        if ended:
            threading.Thread(target=self._settle, args=(prediction,), daemon=True).start()
        return state

    def deliver_webhook(self, prediction_id: str, *, timestamp: int | None = None, secret: str | None = None,
                        body: bytes | str | None = None, webhook_id: str | None = None,
                        url: str | None = None) -> WebhookDelivery:
        """Send the prediction's webhook now (again): by default its current JSON, signed with this server's
        secret at the current time, under the webhook id of its first delivery (as a retry is). Each argument
        forges one part: a stale `timestamp`, a wrong `secret`, another `body` (signed as given)."""
        with self._changed:
            prediction = self._predictions[prediction_id]
            target = url or prediction.webhook
            payload = json.dumps(prediction.state).encode() if body is None else (
                body.encode() if isinstance(body, str) else body)
            message_id = webhook_id or prediction.webhook_id
        if not target:
            raise ValueError(f"prediction {prediction_id} has no webhook URL")
        return self._post_webhook(prediction_id, target, payload, message_id,
                                  int(time.time()) if timestamp is None else timestamp, secret or self.webhook_secret)

    # --- the API ---

    def create(self, body: Any, model: str | None) -> tuple[int, dict[str, Any], _Prediction | None]:
        """(status, JSON, prediction) of a create request already authorised; `model` is `owner/name` for the
        official-model endpoint."""
        if self.mode == CREATE_500:
            return 500, _problem(500, "Internal Server Error", "The fake is set to fail creating predictions"), None
        invalid = _invalid_create(body, needs_version=model is None)
        if invalid:
            problem = _problem(422, "Input validation failed", "; ".join(invalid))
            return 422, {**problem, "invalid_fields": invalid}, None
        prediction_id = base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=")[:26]
        events = body.get("webhook_events_filter")
        state = {"id": prediction_id, "model": model or "fake/echo", "version": body.get("version", "hidden"),
                 "input": body["input"], "logs": "", "output": None, "data_removed": False, "error": None,
                 "status": "starting", "created_at": _now(), "started_at": None, "completed_at": None,
                 "urls": {"get": f"{self.url}/v1/predictions/{prediction_id}",
                          "cancel": f"{self.url}/v1/predictions/{prediction_id}/cancel",
                          "web": f"{self.url}/p/{prediction_id}"},
                 "metrics": {}}
        if body.get("webhook"):
            state["webhook"] = body["webhook"]
            state["webhook_events_filter"] = events if events is not None else ["start", "output", "logs",
                                                                               "completed"]
        prediction = _Prediction(state=state, webhook=body.get("webhook"),
                                 events=tuple(events) if events is not None else None)
        with self._changed:
            self._predictions[prediction_id] = prediction
            created = json.loads(json.dumps(state))  # as created: the run may change it before it is sent
        threading.Thread(target=self._run, args=(prediction,), daemon=True,
                         name=f"fake-replicate-{prediction_id}").start()
        return 201, created, prediction

    def wait_for(self, prediction: _Prediction, seconds: float) -> dict[str, Any]:
        """`Prefer: wait`: the prediction once terminal, or as it is after `seconds`."""
        deadline = time.monotonic() + seconds
        with self._changed:
            self._changed.wait_for(lambda: prediction.terminal or time.monotonic() >= deadline,
                                   timeout=max(0.0, seconds))
            return json.loads(json.dumps(prediction.state))

    def output(self, prediction_id: str) -> tuple[bytes, str] | None:
        """(bytes, content type) an output URL serves, or None."""
        with self._changed:
            prediction = self._predictions.get(prediction_id)
            if prediction is None or prediction.state["status"] != "succeeded":
                return None
            if self.mode == NON_IMAGE:
                return NON_IMAGE_BYTES, "image/png"
            return prediction.image, prediction.content_type

    def record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)

    # --- a prediction's life ---

    def _run(self, prediction: _Prediction) -> None:
        with self._changed:
            prediction.state.update(status="processing", started_at=_now())
            self._changed.notify_all()
        fetched, problem = _fetch_input(prediction.state["input"])
        with self._changed:
            if problem is None:
                prediction.image, prediction.content_type = fetched
            started = time.monotonic()
            # Until decided (finish/fail) or canceled, or unless held, until the delay has passed. Both knobs
            # may change meanwhile, so they are read again on every wake-up.
            while not (prediction.terminal or prediction.decision is not None):
                if self.mode == HOLD:
                    self._changed.wait(0.2)
                    continue
                left = self.delay - (time.monotonic() - started)
                if left <= 0:
                    break
                self._changed.wait(left)
            if prediction.terminal:  # canceled meanwhile: the cancel settles it
                return
            if problem is not None:
                self._end(prediction, "failed", error=problem)
            elif prediction.decision is not None:
                status, error = prediction.decision
                self._end(prediction, status, error=error)
            elif self.mode == FAIL:
                self._end(prediction, "failed", error=self.failure_error)
            else:
                self._end(prediction, "succeeded")
        self._settle(prediction)

    def _end(self, prediction: _Prediction, status: str, error: str | None = None) -> bool:
        """Move a prediction to a terminal status (the lock held); False when it was terminal already."""
        if prediction.terminal:
            return False
        state = prediction.state
        state.update(status=status, completed_at=_now(), error=error)
        if status == "succeeded":
            state["output"] = f"{self.url}/outputs/{state['id']}.png"
        if state["started_at"]:
            started = datetime.fromisoformat(state["started_at"].replace("Z", "+00:00"))
            state["metrics"] = {"predict_time": (datetime.now(UTC) - started).total_seconds()}
        self._changed.notify_all()
        return True

    def _settle(self, prediction: _Prediction) -> None:
        """The completed webhook, when one was asked for; then the prediction is settled."""
        try:
            if prediction.webhook and (prediction.events is None or "completed" in prediction.events):
                with self._changed:
                    payload = json.dumps(prediction.state).encode()
                self._post_webhook(prediction.state["id"], prediction.webhook, payload, prediction.webhook_id,
                                   int(time.time()), self.webhook_secret)
        finally:
            prediction.settled.set()

    def _decide(self, prediction_id: str, decision: tuple[str, str | None], timeout: float) -> dict[str, Any]:
        with self._changed:
            prediction = self._predictions[prediction_id]
            if prediction.terminal:
                raise ValueError(f"prediction {prediction_id} has ended already ({prediction.state['status']})")
            prediction.decision = decision
            self._changed.notify_all()
        return self.wait_until_settled(prediction_id, timeout)

    def _post_webhook(self, prediction_id: str, url: str, body: bytes, webhook_id: str, timestamp: int,
                      secret: str) -> WebhookDelivery:
        headers = {"content-type": "application/json", "user-agent": "fake-replicate-webhook",
                   "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign_webhook(secret, webhook_id, timestamp, body)}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
        status, error = None, None
        try:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"not an http URL: {url}")
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = WebhookDelivery(prediction_id, url, headers, body, status, error)
        with self._changed:
            self._deliveries.append(delivery)
        return delivery


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """Replicate's error body (RFC 7807)."""
    return {"title": title, "detail": detail, "status": status}


def _invalid_create(body: Any, *, needs_version: bool) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = []
    if not isinstance(body.get("input"), dict):
        problems.append("input: must be an object")
    if needs_version and not (isinstance(body.get("version"), str) and body["version"]):
        problems.append("version: is required")
    if body.get("webhook") is not None and urlsplit(str(body["webhook"])).scheme not in ("http", "https"):
        problems.append("webhook: must be an http(s) URL")
    events = body.get("webhook_events_filter")
    if events is not None and not (isinstance(events, list) and set(events) <= {"start", "output", "logs",
                                                                               "completed"}):
        problems.append("webhook_events_filter: must list start, output, logs or completed")
    return problems


def _fetch_input(model_input: dict[str, Any]) -> tuple[tuple[bytes, str], str | None]:
    """((bytes, content type), None) of the input image, or ((b"", ""), why it could not be fetched)."""
    url = model_input.get("image") or model_input.get("img")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        return (b"", ""), f"no input image URL (input.image or input.img): {url!r}"
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
            return (response.read(), response.headers.get("Content-Type", "application/octet-stream")), None
    except (OSError, ValueError) as exc:
        return (b"", ""), f"could not fetch the input image: {exc}"


def _prefer_wait(header: str | None) -> float | None:
    """Seconds a `Prefer: wait[=n]` header asks to hold the call (at most 60), or None."""
    match = re.search(r"\bwait(?:=(\d+))?\b", header or "")
    if not match:
        return None
    return min(MAX_PREFER_WAIT_SECONDS, int(match.group(1))) if match.group(1) else MAX_PREFER_WAIT_SECONDS


def _make_handler(fake: FakeReplicate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-replicate"
        timeout = 30  # a client that stalls mid-request does not hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Silenced: the tests read `fake.requests`."""

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.record(RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                        body))
            path = urlsplit(self.path).path
            output = _OUTPUT_PATH.match(path)
            if output and self.command == "GET":  # delivery URLs need no token, as Replicate's
                served = fake.output(output.group(1))
                if served is None:
                    self._json(404, _problem(404, "Not found", "No such output"))
                else:
                    self._send(200, *served)
            elif self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._json(401, _problem(401, "Unauthenticated", "You did not pass a valid authentication token"))
            elif self.command == "POST" and (path == "/v1/predictions" or _MODEL_PATH.match(path)):
                model = _MODEL_PATH.match(path)
                self._create(body, f"{model.group(1)}/{model.group(2)}" if model else None)
            else:
                self._prediction(path)

        def _prediction(self, path: str) -> None:
            match = _PREDICTION_PATH.match(path)
            if match and match.group(1) in fake.prediction_ids():
                prediction_id, cancel = match.groups()
                if cancel and self.command == "POST":
                    return self._json(200, fake.cancel(prediction_id))
                if not cancel and self.command == "GET":
                    return self._json(200, fake.prediction(prediction_id))
            self._json(404, _problem(404, "Not found", "The requested resource could not be found"))

        def _create(self, body: bytes, model: str | None) -> None:
            try:
                payload = json.loads(body)
            except ValueError:
                self._json(400, _problem(400, "Bad request", "The body is not JSON"))
                return
            status, answer, prediction = fake.create(payload, model)
            hold = _prefer_wait(self.headers.get("Prefer"))
            if prediction is not None and hold:
                answer = fake.wait_for(prediction, min(hold, fake.max_hold))
            self._json(status, answer)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            content_type = "application/problem+json" if status >= 400 else "application/json"
            self._send(status, json.dumps(payload).encode(), content_type)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def use_fake_replicate(public_api_url: str | None) -> FakeReplicate:
    """Start a fake (configured from the environment) and point the functions' Replicate settings at it:
    ENHANCER_PROVIDER, REPLICATE_API_TOKEN, REPLICATE_BASE_URL, REPLICATE_WEBHOOK_SECRET, and PUBLIC_API_URL
    (where the webhooks come back) when given, else none so the workflow polls. Set before the settings load."""
    fake = FakeReplicate.from_environment().start()
    os.environ.update({"ENHANCER_PROVIDER": "replicate", "REPLICATE_API_TOKEN": fake.token,
                       "REPLICATE_BASE_URL": fake.url, "REPLICATE_WEBHOOK_SECRET": fake.webhook_secret})
    # A secret store named in .env would win over the fake's values; a real token must never be used here.
    for name in ("REPLICATE_API_TOKEN_PARAMETER", "REPLICATE_WEBHOOK_SECRET_PARAMETER"):
        os.environ.pop(name, None)
    if public_api_url:
        os.environ["PUBLIC_API_URL"] = public_api_url
    else:
        os.environ.pop("PUBLIC_API_URL", None)
    return fake
