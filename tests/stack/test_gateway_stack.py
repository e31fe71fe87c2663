"""The local gateway as API Gateway behaves, over raw HTTP against the running local stack: paths decoded once,
every method answered by the API, every answer with the security headers, bursts of clients all served."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.expectations import security_header_problems

METHOD_NOT_ALLOWED = {"success": False, "error": {"type": "method_not_allowed", "message": "Method Not Allowed"}}


def exchange(stack: dict, raw: bytes) -> http.client.HTTPResponse:
    """Bytes exactly as written (httpx would normalise the path and refuse some methods) and the answer."""
    address = urlsplit(stack["url"])
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(raw)
        response = http.client.HTTPResponse(connection)
        response.begin()
        response.body = response.read()
        return response


def request(stack: dict, method: str, target: str, *headers: str) -> http.client.HTTPResponse:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {urlsplit(stack['url']).netloc}", *headers]
    return exchange(stack, ("\r\n".join(lines) + "\r\n\r\n").encode())


def assert_security_headers(response: http.client.HTTPResponse) -> None:
    assert security_header_problems(response.headers.get) == [], response.headers


def test_an_encoded_spelling_of_a_served_path_reaches_its_function(stack):
    response = request(stack, "GET", "/api/ai-image/%75sage")

    assert response.status == 200, response.body
    assert json.loads(response.body)["data"]["ownerType"] == "guest"
    assert_security_headers(response)


def test_an_encoded_prefix_reaches_the_image_proxy(stack):
    response = request(stack, "GET", "/%72%32-ai/ai-enhancer/uploads/guest/x/y.png")

    assert response.status == 404, response.body  # the proxy's "no such object", not the fallback's 405
    assert json.loads(response.body)["error"] == {"type": "not_found", "message": "File not found"}
    assert_security_headers(response)


def test_a_double_encoded_path_is_decoded_only_once(stack):
    response = request(stack, "GET", "/api/ai-image/%2575sage")  # once: the literal path ".../%75sage"

    assert response.status == 404, response.body
    assert json.loads(response.body)["error"]["type"] == "not_found"
    assert_security_headers(response)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO"])
@pytest.mark.parametrize(("path", "allow"), [("/", "GET, HEAD"), ("/api/ai-image/usage", "GET"),
                                             ("/r2-ai/x", "GET, HEAD")])
def test_a_method_the_api_never_serves_is_405_with_allow(stack, method, path, allow):
    response = request(stack, method, path)

    assert response.status == 405, response.body
    assert response.headers["Allow"] == allow
    assert json.loads(response.body) == METHOD_NOT_ALLOWED
    assert_security_headers(response)


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: local\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: local\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/x\r\n\r\n", 400),
])
def test_a_request_the_server_cannot_read_gets_an_envelope_with_the_headers(stack, raw, status):
    response = exchange(stack, raw)

    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Connection"] == "close"
    assert json.loads(response.body)["error"]["type"] == "validation_error"
    assert_security_headers(response)


def test_the_readiness_answer_has_the_headers(stack):
    response = request(stack, "GET", "/_local/ready")

    assert response.status == 200 and response.body == b"ready"
    assert_security_headers(response)


def test_a_nul_byte_in_the_path_is_a_404_envelope(stack):
    response = request(stack, "GET", "/%00")

    assert response.status == 404, response.body
    assert json.loads(response.body)["error"]["type"] == "not_found"
    assert_security_headers(response)


def test_a_hundred_parallel_clients_are_all_answered(stack):
    clients = 100
    start = threading.Barrier(clients, timeout=30)

    def one(index: int) -> int:
        # Each its own connection, from its own loopback address: cookie-less requests count in their IP's
        # anonymous window, which 127.0.0.1 shares with the other tests. A connect that needed a SYN
        # retransmit (its SYN dropped by a full backlog) takes over a second and fails here.
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{index + 1}")
        with httpx.Client(base_url=stack["url"], transport=transport, timeout=httpx.Timeout(60, connect=0.9)) as client:
            start.wait()
            return client.get("/api/ai-image/usage").status_code

    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(one, range(clients)))

    assert set(statuses) <= {200, 429}, statuses  # 429: the api limiter, 30 a minute per client
