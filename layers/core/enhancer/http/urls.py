"""Absolute URLs: this site's origin (where Stripe and Cognito send the browser back), and stored images through
the image proxy of the API that was called."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

from fastapi import Request

from enhancer.config import get_settings

PROXY_PREFIX = "/r2-ai/"


def is_local_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]").lower() if host.count(":") <= 1 or host.startswith("[") else host
    if name in ("localhost", "") or name.endswith(".local") or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def image_url(request: Request, key: str) -> str:
    """Through the image proxy on this site's origin (BASE_URL) when it is set — behind CloudFront the page's
    origin, whose cookies the proxy needs — else on the host that was called: https everywhere but on local
    hosts, where the local stack speaks plain http."""
    configured = get_settings().base_url
    if configured:
        return f"{configured}{PROXY_PREFIX}{quote(key)}"
    host = request.headers.get("host", "")
    scheme = request.url.scheme if is_local_host(host) else "https"
    return f"{scheme}://{host}{PROXY_PREFIX}{quote(key)}"


def site_origin(request: Request, configured: str | None) -> str:
    """This site's origin: BASE_URL when set, else the origin the request came to."""
    return configured or f"{request.url.scheme}://{request.url.netloc}"
