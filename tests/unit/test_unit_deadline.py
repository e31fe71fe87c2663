"""The generate deadline: counted from when API Gateway received the request, never past the invocation."""

from __future__ import annotations

import time

import pytest
from starlette.requests import Request

from enhancer.http.deadline import RESPONSE_MARGIN_SECONDS, request_deadline


class _Context:
    def __init__(self, remaining_seconds: float) -> None:
        self.remaining_ms = int(remaining_seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _request(received_seconds_ago: float | None = None, remaining_seconds: float | None = None,
             time_epoch: object = None) -> Request:
    scope: dict = {"type": "http", "method": "POST", "path": "/", "headers": []}
    if received_seconds_ago is not None:
        time_epoch = int((time.time() - received_seconds_ago) * 1000)
    if time_epoch is not None:
        scope["aws.event"] = {"requestContext": {"timeEpoch": time_epoch}}
    if remaining_seconds is not None:
        scope["aws.context"] = _Context(remaining_seconds)
    return Request(scope)


def _seconds_left(request: Request, budget: float = 25.0) -> float:
    return request_deadline(request, budget) - time.monotonic()


def test_without_gateway_or_lambda_the_whole_budget_is_left():
    assert _seconds_left(_request()) == pytest.approx(25.0, abs=0.1)


def test_time_since_the_gateway_received_the_request_is_spent():
    assert _seconds_left(_request(received_seconds_ago=6.0)) == pytest.approx(19.0, abs=0.2)


def test_the_invocation_ending_sooner_wins_with_a_margin_to_answer():
    left = _seconds_left(_request(received_seconds_ago=1.0, remaining_seconds=10.0))

    assert left == pytest.approx(10.0 - RESPONSE_MARGIN_SECONDS, abs=0.2)


@pytest.mark.parametrize("time_epoch", [1_000_000_000_000, "soon", True, -5, None])
def test_a_stale_or_malformed_timestamp_is_ignored(time_epoch):
    assert _seconds_left(_request(time_epoch=time_epoch)) == pytest.approx(25.0, abs=0.1)


def test_a_timestamp_from_the_future_is_ignored():
    assert _seconds_left(_request(received_seconds_ago=-5.0)) == pytest.approx(25.0, abs=0.1)


def test_no_time_left_is_zero_not_negative():
    assert _seconds_left(_request(received_seconds_ago=29.0)) == pytest.approx(0.0, abs=0.1)
