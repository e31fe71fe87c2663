"""Replicate over its HTTP API with httpx (no SDK): pinned versions, per-model input, deadline-bound calls.

Nothing Replicate says reaches a client: upstream text goes to the `replicate_error` log (200 characters,
presigned query strings removed); clients see one of a few fixed messages (docs/architecture.md §6, original API §6.2).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimedOut
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from enhancer.adapters.providers._images import sniff_image_type
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import AppError, ProviderFailed, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.domain.models import ModelSpec
from enhancer.observability import logger, metrics
from enhancer.services.ports import EnhancedImage, SourceImage

if TYPE_CHECKING:
    from enhancer.config import Settings

TOKEN_CACHE_SECONDS = 300
MAX_PREFER_WAIT_SECONDS = 60
# Replicate holds a `Prefer: wait` call this much less than the time left, so its answer (and a cancel, if the
# prediction is still running) arrive before the deadline.
PREFER_WAIT_MARGIN_SECONDS = 2.0
# Polling stops this long before the deadline, leaving time for the best-effort cancel.
CANCEL_RESERVE_SECONDS = 1.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
WEBHOOK_EVENTS = ("completed",)
SNIPPET_CHARS = 200

MISCONFIGURED = "The enhancement service is not configured correctly"
REJECTED = "The model rejected the request"
FAILED = "The enhancement service failed, please retry"
BUSY = "The enhancement service is busy, please retry"
MODEL_FAILED = "The model could not enhance this image"
CANCELED = "The enhancement was canceled"
NO_OUTPUT = "The model returned no image"
NO_SOURCE_URL = "The image could not be shared with the enhancement service"

# httpx applies its read timeout to each read, so a result that trickles in could outlast the deadline by a
# whole timeout; the download runs here and is waited for no longer than the deadline.
_downloads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="replicate-output")

_PREDICTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")


# --- pure parts -----------------------------------------------------------------------------------------------

def _given(model: ModelSpec, name: str, value: object) -> object:
    """The option's value, or the registry's default when it was not given."""
    if value is not None:
        return value
    spec = model.option(name)
    return spec.default if spec is not None else None


def _real_esrgan(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url, "scale": _given(model, "scale", o.scale) or 2,
            "face_enhance": bool(_given(model, "face_enhance", o.face_enhance))}


def _gfpgan(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"img": url, "version": "v1.4", "scale": 2}


def _codeformer(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    fidelity = _given(model, "fidelity", o.fidelity)
    return {"image": url, "codeformer_fidelity": 0.5 if fidelity is None else fidelity,
            "background_enhance": True, "face_upsample": True, "upscale": 2}


def _topaz(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url}


def _sdxl(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url,
            "prompt": _given(model, "prompt", o.prompt),
            "negative_prompt": _given(model, "negative_prompt", o.negative_prompt),
            "prompt_strength": _given(model, "strength", o.strength),
            "guidance_scale": _given(model, "guidance", o.guidance),
            "num_inference_steps": _given(model, "steps", o.steps)}


_INPUTS: dict[str, Callable[[ModelSpec, EnhanceOptions, str], dict[str, Any]]] = {
    "real-esrgan": _real_esrgan,
    "gfpgan": _gfpgan,
    "codeformer": _codeformer,
    "topaz-upscale": _topaz,
    "sdxl-img2img": _sdxl,
}


def replicate_input(model: ModelSpec, options: EnhanceOptions, image_url: str) -> dict[str, Any]:
    """The `input` object Replicate's model expects, with the registry's defaults for absent options."""
    try:
        build = _INPUTS[model.slug]
    except KeyError:
        raise ValueError(f"no Replicate input mapping for model {model.slug!r}") from None
    return build(model, options, image_url)


def prediction_request(model: ModelSpec, model_input: dict[str, Any], *,
                       webhook: str | None = None) -> tuple[str, dict[str, Any]]:
    """(path, body) creating a prediction: a pinned version through /v1/predictions, an official model
    without a version through /v1/models/{owner}/{name}/predictions."""
    ref = model.replicate
    if ref.version:
        path, body = "/v1/predictions", {"version": ref.version, "input": model_input}
    else:
        path, body = f"/v1/models/{ref.owner}/{ref.name}/predictions", {"input": model_input}
    if webhook:
        body["webhook"] = webhook
        body["webhook_events_filter"] = list(WEBHOOK_EVENTS)
    return path, body


def prefer_wait_seconds(seconds_left: float) -> int:
    """`Prefer: wait=n`: as long as the deadline allows (less a margin for the answer), between 1 and 60."""
    if not math.isfinite(seconds_left):
        return MAX_PREFER_WAIT_SECONDS
    return max(1, min(MAX_PREFER_WAIT_SECONDS, math.floor(seconds_left - PREFER_WAIT_MARGIN_SECONDS)))


def error_for_status(status: int) -> AppError:
    """The client-facing error for an upstream HTTP status; never carries upstream text."""
    if status in (401, 403):
        return ServiceUnavailable(MISCONFIGURED)
    if status == 429:
        return ProviderFailed(BUSY, details={"retryable": True}, headers={"Retry-After": "5"})
    if 400 <= status < 500:
        return ValidationFailed(REJECTED)
    return ProviderFailed(FAILED, details={"retryable": True})


def error_for_prediction(status: str) -> AppError:
    """The error for a prediction that ended without succeeding."""
    return ProviderFailed(CANCELED) if status in ("canceled", "aborted") else ProviderFailed(MODEL_FAILED)


def redact_urls(text: str) -> str:
    """Text with every URL's query string (presigned signatures) removed."""
    return _URL_QUERY.sub(r"\1?…", text)


