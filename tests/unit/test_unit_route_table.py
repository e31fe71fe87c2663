"""Path → route template matching, the way API Gateway matches, for the 405 answers; the route table against the
routers that serve its paths."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from enhancer.http import routes
from enhancer.http.route_table import API_ROUTES, allowed_methods, decode_path, match_route, path_template

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


@pytest.mark.parametrize(("template", "path", "parameters"), [
    ("/api/ai-image/usage", "/api/ai-image/usage", {}),
    ("/api/ai-image/usage", "/api/ai-image/usage/", None),
    ("/r2-ai/{key+}", "/r2-ai/a/b/c.png", {"key": "a/b/c.png"}),
    ("/r2-ai/{key+}", "/r2-ai/a%2Fb", {"key": "a%2Fb"}),  # parameters are parts of the path, not decoded again
    ("/r2-ai/{key+}", "/r2-ai/", None),
    ("/users/{id}/images", "/users/u1/images", {"id": "u1"}),
    ("/users/{id}/images", "/users/u1/x/images", None),  # a plain variable is one segment
    ("/users/{id}/images", "/users//images", None),
    ("/a.b/{x}", "/aXb/1", None),  # literal segments are literal, regex characters included
])
def test_a_path_template_matches_as_api_gateway_does(template, path, parameters):
    assert path_template(template).match(path) == parameters


def test_a_path_template_counts_its_variables_for_the_gateways_ranking():
    assert (path_template("/api/ai-image/usage").variables, path_template("/api/ai-image/usage").greedy) == (0, 0)
    assert (path_template("/users/{id}/{name}").variables, path_template("/users/{id}/{name}").greedy) == (2, 0)
    assert (path_template("/r2-ai/{key+}").variables, path_template("/r2-ai/{key+}").greedy) == (0, 1)


def _route_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(routes.__path__, routes.__name__ + ".") if not m.ispkg)


def _served() -> dict[str, list[tuple[str, set[str]]]]:
    """Per route module but the fallback: the (API Gateway path template, methods) of each route its router serves."""
    served = {}
    for name in _route_modules():
        if name == "enhancer.http.routes.fallback":
            continue
        router = importlib.import_module(name).router
        assert isinstance(router, APIRouter), name
        served[name] = [(route.path.replace(":path}", "+}"), set(route.methods))
                        for route in router.routes if isinstance(route, APIRoute)]
        assert len(served[name]) == len(router.routes), name
    return served


def test_every_route_module_has_one_router_with_one_route():
    served = _served()

    # One module per route: a path whose methods do different things (jobs: list and create) has one per method.
    assert len(served) >= len(API_ROUTES)
    assert {name: len(found) for name, found in served.items()} == dict.fromkeys(served, 1)


def test_the_route_table_is_what_the_routers_serve():
    """API_ROUTES is kept by hand (the fallback reads it without importing the routes); this holds it equal to the
    paths and methods the routers declare."""
    served: dict[str, set[str]] = {}
    for found in _served().values():
        for path, methods in found:
            assert not served.get(path, set()) & methods, path  # no method served twice
            served.setdefault(path, set()).update(methods)

    assert served == {path: set(methods) for path, methods in API_ROUTES.items()}
    assert all(len(set(methods)) == len(methods) for methods in API_ROUTES.values())


def test_the_fallback_reads_the_table_without_importing_any_route():
    """Deriving API_ROUTES from the routers would load every route's dependencies into the fallback function."""
    probe = ("import json, sys; import enhancer.http.routes.fallback; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('enhancer.'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True,
                                       text=True).stdout)

    assert [m for m in loaded if m.startswith("enhancer.http.routes.")] == ["enhancer.http.routes.fallback"]
    assert [m for m in loaded if m.startswith(("enhancer.services", "enhancer.adapters", "enhancer.bootstrap"))] == []
