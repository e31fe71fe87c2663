"""Origin check and CSRF double submit as pure functions over request headers (docs/architecture.md §3)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from enhancer.http.security import csrf_problem, origin_problem

HOST = "app.example.com"
MISSING = "Missing Origin/Referer header"
NOT_ALLOWED = "Origin not allowed"


def check(headers: dict[str, str], *, scheme: str = "https", allowed: tuple[str, ...] = ()) -> str | None:
    return origin_problem(scheme=scheme, headers=Headers(headers=headers), allowed_origins=allowed)


@pytest.mark.parametrize("headers", [{"host": HOST}, {}, {"host": HOST, "origin": ""}, {"host": HOST, "referer": ""}])
def test_missing_origin_and_referer_is_refused(headers: dict[str, str]) -> None:
    assert check(headers) == MISSING


@pytest.mark.parametrize("origin", ["https://app.example.com", "HTTPS://APP.EXAMPLE.COM", "https://app.example.com/"])
def test_same_origin_is_accepted(origin: str) -> None:
    assert check({"host": HOST, "origin": origin}) is None


def test_same_origin_with_a_port_is_accepted() -> None:
    assert check({"host": "127.0.0.1:8787", "origin": "http://127.0.0.1:8787"}, scheme="http") is None


@pytest.mark.parametrize("referer", ["https://app.example.com/", "https://app.example.com/editor?x=1#y"])
def test_referer_is_the_fallback_when_origin_is_absent(referer: str) -> None:
    assert check({"host": HOST, "referer": referer}) is None


@pytest.mark.parametrize("referer", ["https://evil.example.net/page", "http://app.example.com/page"])
def test_foreign_referer_is_refused(referer: str) -> None:
    assert check({"host": HOST, "referer": referer}) == NOT_ALLOWED


@pytest.mark.parametrize("origin", [
    "https://evil.example.net",
    "http://app.example.com",  # scheme differs
    "https://app.example.com:8443",  # port differs
    "https://app.example.com.evil.net",
    "https://evilapp.example.com",
    "https://app.example.com@evil.net",
    "https://example.com",
])
def test_foreign_origin_is_refused(origin: str) -> None:
    assert check({"host": HOST, "origin": origin}) == NOT_ALLOWED


def test_origin_wins_over_a_same_origin_referer() -> None:
    headers = {"host": HOST, "origin": "https://evil.example.net", "referer": "https://app.example.com/"}
    assert check(headers) == NOT_ALLOWED


def test_origin_from_the_allowed_list_is_accepted() -> None:
    allowed = ("https://www.example.com", "http://localhost:3000")

    assert check({"host": HOST, "origin": "https://www.example.com"}, allowed=allowed) is None
    assert check({"host": HOST, "origin": "http://localhost:3000"}, allowed=allowed) is None
    assert check({"host": HOST, "referer": "http://localhost:3000/app"}, allowed=allowed) is None
    assert check({"host": HOST, "origin": "http://localhost:3001"}, allowed=allowed) == NOT_ALLOWED
    assert check({"host": HOST, "origin": "https://localhost:3000"}, allowed=allowed) == NOT_ALLOWED


def test_without_a_host_only_allowed_origins_pass() -> None:
    assert check({"origin": "https://app.example.com"}) == NOT_ALLOWED
    assert check({"origin": "https://app.example.com"}, allowed=("https://app.example.com",)) is None


@pytest.mark.parametrize("origin", ["null", "file://", "chrome-extension://abcdef", "javascript:alert(1)"])
def test_opaque_or_non_http_origin_alone_is_refused(origin: str) -> None:
    assert check({"host": HOST, "origin": origin}) is not None


@pytest.mark.parametrize("origin", ["null", "file://"])
def test_opaque_origin_is_refused_even_with_a_same_origin_referer(origin: str) -> None:
    # docs/architecture.md §3: `Origin` (else `Referer`) — an Origin header that is present decides; a sandboxed or
    # privacy-redirected request says `Origin: null` and must not pass on the strength of its Referer.
    headers = {"host": HOST, "origin": origin, "referer": "https://app.example.com/page"}
    assert check(headers) is not None


# --- CSRF double submit ------------------------------------------------------------------------

TOKEN = "b1f0c0b5b6f14f1e9f6c7d8e9a0b1c2d"


@pytest.mark.parametrize("header_name", ["x-csrf-token", "X-CSRF-Token", "X-Csrf-Token"])
def test_equal_header_and_cookie_pass(header_name: str) -> None:
    assert csrf_problem(Headers(headers={header_name: TOKEN}), {"csrf_token": TOKEN}) is None


@pytest.mark.parametrize("headers, cookies", [
    pytest.param({"x-csrf-token": TOKEN}, {"csrf_token": TOKEN[:-1] + "e"}, id="mismatch"),
    pytest.param({"x-csrf-token": TOKEN[:-1]}, {"csrf_token": TOKEN}, id="prefix"),
    pytest.param({"x-csrf-token": TOKEN + "0"}, {"csrf_token": TOKEN}, id="longer"),
    pytest.param({"x-csrf-token": TOKEN.upper()}, {"csrf_token": TOKEN}, id="case"),
    pytest.param({}, {"csrf_token": TOKEN}, id="missing-header"),
    pytest.param({"x-csrf-token": TOKEN}, {}, id="missing-cookie"),
    pytest.param({"x-csrf-token": TOKEN}, {"csrf": TOKEN}, id="wrong-cookie-name"),
    pytest.param({"csrf-token": TOKEN}, {"csrf_token": TOKEN}, id="wrong-header-name"),
    pytest.param({"x-csrf-token": ""}, {"csrf_token": ""}, id="both-empty"),
    pytest.param({}, {}, id="both-missing"),
])
def test_invalid_csrf_is_refused(headers: dict[str, str], cookies: dict[str, str]) -> None:
    assert csrf_problem(Headers(headers=headers), cookies) == "Invalid CSRF token"


def test_an_errors_retry_time_and_allowed_methods_become_its_headers():
    from enhancer.domain.errors import MethodNotAllowed, ProviderTimedOut, RateLimited, ValidationFailed
    from enhancer.http.envelope import failure

    timed_out, limited = failure(ProviderTimedOut()), failure(RateLimited(17))
    not_allowed, plain = failure(MethodNotAllowed(("GET", "HEAD"))), failure(ValidationFailed("no"))

    assert (timed_out.status_code, timed_out.headers["retry-after"]) == (502, "5")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "17")
    assert (not_allowed.status_code, not_allowed.headers["allow"]) == (405, "GET, HEAD")
    assert plain.status_code == 400 and "retry-after" not in plain.headers and "allow" not in plain.headers