def url_for_logs(url: str) -> str:
    """A URL without its query string or fragment, for logs."""
    if url.startswith("data:"):
        return "data:…"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def output_url(output: object) -> str | None:
    """The image URL in a prediction's `output`: a string, or the first element of a list."""
    if isinstance(output, list) and output:
        output = output[0]
    return output if isinstance(output, str) and output else None


# --- the token ------------------------------------------------------------------------------------------------

def replicate_token(settings: Settings) -> str | None:
    """The API token: from SSM when a parameter name is set (decrypted, cached 5 minutes), else the inline
    value, else None."""
    if settings.replicate_api_token_parameter:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_parameter(settings.replicate_api_token_parameter, decrypt=True,
                                             max_age=TOKEN_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError:
            logger.exception("replicate_token_unavailable",
                             extra={"parameter": settings.replicate_api_token_parameter})
            raise ServiceUnavailable("The service is not configured correctly, please retry later") from None
        return str(value).strip() or None
    if settings.replicate_api_token:
        return settings.replicate_api_token.get_secret_value().strip() or None
    return None


# --- the provider ---------------------------------------------------------------------------------------------

def _log_upstream(model: str, status: int | str, snippet: str = "", *, level: str = "error") -> None:
    getattr(logger, level)("replicate_error", extra={
        "status": status, "provider": "replicate", "model": model,
        "snippet": redact_urls(snippet)[:SNIPPET_CHARS]})


@contextmanager
def _counted() -> Iterator[None]:
    """Counts a failed public call once in `replicate_error`."""
    try:
        yield
    except AppError:
        metrics.add_metric(name="replicate_error", unit="Count", value=1)
        raise


class ReplicateProvider:
    name = "replicate"

    def __init__(self, token: str, *, base_url: str = "https://api.replicate.com", http_timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None, poll_interval: float = 0.6) -> None:
        self._auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._http_timeout = http_timeout
        self._poll_interval = poll_interval
        self._client = httpx.Client(base_url=base_url.rstrip("/"), transport=transport, timeout=http_timeout,
                                    follow_redirects=False, headers={"User-Agent": "enhancer/0.1"})

    def __repr__(self) -> str:  # never the token
        return f"ReplicateProvider(base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    # Public calls (the jobs workflow uses start/poll/cancel/output; generate uses run).

    def start(self, model: ModelSpec, options: EnhanceOptions, image_url: str, *, deadline: float | None = None,
              webhook: str | None = None) -> str:
        """Creates a prediction and returns its id. With a deadline, Replicate holds the call (`Prefer: wait`)
        so a short run is already finished when it answers."""
        with _counted():
            return self._create(model, options, image_url, deadline=deadline, webhook=webhook)["id"]

    def poll(self, prediction_id: str, *, deadline: float | None = None) -> dict[str, Any]:
        """The prediction as Replicate describes it (`status`, `output`, …)."""
        with _counted():
            return self._api("GET", f"/v1/predictions/{self._checked_id(prediction_id)}", model="-",
                             deadline=deadline)

    def cancel(self, prediction_id: str, *, deadline: float | None = None) -> None:
        with _counted():
            self._api("POST", f"/v1/predictions/{self._checked_id(prediction_id)}/cancel", model="-",
                      deadline=deadline)

    def output(self, model: ModelSpec, prediction: dict[str, Any], *, deadline: float | None = None) -> EnhancedImage:
        """The image of a finished prediction (failed or canceled ones raise)."""
        with _counted():
            return self._output(model, prediction, deadline)

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float) -> EnhancedImage:
        with _counted():
            if not source.url:
                logger.error("replicate_source_url_missing", extra={"model": model.slug})
                raise ServiceUnavailable(NO_SOURCE_URL)
            started = time.monotonic()
            prediction = self._create(model, options, source.url, deadline=deadline)
            prediction = self._until_done(model, prediction, deadline)
            image = self._output(model, prediction, deadline)
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.add_metric(name="replicate_duration_ms", unit="Milliseconds", value=round(elapsed_ms, 1))
            logger.debug("replicate_call_success", extra={"model": model.slug, "prediction": prediction["id"],
                                                          "duration_ms": round(elapsed_ms), "bytes": len(image.data)})
            return image

    # Internals.

    def _create(self, model: ModelSpec, options: EnhanceOptions, image_url: str, *, deadline: float | None,
                webhook: str | None = None) -> dict[str, Any]:
        path, body = prediction_request(model, replicate_input(model, options, image_url), webhook=webhook)
        headers, wait = {}, 0
        if deadline is not None:
            wait = prefer_wait_seconds(deadline - time.monotonic())
            headers["Prefer"] = f"wait={wait}"
        logger.debug("replicate_call_start", extra={"model": model.slug, "endpoint": path,
                                                    "image": url_for_logs(image_url), "prefer_wait": wait or None})
        prediction = self._api("POST", path, model=model.slug, deadline=deadline, body=body, headers=headers,
                               hold=wait)
        self._checked_id(prediction.get("id"))
        return prediction

    def _until_done(self, model: ModelSpec, prediction: dict[str, Any], deadline: float) -> dict[str, Any]:
        prediction_id = prediction["id"]
        cutoff = deadline - CANCEL_RESERVE_SECONDS
        while prediction.get("status") not in TERMINAL_STATUSES:
            left = cutoff - time.monotonic()
            if left <= 0:
                self._give_up(model, prediction_id, deadline)
            time.sleep(min(self._poll_interval, left))
            if time.monotonic() >= cutoff:
                self._give_up(model, prediction_id, deadline)
            try:
                prediction = self._api("GET", f"/v1/predictions/{prediction_id}", model=model.slug, deadline=cutoff)
            except ProviderTimedOut:
                self._give_up(model, prediction_id, deadline)
        return {**prediction, "id": prediction_id}

    def _give_up(self, model: ModelSpec, prediction_id: str, deadline: float) -> None:
        """Best-effort cancel of a prediction the deadline will not wait for, then ProviderTimedOut."""
        logger.warning("replicate_deadline_exceeded", extra={"model": model.slug, "prediction": prediction_id})
        with suppress(AppError):  # the prediction ends on its own; the cancel only saves its cost
            self._api("POST", f"/v1/predictions/{prediction_id}/cancel", model=model.slug,
                      deadline=max(deadline, time.monotonic() + 0.5))
        raise ProviderTimedOut()

    def _output(self, model: ModelSpec, prediction: dict[str, Any], deadline: float | None) -> EnhancedImage:
        status = prediction.get("status")
        if status != "succeeded":
            _log_upstream(model.slug, f"prediction_{status}", str(prediction.get("error") or ""))
            raise error_for_prediction(str(status))
        url = output_url(prediction.get("output"))
        if url is None:
            _log_upstream(model.slug, "no_output", json.dumps(prediction.get("output"))[:SNIPPET_CHARS])
            raise ProviderFailed(NO_OUTPUT)
        data, header_type = self._download(model, url, deadline)
        content_type = sniff_image_type(data) or header_type
        if not data or content_type is None:
            _log_upstream(model.slug, "not_an_image", f"{len(data)} bytes, {header_type}, {url_for_logs(url)}")
            raise ProviderFailed(NO_OUTPUT)
        return EnhancedImage(data=data, content_type=content_type)

    def _download(self, model: ModelSpec, url: str, deadline: float | None) -> tuple[bytes, str | None]:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            try:
                data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else b""
            except (binascii.Error, ValueError):
                data = b""
            return data, _image_type(header[5:].split(";")[0])
        if urlsplit(url).scheme not in ("http", "https"):
            _log_upstream(model.slug, "bad_output_url", url_for_logs(url))
            raise ProviderFailed(NO_OUTPUT)
        abandoned = threading.Event()
        fetch = _downloads.submit(self._fetch, model, url, deadline, abandoned)
        try:
            return fetch.result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except WaitTimedOut:
            abandoned.set()  # the fetch stops at its next chunk, or at its own read timeout
            _log_upstream(model.slug, "timeout", f"output {url_for_logs(url)} still arriving at the deadline")
            raise ProviderTimedOut() from None

    def _fetch(self, model: ModelSpec, url: str, deadline: float | None,
               abandoned: threading.Event) -> tuple[bytes, str | None]:
        try:
            with self._client.stream("GET", url, timeout=self._timeout(deadline), follow_redirects=True) as response:
                if response.status_code >= 300:
                    _log_upstream(model.slug, response.status_code, f"output {url_for_logs(url)}")
                    raise ProviderFailed(FAILED, details={"retryable": True})
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        _log_upstream(model.slug, "output_too_large", f"over {MAX_OUTPUT_BYTES} bytes")
                        raise ProviderFailed(FAILED)
                    if abandoned.is_set():
                        raise ProviderTimedOut()
                    chunks.append(chunk)
                return b"".join(chunks), _image_type(response.headers.get("content-type", ""))
        except httpx.HTTPError as exc:
            if abandoned.is_set():  # nobody waits for this fetch any more; the timeout was logged already
                raise ProviderTimedOut() from None
            raise self._transport_error(model.slug, exc) from None

    def _api(self, method: str, path: str, *, model: str, deadline: float | None,
             body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
             hold: float = 0) -> dict[str, Any]:
        timeout = self._timeout(deadline, hold=hold)
        try:
            response = self._client.request(method, path, json=body, headers={**self._auth, **(headers or {})},
                                            timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(model, exc) from None
        if response.status_code >= 400:
            error = error_for_status(response.status_code)
            _log_upstream(model, response.status_code, response.text,
                          level="warning" if isinstance(error, ValidationFailed) else "error")
            raise error
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            _log_upstream(model, response.status_code, response.text)
            raise ProviderFailed(FAILED, details={"retryable": True})
        return payload

    def _timeout(self, deadline: float | None, *, hold: float = 0) -> httpx.Timeout:
        """Every call ends by the deadline: connect/write/pool at most the HTTP timeout, reads also allow for a
        `Prefer: wait` hold; ProviderTimedOut when no time is left."""
        base = self._http_timeout
        read = base + hold
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProviderTimedOut()
            base, read = min(base, left), min(read, left)
        return httpx.Timeout(base, read=read)

    @staticmethod
    def _transport_error(model: str, exc: httpx.HTTPError) -> AppError:
        _log_upstream(model, "timeout" if isinstance(exc, httpx.TimeoutException) else "transport",
                      f"{type(exc).__name__}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimedOut()
        return ProviderFailed(FAILED, details={"retryable": True})

    @staticmethod
    def _checked_id(prediction_id: object) -> str:
        if not isinstance(prediction_id, str) or not _PREDICTION_ID.match(prediction_id):
            _log_upstream("-", "bad_prediction_id", repr(prediction_id)[:60])
            raise ProviderFailed(FAILED, details={"retryable": True})
        return prediction_id


def _image_type(header: str) -> str | None:
    value = header.split(";")[0].strip().lower()
    return value if value.startswith("image/") and value != "image/svg+xml" else None
