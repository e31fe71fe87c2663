"""GET /_local/floor — the load test's floor (load/, `make load`): an empty route through the same gateway and the
same handler pipeline as every function (Powertools, Mangum, FastAPI, the request pipeline), and nothing else, so
each route's latency can be read as a ratio against it. Local stack only: local/__main__.py adds it; template.yaml
never will."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from enhancer.entrypoints import http_handler
from enhancer.http.envelope import success

FLOOR_PATH = "/_local/floor"

router = APIRouter()


@router.get(FLOOR_PATH)
async def floor() -> Response:
    return success({"floor": True})


handler = http_handler(router)
