"""Which routes take a personal API key (`Authorization: Bearer <key>`), and the scopes that admit a key to each
(any one of them suffices): the one list both the pipeline (which refuses a key elsewhere, before any work) and
the identity dependency (which checks the key's scopes) read. Pure, like `route_table`, since every function's
pipeline imports it. `tests/unit/test_unit_route_table.py` holds every entry to a route API_ROUTES serves."""

from __future__ import annotations

from enhancer.domain.api_keys import Scope
from enhancer.http.route_table import API_ROUTES, match_route

_ENHANCE = frozenset({Scope.ENHANCE})
_JOBS_READ = frozenset({Scope.JOBS_READ})

KEY_ROUTES: dict[tuple[str, str], frozenset[Scope]] = {
    ("POST", "/api/ai-image/generate"): _ENHANCE,
    ("POST", "/api/ai-image/uploads"): _ENHANCE,
    ("POST", "/api/ai-image/jobs"): _ENHANCE,
    ("POST", "/api/ai-image/jobs/{job_id}/cancel"): _ENHANCE,
    ("DELETE", "/api/ai-image/jobs/{job_id}"): _ENHANCE,
    ("GET", "/api/ai-image/jobs"): _JOBS_READ,
    ("GET", "/api/ai-image/jobs/{job_id}"): _JOBS_READ,
    ("GET", "/api/ai-image/usage"): frozenset(Scope),
    # Public routes, so a client that sends its key on every call is not refused there; a result image is its
    # owner's alone, and the key makes the caller that owner.
    ("GET", "/api/ai-image/models"): frozenset(Scope),
    ("GET", "/r2-ai/{key+}"): frozenset(Scope),
    ("HEAD", "/r2-ai/{key+}"): frozenset(Scope),
}

NOT_ACCEPTED = "API keys are not accepted here"


def key_scopes(method: str, path: str) -> frozenset[Scope] | None:
    """The scopes that admit a key to `method` on `path` (decoded, `rawPath`); None where keys are not taken."""
    template = match_route(path)
    return KEY_ROUTES.get((method.upper(), template)) if template else None


def refuses_key(method: str, path: str) -> bool:
    """Whether a request with a key is to be refused: a route this API serves that does not take keys. An unknown
    path or method is left to the fallback's 404 / 405, as without a key."""
    template = match_route(path)
    return template is not None and method.upper() in API_ROUTES[template] and key_scopes(method, path) is None
