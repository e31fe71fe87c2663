"""Every request no route serves: 405 with `Allow` on a known API path, else a 404 envelope.

API Gateway answers unrouted methods with its own 404; the template sends `ANY <path>` and `$default`
here instead, so the deployed API answers like the local stack does.
"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain.errors import MethodNotAllowed, NotFound
from enhancer.http.requests import routed_path
from enhancer.http.route_table import allowed_methods

router = APIRouter()
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/{path:path}", methods=EVERY_METHOD)
async def not_served(request: Request) -> Response:
    allowed = allowed_methods(routed_path(request))
    if allowed and request.method not in allowed:
        raise MethodNotAllowed(allowed)
    raise NotFound("Not found")
