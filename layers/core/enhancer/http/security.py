"""Security headers on every response, and the origin + CSRF double-submit check for unsafe methods."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers

from enhancer.http.cookies import CSRF_COOKIE, CSRF_HEADER

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)

HTML_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "connect-src 'self' https:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(scheme: str, headers: Headers) -> str | None:
    host = headers.get("host")
    return f"{scheme}://{host}".lower() if host else None


def origin_problem(*, scheme: str, headers: Headers, allowed_origins: tuple[str, ...]) -> str | None:
    """Why an unsafe request is refused, or None when it may proceed."""
    if headers.get("origin", "").strip():
        # A present Origin decides alone: an opaque one (`null`, `file://`) never falls back to Referer.
        claimed = _origin_of(headers["origin"])
        if claimed is None:
            return "Origin not allowed"
    else:
        claimed = _origin_of(headers.get("referer"))
        if claimed is None:
            return "Missing Origin/Referer header"
    if claimed != request_origin(scheme, headers) and claimed not in allowed_origins:
        return "Origin not allowed"
    return None


def csrf_problem(headers: Headers, cookies: dict[str, str]) -> str | None:
    sent = headers.get(CSRF_HEADER, "")
    expected = cookies.get(CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return "Invalid CSRF token"
    return None
