"""Path → route template matching, the way API Gateway matches, for the 405 answers."""

from __future__ import annotations

import pytest

from enhancer.http.route_table import allowed_methods, decode_path, match_route

USAGE = "/api/ai-image/usage"
PROXY = "/r2-ai/{key+}"


def test_exact_route_matches() -> None:
    assert match_route(USAGE) == USAGE
    assert allowed_methods(USAGE) == ("GET",)


@pytest.mark.parametrize("path", [
    "/r2-ai/a",
    "/r2-ai/x.png",
    "/r2-ai/ai-enhancer/uploads/user/u1/6c1e2a3b.png",
    "/r2-ai/a/b/c/d/e",
    "/r2-ai/a/",
])
def test_greedy_parameter_matches_one_or_more_segments(path: str) -> None:
    assert match_route(path) == PROXY
    assert allowed_methods(path) == ("GET", "HEAD")


@pytest.mark.parametrize("path", [
    pytest.param("/r2-ai/", id="greedy-empty"),
    pytest.param("/r2-ai", id="greedy-missing"),
    pytest.param("/r2-aix/a", id="prefix-lookalike"),
    pytest.param("/x/r2-ai/a", id="nested-proxy"),
    pytest.param("/api/ai-image/usage/", id="trailing-slash"),
    pytest.param("/api/ai-image/usage/extra", id="extra-segment"),
    pytest.param("/api/ai-image/usagex", id="suffix"),
    pytest.param("/xapi/ai-image/usage", id="prefix"),
    pytest.param("/API/ai-image/usage", id="case"),
    pytest.param("api/ai-image/usage", id="no-leading-slash"),
    pytest.param("/api/ai-image", id="parent"),
    pytest.param("/api/ai-image/usage\n", id="trailing-newline"),
    pytest.param("/", id="root"),
    pytest.param("", id="empty"),
    pytest.param("/definitely/not/a/route", id="unknown"),
])
def test_unknown_paths_match_nothing(path: str) -> None:
    assert match_route(path) is None
    assert allowed_methods(path) is None


@pytest.mark.parametrize(("raw", "decoded"), [
    ("/api/ai-image/%75sage", "/api/ai-image/usage"),
    ("/%72%32-ai/a%2Fb.png", "/r2-ai/a/b.png"),
    ("/api/ai-image/%2575sage", "/api/ai-image/%75sage"),  # once, never twice
    ("/%00", "/\x00"),
    ("/a%ffb", "/a\ufffdb"),  # invalid UTF-8 cannot be matched, and does not raise
    ("/plain+path", "/plain+path"),  # a plus is not a space in a path
])
def test_paths_are_decoded_once_as_api_gateway_does(raw, decoded):
    assert decode_path(raw) == decoded
