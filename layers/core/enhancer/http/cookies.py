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
