"""The API's paths and the methods each serves: the one list template.yaml and the 405 answers follow."""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import unquote

API_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/ai-image/generate": ("POST",),
    "/api/ai-image/usage": ("GET",),
    "/api/ai-image/models": ("GET",),
    "/api/ai-image/uploads": ("POST",),
    "/r2-ai/{key+}": ("GET", "HEAD"),
}


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(r"[^/].*")  # a greedy path parameter: one or more segments
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(r"[^/]+")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts), re.DOTALL)


def decode_path(raw_path: str) -> str:
    """A request path as API Gateway's HTTP API routes it and hands it on (`rawPath`): percent-decoded once.
    Everything that matches paths (the local gateway, the fallback) matches this form, so an encoded spelling
    of a served path reaches the route that serves it."""
    return unquote(raw_path, errors="replace")


def match_route(path: str) -> str | None:
    """The route template a path belongs to, the way API Gateway matches it, or None."""
    for template in API_ROUTES:
        if _pattern(template).fullmatch(path):
            return template
    return None


def allowed_methods(path: str) -> tuple[str, ...] | None:
    template = match_route(path)
    return API_ROUTES[template] if template else None
