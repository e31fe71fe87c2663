"""The Replicate provider: creates a prediction for a model, waits for it until the deadline (cancelling what
the deadline will not wait for), and returns the image it made."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from enhancer.adapters.providers.replicate.client import (
    NO_OUTPUT,
    SNIPPET_CHARS,
    ReplicateClient,
    checked_id,
    error_for_prediction,
    log_upstream,
    output_url,
    url_for_logs,
)
from enhancer.adapters.providers.replicate.inputs import create_arguments, prefer_wait_seconds, replicate_input
from enhancer.adapters.secrets import read_secret
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import AppError, ProviderFailed, ProviderTimedOut, ServiceUnavailable
from enhancer.domain.image_checks import sniff_type
from enhancer.domain.models import ModelSpec
from enhancer.observability import logger, metrics
from enhancer.services.ports import EnhancedImage, Prediction, SourceImage

if TYPE_CHECKING:
    import httpx

    from enhancer.config import EnhancementSettings

# Polling stops this long before the deadline, leaving time for the best-effort cancel.
CANCEL_RESERVE_SECONDS = 1.0
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})

NO_SOURCE_URL = "The image could not be shared with the enhancement service"


def replicate_token(settings: EnhancementSettings) -> str | None:
    """The API token: from the store REPLICATE_API_TOKEN_PARAMETER names (cached, see `adapters.secrets`),
    else the inline value, else None."""
    token = read_secret(settings.replicate_api_token_parameter, settings.replicate_api_token,
                        purpose="replicate_token")
    return (token or "").strip() or None


@contextmanager
def _counted() -> Iterator[None]:
    """Counts a failed public call once in `replicate_error`."""
    try:
        yield
    except AppError:
        metrics.add_metric(name="replicate_error", unit="Count", value=1)
        raise


def _prediction(payload: dict[str, Any]) -> Prediction:
    return Prediction(id=checked_id(payload.get("id")), status=str(payload.get("status") or ""),
                      output=payload.get("output"))


class ReplicateProvider:
    name = "replicate"
    needs_source_url = True  # the model fetches the original itself, from a short-lived presigned URL

    def __init__(self, token: str, *, base_url: str = "https://api.replicate.com", http_timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None, poll_interval: float = 0.6) -> None:
        self._poll_interval = poll_interval
        self._http = ReplicateClient(token, base_url=base_url, http_timeout=http_timeout, transport=transport)

    def __repr__(self) -> str:  # never the token
        return f"ReplicateProvider(base_url={self._http.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # Public calls (the jobs workflow uses start/poll/cancel/output; generate uses run).

    def start(self, model: ModelSpec, options: EnhanceOptions, image_url: str, *, webhook: str | None = None,
              deadline: float | None = None) -> Prediction:
        """Creates a prediction within the deadline. With a webhook, Replicate reports its end there and answers at
        once: holding the call would only bill the caller's function for the model's time. Without one, Replicate
        holds the call (`Prefer: wait`) as the deadline allows, so a short run is already finished when it
        answers and the caller polls less."""
        with _counted():
            return _prediction(self._create(model, options, image_url, deadline=deadline, webhook=webhook,
                                            hold=webhook is None))

    def poll(self, prediction_id: str, *, deadline: float | None = None) -> Prediction:
        with _counted():
            return _prediction(self._http.get(prediction_id, model="-", deadline=deadline))

    def cancel(self, prediction_id: str, *, deadline: float | None = None) -> None:
        with _counted():
            self._http.cancel(prediction_id, model="-", deadline=deadline)

    def output(self, model: ModelSpec, prediction: Prediction, *, deadline: float | None = None) -> EnhancedImage:
        """The image of a finished prediction (failed or canceled ones raise)."""
        with _counted():
            return self._output(model, {"id": prediction.id, "status": prediction.status,
                                        "output": prediction.output}, deadline)

    def check_model(self, model: ModelSpec) -> None:
        """Every model in the registry runs on Replicate."""

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float, *,
            keep_running: bool = False) -> EnhancedImage:
        with _counted():
            if not source.url:
                logger.error("replicate_source_url_missing", extra={"model": model.slug})
                raise ServiceUnavailable(NO_SOURCE_URL)
            started = time.monotonic()
            prediction = self._create(model, options, source.url, deadline=deadline)
            prediction = self._until_done(model, prediction, deadline, keep_running=keep_running)
            image = self._output(model, prediction, deadline)
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.add_metric(name="replicate_duration_ms", unit="Milliseconds", value=round(elapsed_ms, 1))
            logger.debug("replicate_call_success", extra={"model": model.slug, "prediction": prediction["id"],
                                                          "duration_ms": round(elapsed_ms), "bytes": len(image.data)})
            return image

    # Internals.

    def _create(self, model: ModelSpec, options: EnhanceOptions, image_url: str, *, deadline: float | None,
                webhook: str | None = None, hold: bool = True) -> dict[str, Any]:
        arguments = create_arguments(model, replicate_input(model, options, image_url), webhook=webhook)
        wait = prefer_wait_seconds(deadline - time.monotonic()) if hold and deadline is not None else 0
        logger.debug("replicate_call_start", extra={
            "model": model.slug, "target": arguments.get("model") or "version", "image": url_for_logs(image_url),
            "prefer_wait": wait or None})
        return self._http.create(model.slug, arguments, deadline=deadline, hold=wait)

    def _until_done(self, model: ModelSpec, prediction: dict[str, Any], deadline: float, *,
                    keep_running: bool = False) -> dict[str, Any]:
        prediction_id = prediction["id"]
        cutoff = deadline - CANCEL_RESERVE_SECONDS
        while prediction.get("status") not in TERMINAL_STATUSES:
            left = cutoff - time.monotonic()
            if left <= 0:
                self._give_up(model, prediction_id, deadline, keep_running=keep_running)
            time.sleep(min(self._poll_interval, left))
            if time.monotonic() >= cutoff:
                self._give_up(model, prediction_id, deadline, keep_running=keep_running)
            try:
                prediction = self._http.get(prediction_id, model=model.slug, deadline=cutoff)
            except ProviderTimedOut:
                self._give_up(model, prediction_id, deadline, keep_running=keep_running)
        return {**prediction, "id": prediction_id}

    def _give_up(self, model: ModelSpec, prediction_id: str, deadline: float, *, keep_running: bool = False) -> None:
        """ProviderTimedOut for a prediction the deadline will not wait for: left running (and named) when a
        job will carry on with it, else canceled, best effort."""
        logger.warning("replicate_deadline_exceeded", extra={"model": model.slug, "prediction": prediction_id,
                                                             "kept_running": keep_running})
        if keep_running:
            raise ProviderTimedOut(prediction_id=prediction_id)
        with suppress(AppError):  # the prediction ends on its own; the cancel only saves its cost
            self._http.cancel(prediction_id, model=model.slug, deadline=max(deadline, time.monotonic() + 0.5))
        raise ProviderTimedOut()

    def _output(self, model: ModelSpec, prediction: dict[str, Any], deadline: float | None) -> EnhancedImage:
        status = prediction.get("status")
        if status != "succeeded":
            log_upstream(model.slug, f"prediction_{status}", str(prediction.get("error") or ""))
            raise error_for_prediction(str(status))
        url = output_url(prediction.get("output"))
        if url is None:
            log_upstream(model.slug, "no_output", json.dumps(prediction.get("output"))[:SNIPPET_CHARS])
            raise ProviderFailed(NO_OUTPUT)
        data, header_type = self._http.download(model.slug, url, deadline)
        content_type = sniff_type(data) or header_type
        if not data or content_type is None:
            log_upstream(model.slug, "not_an_image", f"{len(data)} bytes, {header_type}, {url_for_logs(url)}")
            raise ProviderFailed(NO_OUTPUT)
        return EnhancedImage(data=data, content_type=content_type)
