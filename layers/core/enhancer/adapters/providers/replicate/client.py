"""The HTTP side of Replicate: the official SDK's prediction calls bounded by the deadline, the result download,
and the mapping of every upstream status and transport failure to the few fixed errors a client may see.

Nothing Replicate says reaches a client: upstream text goes to the `replicate_error` log (200 characters,
presigned query strings removed); clients see one of the messages below (docs/architecture.md §6).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimedOut
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from enhancer.domain.errors import AppError, ProviderFailed, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.observability import logger

MAX_OUTPUT_BYTES = 64 * 1024 * 1024
SNIPPET_CHARS = 200

MISCONFIGURED = "The enhancement service is not configured correctly"
REJECTED = "The model rejected the request"
FAILED = "The enhancement service failed, please retry"
BUSY = "The enhancement service is busy, please retry"
MODEL_FAILED = "The model could not enhance this image"
CANCELED = "The enhancement was canceled"
NO_OUTPUT = "The model returned no image"

# httpx applies its read timeout to each read, so a result that trickles in could outlast the deadline by a
# whole timeout; the download runs here and is waited for no longer than the deadline.
_downloads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="replicate-output")

T = TypeVar("T")

_PREDICTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")


# --- pure parts -----------------------------------------------------------------------------------------------

def error_for_status(status: int) -> AppError:
    """The client-facing error for an upstream HTTP status; never carries upstream text."""
    if status in (401, 403):
        return ServiceUnavailable(MISCONFIGURED)
    if status == 429:
        return ProviderFailed(BUSY, details={"retryable": True}, retry_after=5)
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


def image_type(header: str) -> str | None:
    """The image media type a Content-Type (or data: URL) header names; None for anything else, SVG included."""
    value = header.split(";")[0].strip().lower()
    return value if value.startswith("image/") and value != "image/svg+xml" else None


def log_upstream(model: str, status: int | str, snippet: str = "", *, level: str = "error") -> None:
    getattr(logger, level)("replicate_error", extra={
        "status": status, "provider": "replicate", "model": model,
        "snippet": redact_urls(snippet)[:SNIPPET_CHARS]})


def checked_id(prediction_id: object) -> str:
    """A prediction id safe to put in a path; anything else is an upstream failure."""
    if not isinstance(prediction_id, str) or not _PREDICTION_ID.match(prediction_id):
        log_upstream("-", "bad_prediction_id", repr(prediction_id)[:60])
        raise ProviderFailed(FAILED, details={"retryable": True})
    return prediction_id


# --- the client -----------------------------------------------------------------------------------------------

# The deadline of the call a thread is making: _DeadlineTransport bounds each HTTP attempt by it, the SDK's own
# retries included.
_deadline: ContextVar[float | None] = ContextVar("replicate_deadline", default=None)

# The SDK retries a GET on 429/503/504 up to ten times, sleeping as long as Retry-After says; its calls run here
# and are waited for no longer than the deadline (an abandoned one stops at its next attempt).
_calls = ThreadPoolExecutor(max_workers=4, thread_name_prefix="replicate-call")


class _DeadlineTransport(httpx.BaseTransport):
    """Every attempt ends by the deadline of the call that made it; past the deadline none starts."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = _deadline.get()
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.ConnectTimeout("the call's deadline has passed", request=request)
            timeouts = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {
                name: left if timeouts.get(name) is None else min(timeouts[name], left)
                for name in ("connect", "read", "write", "pool")}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _within(deadline: float | None, call: Callable[[], T]) -> T:
    _deadline.set(deadline)
    return call()


