"""Path → route template matching, the way API Gateway matches, for the 405 answers."""

from __future__ import annotations

import pytest

from enhancer.http.route_table import allowed_methods, match_route

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
