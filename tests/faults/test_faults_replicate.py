"""Replicate answering 5xx, timing out or sending malformed output, answered at the HTTP layer (respx under the
provider's httpx client): 502 `provider_error` with none of Replicate's words, the charge given back, the
stored original removed. (The create answering 500 is also in tests/integration/test_generate_handler.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from tests.faults.conftest import REPLICATE, assert_error, generate_event, use_replicate
from tests.replicate_wire import prediction_json

OUTPUT = "https://replicate.delivery/fault/output.png"
UPSTREAM = "UPSTREAM-SECRET-DETAIL"


def _generate(invoke: Any, provider: Callable[..., None], wire: Callable[[respx.MockRouter], None]) -> Any:
    use_replicate(provider)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.post(f"{REPLICATE}/v1/predictions/p1/cancel").respond(200, json=prediction_json("canceled"))
        wire(mock)
        reply = invoke("GenerateFunction", generate_event())
    assert UPSTREAM not in reply.body.decode()
    return reply


def _processing_then(mock: respx.MockRouter, answer: httpx.Response | Exception) -> None:
    mock.post(f"{REPLICATE}/v1/predictions").respond(201, json=prediction_json("processing"))
    route = mock.get(f"{REPLICATE}/v1/predictions/p1")
    if isinstance(answer, Exception):
        route.side_effect = answer
    else:
        route.return_value = answer


def _succeeded_with(mock: respx.MockRouter, output: Any, download: httpx.Response | Exception | None = None) -> None:
    mock.post(f"{REPLICATE}/v1/predictions").respond(201, json=prediction_json("succeeded", output=output))
    if download is not None:
        route = mock.get(OUTPUT)
        if isinstance(download, Exception):
            route.side_effect = download
        else:
            route.return_value = download


FIVE_XX = {
    "create-502": lambda m: m.post(f"{REPLICATE}/v1/predictions").respond(502, json={"detail": UPSTREAM}),
    "poll-500": lambda m: _processing_then(m, httpx.Response(500, json={"detail": UPSTREAM})),
    "output-503": lambda m: _succeeded_with(m, OUTPUT, httpx.Response(503, text=UPSTREAM)),
}
TIMEOUTS = {
    "create": lambda m: m.post(f"{REPLICATE}/v1/predictions").mock(side_effect=httpx.ReadTimeout(UPSTREAM)),
    "poll": lambda m: _processing_then(m, httpx.ReadTimeout(UPSTREAM)),
    "output": lambda m: _succeeded_with(m, OUTPUT, httpx.ReadTimeout(UPSTREAM)),
}
MALFORMED = {
    "not-json": lambda m: m.post(f"{REPLICATE}/v1/predictions").respond(201, text=f"<html>{UPSTREAM}</html>"),
    "not-a-prediction": lambda m: m.post(f"{REPLICATE}/v1/predictions").respond(201, json=[UPSTREAM]),
    "no-output": lambda m: _succeeded_with(m, None),
    "output-not-a-url": lambda m: _succeeded_with(m, {"weird": UPSTREAM}),
    "output-not-an-image": lambda m: _succeeded_with(m, OUTPUT, httpx.Response(
        200, content=f"<html>{UPSTREAM}</html>".encode(), headers={"content-type": "image/png"})),
}


@pytest.mark.parametrize("wire", FIVE_XX.values(), ids=FIVE_XX.keys())
def test_replicate_5xx_is_502_and_gives_back(invoke, provider, books, wire):
    reply = _generate(invoke, provider, wire)

    error = assert_error(reply, 502, "provider_error")
    assert error["details"]["retryable"] is True
    books.untouched()


@pytest.mark.parametrize("wire", TIMEOUTS.values(), ids=TIMEOUTS.keys())
def test_replicate_timing_out_is_502_and_gives_back(invoke, provider, books, wire):
    reply = _generate(invoke, provider, wire)

    assert_error(reply, 502, "provider_error")
    books.untouched()


@pytest.mark.parametrize("wire", MALFORMED.values(), ids=MALFORMED.keys())
def test_replicate_malformed_output_is_502_and_gives_back(invoke, provider, books, wire):
    reply = _generate(invoke, provider, wire)

    assert_error(reply, 502, "provider_error")
    books.untouched()
    assert books.given_back_markers() == 1