class ReplicateClient:
    """Replicate's API through the official SDK (`replicate.Client`); every call ends by the deadline, and its
    errors are mapped and logged here. Outputs are downloaded over plain httpx, bounded the same way."""

    def __init__(self, token: str, *, base_url: str = "https://api.replicate.com", http_timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        from replicate.client import Client as ReplicateSdk

        self._base_url = base_url.rstrip("/")
        self._http_timeout = http_timeout
        bounded = _DeadlineTransport(transport or httpx.HTTPTransport())
        self._sdk = ReplicateSdk(api_token=token, base_url=self._base_url, transport=bounded,
                                 timeout=httpx.Timeout(http_timeout), follow_redirects=False)
        self._client = httpx.Client(transport=bounded, timeout=http_timeout, follow_redirects=False,
                                    headers={"User-Agent": "enhancer/0.1"})

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:  # never the token
        return f"ReplicateClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def create(self, model: str, arguments: dict[str, Any], *, deadline: float | None,
               hold: int = 0) -> dict[str, Any]:
        """Creates a prediction (`create_arguments`); `hold` is how long Replicate may hold the call (`Prefer:
        wait`), so a short run has finished when it answers."""
        predictions = self._sdk.models.predictions if "model" in arguments else self._sdk.predictions
        extra: dict[str, Any] = {"wait": hold} if hold else {}
        return self._call(model, deadline, lambda: predictions.create(**arguments, **extra))

    def get(self, prediction_id: str, *, model: str, deadline: float | None) -> dict[str, Any]:
        checked = checked_id(prediction_id)
        return self._call(model, deadline, lambda: self._sdk.predictions.get(checked))

    def cancel(self, prediction_id: str, *, model: str, deadline: float | None) -> dict[str, Any]:
        checked = checked_id(prediction_id)
        return self._call(model, deadline, lambda: self._sdk.predictions.cancel(checked))

    def _call(self, model: str, deadline: float | None, call: Callable[[], Any]) -> dict[str, Any]:
        """The prediction one SDK call answers, as {id, status, output, error}; an AppError for anything else."""
        from replicate.exceptions import ReplicateError

        try:
            if deadline is None:
                prediction = call()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProviderTimedOut()
                pending = _calls.submit(_within, deadline, call)
                try:
                    prediction = pending.result(timeout=left)
                except WaitTimedOut:
                    log_upstream(model, "timeout", "no answer by the deadline")
                    raise ProviderTimedOut() from None
        except ReplicateError as exc:
            status = exc.status or 502
            error = error_for_status(status)
            log_upstream(model, status, f"{exc.title or ''}: {exc.detail or ''}",
                         level="warning" if isinstance(error, ValidationFailed) else "error")
            raise error from None
        except httpx.HTTPError as exc:
            raise _transport_error(model, exc) from None
        except (ValueError, TypeError) as exc:  # not JSON, or not a prediction (pydantic's errors are ValueErrors;
            # an answer that is no JSON object fails the SDK's `Prediction(**answer)` with a TypeError)
            log_upstream(model, "bad_prediction", f"{type(exc).__name__}: {exc}")
            raise ProviderFailed(FAILED, details={"retryable": True}) from None
        return {"id": checked_id(prediction.id), "status": prediction.status, "output": prediction.output,
                "error": prediction.error}

    def download(self, model: str, url: str, deadline: float | None) -> tuple[bytes, str | None]:
        """(bytes, media type from the header) of an output: a data: URL, or an http(s) URL fetched by the
        deadline, at most MAX_OUTPUT_BYTES."""
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            try:
                data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else b""
            except (binascii.Error, ValueError):
                data = b""
            return data, image_type(header[5:].split(";")[0])
        if urlsplit(url).scheme not in ("http", "https"):
            log_upstream(model, "bad_output_url", url_for_logs(url))
            raise ProviderFailed(NO_OUTPUT)
        abandoned = threading.Event()
        fetch = _downloads.submit(self._fetch, model, url, deadline, abandoned)
        try:
            return fetch.result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except WaitTimedOut:
            abandoned.set()  # the fetch stops at its next chunk, or at its own read timeout
            log_upstream(model, "timeout", f"output {url_for_logs(url)} still arriving at the deadline")
            raise ProviderTimedOut() from None

    def _fetch(self, model: str, url: str, deadline: float | None,
               abandoned: threading.Event) -> tuple[bytes, str | None]:
        try:
            with self._client.stream("GET", url, timeout=self._timeout(deadline), follow_redirects=True) as response:
                if response.status_code >= 300:
                    log_upstream(model, response.status_code, f"output {url_for_logs(url)}")
                    raise ProviderFailed(FAILED, details={"retryable": True})
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        log_upstream(model, "output_too_large", f"over {MAX_OUTPUT_BYTES} bytes")
                        raise ProviderFailed(FAILED)
                    if abandoned.is_set():
                        raise ProviderTimedOut()
                    chunks.append(chunk)
                return b"".join(chunks), image_type(response.headers.get("content-type", ""))
        except httpx.HTTPError as exc:
            if abandoned.is_set():  # nobody waits for this fetch any more; the timeout was logged already
                raise ProviderTimedOut() from None
            raise _transport_error(model, exc) from None

    def _timeout(self, deadline: float | None) -> httpx.Timeout:
        """At most the HTTP timeout, and never past the deadline; ProviderTimedOut when no time is left."""
        base = self._http_timeout
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProviderTimedOut()
            base = min(base, left)
        return httpx.Timeout(base)


def _transport_error(model: str, exc: httpx.HTTPError) -> AppError:
    log_upstream(model, "timeout" if isinstance(exc, httpx.TimeoutException) else "transport",
                 f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimedOut()
    return ProviderFailed(FAILED, details={"retryable": True})
