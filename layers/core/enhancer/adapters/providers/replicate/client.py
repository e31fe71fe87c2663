"""The HTTP side of Replicate: calls to its API bounded by the deadline, the result download, and the mapping
of every upstream status and transport failure to the few fixed errors a client may see.

Nothing Replicate says reaches a client: upstream text goes to the `replicate_error` log (200 characters,
presigned query strings removed); clients see one of the messages below (docs/architecture.md §6).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimedOut
from typing import Any
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

class ReplicateClient:
    """Replicate's API over httpx: every call ends by the deadline, errors are mapped and logged here."""

    def __init__(self, token: str, *, base_url: str = "https://api.replicate.com", http_timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._http_timeout = http_timeout
        self._client = httpx.Client(base_url=base_url.rstrip("/"), transport=transport, timeout=http_timeout,
                                    follow_redirects=False, headers={"User-Agent": "enhancer/0.1"})

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def __repr__(self) -> str:  # never the token
        return f"ReplicateClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, *, model: str, deadline: float | None,
             body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
             hold: float = 0) -> dict[str, Any]:
        """One API call answering a JSON object; `hold` is how long Replicate may hold it (`Prefer: wait`)."""
        timeout = self._timeout(deadline, hold=hold)
        try:
            response = self._client.request(method, path, json=body, headers={**self._auth, **(headers or {})},
                                            timeout=timeout)
        except httpx.HTTPError as exc:
            raise _transport_error(model, exc) from None
        if response.status_code >= 400:
            error = error_for_status(response.status_code)
            log_upstream(model, response.status_code, response.text,
                         level="warning" if isinstance(error, ValidationFailed) else "error")
            raise error
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            log_upstream(model, response.status_code, response.text)
            raise ProviderFailed(FAILED, details={"retryable": True})
        return payload

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


def _transport_error(model: str, exc: httpx.HTTPError) -> AppError:
    log_upstream(model, "timeout" if isinstance(exc, httpx.TimeoutException) else "transport",
                 f"{type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimedOut()
    return ProviderFailed(FAILED, details={"retryable": True})
