"""The local gateway's pieces (routing, static files, the listening socket, its own answers) with stand-in
functions: no moto, no template handlers."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.gateway import Gateway, Router, serve
from local.template import HttpRoute
from tests.expectations import security_header_problems

USAGE = HttpRoute("UsageFunction", "GET", "/api/ai-image/usage", Path("."), "app.handler")
PROXY = HttpRoute("ImageProxyFunction", "GET", "/r2-ai/{key+}", Path("."), "app.handler")
BOOM = HttpRoute("BoomFunction", "GET", "/boom", Path("."), "app.handler")
HUGE = HttpRoute("HugeFunction", "GET", "/huge", Path("."), "app.handler")


def test_the_router_matches_the_path_it_is_given():
    router = Router([USAGE, PROXY])

    assert router.match("GET", "/api/ai-image/usage") == (USAGE, {})
    assert router.match("GET", "/api/ai-image/%75sage") is None  # already decoded: a literal "%75sage"


def test_path_parameters_are_not_decoded_a_second_time():
    # The gateway hands the router the path decoded once ("%2525" on the wire arrives as "%25").
    assert Router([PROXY]).match("GET", "/r2-ai/a%25b/c%2Fd") == (PROXY, {"key": "a%25b/c%2Fd"})


def test_the_router_ranks_routes_as_api_gateway_does():
    """Literal paths first, then fewer variables (greedy ones last), then an exact method over ANY; `$default` only
    when nothing else matches. The order routes are given in does not matter."""
    literal = HttpRoute("Literal", "GET", "/items/special", Path("."), "app.handler")
    one_variable = HttpRoute("OneVariable", "GET", "/items/{id}", Path("."), "app.handler")
    any_variable = HttpRoute("AnyVariable", "ANY", "/items/{id}", Path("."), "app.handler")
    two_variables = HttpRoute("TwoVariables", "GET", "/{kind}/{id}", Path("."), "app.handler")
    greedy = HttpRoute("Greedy", "GET", "/{path+}", Path("."), "app.handler")
    default = HttpRoute("Default", "ANY", "$default", Path("."), "app.handler")
    router = Router([default, greedy, two_variables, any_variable, one_variable, literal])

    assert router.match("GET", "/items/special") == (literal, {})
    assert router.match("GET", "/items/7") == (one_variable, {"id": "7"})
    assert router.match("PUT", "/items/7") == (any_variable, {"id": "7"})
    assert router.match("GET", "/things/7") == (two_variables, {"kind": "things", "id": "7"})
    assert router.match("GET", "/a/b/c") == (greedy, {"path": "a/b/c"})
    assert router.match("PUT", "/a/b/c") == (default, {})


def test_static_files_are_looked_up_by_the_decoded_path_as_given(tmp_path):
    (tmp_path / "x%41.txt").write_text("literal percent")
    gateway = Gateway([], {}, tmp_path)

    assert gateway.static_file("GET", "/x%41.txt") == tmp_path / "x%41.txt"
    assert gateway.static_file("GET", "/xA.txt") is None


@pytest.mark.parametrize("path", ["/\x00", "/a\x00b/index.html", "/" + "a" * 5000])
def test_a_path_the_filesystem_cannot_resolve_is_not_a_static_file(tmp_path, path):
    assert Gateway([], {}, tmp_path).static_file("GET", path) is None


def test_the_listening_socket_holds_a_hundred_pending_connections():
    # Nobody accepts: every connection that completes waits in the kernel's backlog. With socketserver's
    # default of 5 the seventh SYN is dropped and its connect stalls for the retransmit (> 0.5 s).
    server = serve(Gateway([], {}, None), "127.0.0.1", 0, quiet=True)
    connections: list[socket.socket] = []
    try:
        assert server.request_queue_size >= 100
        for _ in range(100):
            connections.append(socket.create_connection(server.server_address, timeout=0.5))
    finally:
        for connection in connections:
            connection.close()
        server.server_close()


@pytest.fixture
def gateway() -> Iterator[tuple[tuple[str, int], list[dict]]]:
    """A gateway on a free port whose functions record their events; /boom raises, /huge is too large."""
    events: list[dict] = []

    def record(event, context):
        events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Frame-Options": "SAMEORIGIN"},
                "body": json.dumps({"pathParameters": event.get("pathParameters")})}

    def boom(event, context):
        raise RuntimeError("the function failed")

    def huge(event, context):
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}

    handlers = {"UsageFunction": record, "ImageProxyFunction": record, "BoomFunction": boom, "HugeFunction": huge}
    server = serve(Gateway([USAGE, PROXY, BOOM, HUGE], handlers, None), "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address, events
    finally:
        server.shutdown()
        server.server_close()


def exchange(address: tuple[str, int], raw: bytes) -> http.client.HTTPResponse:
    """Bytes as written (no client normalises them) and the answer, read in full."""
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(raw)
        response = http.client.HTTPResponse(connection)
        response.begin()
        response.body = response.read()
        return response


def request(address: tuple[str, int], method: str, target: str) -> http.client.HTTPResponse:
    return exchange(address, f"{method} {target} HTTP/1.1\r\nHost: local\r\n\r\n".encode())


def test_the_event_carries_the_path_decoded_once(gateway):
    address, events = gateway

    usage = request(address, "GET", "/api/ai-image/%75sage")
    proxy = request(address, "GET", "/%72%32-ai/a%2525b")

    assert usage.status == 200 and proxy.status == 200
    assert [(e["rawPath"], e["requestContext"]["http"]["path"]) for e in events] == [
        ("/api/ai-image/usage", "/api/ai-image/usage"), ("/r2-ai/a%25b", "/r2-ai/a%25b")]
    assert events[1]["routeKey"] == "GET /r2-ai/{key+}"
    assert events[1]["pathParameters"] == {"key": "a%25b"}


def test_a_header_a_function_set_is_kept_and_the_missing_ones_are_added(gateway):
    response = request(gateway[0], "GET", "/api/ai-image/usage")

    assert response.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("path", "status"), [("/nothing", 404), ("/boom", 500), ("/huge", 502)])
def test_the_gateways_own_answers_carry_the_security_headers(gateway, path, status):
    response = request(gateway[0], "GET", path)

    assert response.status == status
    assert security_header_problems(response.headers.get) == []


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("TRACE", "/", "GET, HEAD"), ("FOO", "/api/ai-image/usage", "GET"), ("CONNECT", "/r2-ai/x", "GET, HEAD"),
    ("get", "/api/ai-image/usage", "GET"),  # methods are case-sensitive: "get" is not GET
])
def test_a_method_the_api_never_serves_is_405(gateway, method, path, allow):
    response = request(gateway[0], method, path)

    assert response.status == 405
    assert response.headers["Allow"] == allow
    assert json.loads(response.body) == {"success": False,
                                         "error": {"type": "method_not_allowed", "message": "Method Not Allowed"}}
    assert security_header_problems(response.headers.get) == []
    assert gateway[1] == []


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: local\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: local\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
])
def test_the_standard_librarys_refusals_are_envelopes_with_the_headers(gateway, raw, status):
    response = exchange(gateway[0], raw)

    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Connection"] == "close"
    error = json.loads(response.body)["error"]
    assert error["type"] == ("server_error" if status >= 500 else "validation_error") and error["message"]
    assert security_header_problems(response.headers.get) == []


@pytest.mark.parametrize(("header", "claimed", "seen"), [
    (None, "10.0.0.7", "127.0.0.1"),  # not configured: the header is the client's word, ignored
    ("X-Client-IP", "10.0.0.7", "10.0.0.7"),
    ("X-Client-IP", " 2001:db8::1 ", "2001:db8::1"),
    ("X-Client-IP", "not an address", "127.0.0.1"),
    ("X-Client-IP", None, "127.0.0.1"),
])
def test_the_client_address_is_the_peers_unless_a_configured_header_names_one(header, claimed, seen):
    gateway = Gateway([USAGE], {}, None, client_ip_header=header)

    assert gateway.client_ip("127.0.0.1", claimed) == seen


def test_the_local_page_policy_adds_only_the_local_s3_origin_for_uploads_and_redirected_images():
    from enhancer.http.security import HTML_CONTENT_SECURITY_POLICY

    policy = Gateway([USAGE], {}, None, upload_origin="http://127.0.0.1:4566").html_policy
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    deployed = dict(d.strip().split(" ", 1) for d in HTML_CONTENT_SECURITY_POLICY.split(";"))

    assert directives["connect-src"] == deployed["connect-src"] + " http://127.0.0.1:4566"
    assert directives["img-src"] == deployed["img-src"] + " http://127.0.0.1:4566"
    assert {k: v for k, v in directives.items() if k not in ("connect-src", "img-src")} \
        == {k: v for k, v in deployed.items() if k not in ("connect-src", "img-src")}
