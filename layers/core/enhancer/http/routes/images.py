"""GET/HEAD /r2-ai/{key+} — stored images through the API: public uploads, owner-only results."""

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from enhancer.http.dependencies import ImageStoreDep, SettingsDep
from enhancer.http.identity import identify
from enhancer.http.requests import routed_path
from enhancer.services.image_proxy import authorize, read_image

router = APIRouter()
PREFIX = "/r2-ai/"


def _key(request: Request) -> str:
    path = routed_path(request)
    return path[len(PREFIX):] if path.startswith(PREFIX) else ""


@router.api_route(PREFIX + "{key:path}", methods=["GET", "HEAD"])
async def get_image(request: Request, store: ImageStoreDep, settings: SettingsDep) -> Response:
    image = authorize(_key(request), lambda: identify(request), store)
    reply = read_image(image, store, head_only=request.method == "HEAD",
                       if_none_match=request.headers.get("if-none-match"),
                       inline_max_bytes=settings.image_proxy_inline_max_bytes,
                       presign_seconds=settings.image_proxy_presign_seconds)
    if reply.location:
        return RedirectResponse(reply.location, status_code=reply.status, headers=reply.headers)
    return Response(content=reply.body, status_code=reply.status, headers=reply.headers)
