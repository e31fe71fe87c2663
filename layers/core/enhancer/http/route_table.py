"""The API's paths and the methods each serves: the one list template.yaml and the 405 answers follow, and how
API Gateway's HTTP API matches a path to a route template (also the local gateway's matching).

The fallback function reads this module at cold start, so it stays pure and imports no route: the routers in
`http/routes/` declare the same paths and methods, and `tests/unit/test_unit_route_table.py` holds the two equal.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import unquote

from enhancer.domain.values import value_class

API_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/ai-image/generate": ("POST",),
    "/api/ai-image/usage": ("GET",),
    "/api/ai-image/models": ("GET",),
    "/api/ai-image/uploads": ("POST",),
    "/api/ai-image/jobs": ("GET", "POST"),
    "/api/ai-image/jobs/{job_id}": ("GET", "DELETE"),
    "/api/ai-image/jobs/{job_id}/cancel": ("POST",),
    "/api/ai-image/webhooks/replicate": ("POST",),
    "/api/billing/stripe-webhook": ("POST",),
    "/api/billing/session": ("POST",),
    "/api/billing/credits": ("POST",),
    "/api/billing/portal": ("GET",),
    "/api/auth/login": ("GET",),
    "/api/auth/callback": ("GET",),
    "/api/auth/logout": ("POST",),
    "/api/auth/me": ("GET",),
    "/api/auth/account": ("DELETE",),
    "/api/keys": ("GET", "POST"),
    "/api/keys/{key_id}": ("DELETE",),
    "/r2-ai/{key+}": ("GET", "HEAD"),
}

# Compiled on first use (re caches it), not at import: most functions never match a path.
_VARIABLE = r"\{([A-Za-z0-9_]+)(\+?)\}"


@value_class
class PathTemplate:
    """A route's path template (`/r2-ai/{key+}`) compiled the way API Gateway matches it: `{name}` is one
    segment, a greedy `{name+}` one or more; everything else is literal (case and trailing slash included)."""

    template: str
    pattern: re.Pattern[str]
    variables: int  # `{name}` segments
    greedy: int  # `{name+}` segments

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters of a path already decoded (`decode_path`), or None when it is not this route's."""
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@cache
def path_template(template: str) -> PathTemplate:
    parts, variables, greedy = [], 0, 0
    for segment in template.strip("/").split("/"):
        variable = re.fullmatch(_VARIABLE, segment)
        if variable and variable.group(2):
            parts.append(f"(?P<{variable.group(1)}>[^/].*)")  # a greedy path parameter: one or more segments
            greedy += 1
        elif variable:
            parts.append(f"(?P<{variable.group(1)}>[^/]+)")
            variables += 1
        else:
            parts.append(re.escape(segment))
    return PathTemplate(template, re.compile("/" + "/".join(parts), re.DOTALL), variables, greedy)


def decode_path(raw_path: str) -> str:
    """A request path as API Gateway's HTTP API routes it and hands it on (`rawPath`): percent-decoded once.
    Everything that matches paths (the local gateway, the fallback) matches this form, so an encoded spelling
    of a served path reaches the route that serves it."""
    return unquote(raw_path, errors="replace")


def match_route(path: str) -> str | None:
    """The route template a path belongs to, the way API Gateway matches it, or None."""
    for template in API_ROUTES:
        if path_template(template).match(path) is not None:
            return template
    return None


def allowed_methods(path: str) -> tuple[str, ...] | None:
    template = match_route(path)
    return API_ROUTES[template] if template else None
