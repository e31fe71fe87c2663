"""GET/HEAD /r2-ai/{key+} — stored images through the API: public uploads, owner-only results."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from enhancer.config import get_settings
from enhancer.http import deps
from enhancer.http.identity import identify
from enhancer.services.image_proxy import authorize, read_image

router = APIRouter()
PREFIX = "/r2-ai/"


def _raw_key(request: Request) -> str:
    """The key exactly as sent: API Gateway's rawPath, undecoded, so encoded tricks stay visible."""
    event = request.scope.get("aws.event") or {}
    raw_path = event.get("rawPath") or request.scope.get("raw_path") or request.url.path
    if isinstance(raw_path, bytes):
        raw_path = raw_path.decode("latin-1")
    return raw_path[len(PREFIX):] if raw_path.startswith(PREFIX) else ""


@router.api_route(PREFIX + "{key:path}", methods=["GET", "HEAD"])
async def get_image(request: Request) -> Response:
    settings = get_settings()
    image = authorize(_raw_key(request), lambda: identify(request))
    reply = read_image(image, deps.image_store(), head_only=request.method == "HEAD",
                       if_none_match=request.headers.get("if-none-match"),
                       inline_max_bytes=settings.image_proxy_inline_max_bytes,
                       presign_seconds=settings.image_proxy_presign_seconds)
    if reply.location:
        return RedirectResponse(reply.location, status_code=reply.status, headers=reply.headers)
    return Response(content=reply.body, status_code=reply.status, headers=reply.headers)
