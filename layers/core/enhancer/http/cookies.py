"""Cookies a request wants set; the pipeline adds them to whatever response goes out, errors included."""

from __future__ import annotations

from collections.abc import MutableMapping
from http.cookies import SimpleCookie
from typing import Any

_PENDING = "enhancer.set_cookies"

GUEST_COOKIE = "guest_id"
GUEST_COOKIE_MAX_AGE = 180 * 24 * 3600
SESSION_COOKIES = ("__Host-session", "session_id")
SESSION_MAX_AGE = 30 * 24 * 3600
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def cookie_header(name: str, value: str, *, max_age: int, secure: bool, same_site: str = "Lax",
                  http_only: bool = True) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["max-age"] = max_age
    morsel["samesite"] = same_site
    morsel["httponly"] = http_only
    morsel["secure"] = secure
    return morsel.OutputString()


def queue_cookie(scope: MutableMapping[str, Any], header_value: str) -> None:
    scope.setdefault("state", {}).setdefault(_PENDING, []).append(header_value)


def queued_cookies(scope: MutableMapping[str, Any]) -> list[str]:
    pending: list[str] = scope.get("state", {}).get(_PENDING, [])
    return pending


def queue_session_cookies(scope: MutableMapping[str, Any], session_id: str, *, secure: bool) -> None:
    """The session cookie: `__Host-session` on https (Strict, Secure, no Domain), and `session_id` (Lax) for the
    top-level navigations a Strict cookie is not sent on, and for http in development."""
    host_cookie, plain_cookie = SESSION_COOKIES
    if secure:
        queue_cookie(scope, cookie_header(host_cookie, session_id, max_age=SESSION_MAX_AGE, secure=True,
                                          same_site="Strict"))
    queue_cookie(scope, cookie_header(plain_cookie, session_id, max_age=SESSION_MAX_AGE, secure=secure))


def queue_cookie_removal(scope: MutableMapping[str, Any], name: str, *, secure: bool) -> None:
    queue_cookie(scope, cookie_header(name, "", max_age=0, secure=secure or name.startswith("__Host-")))
