"""POST /api/dev/login — development-only sign-in. Not in template.yaml; refused unless ENVIRONMENT=development."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.config import get_settings
from enhancer.domain.errors import NotFound
from enhancer.domain.plans import Plan
from enhancer.entrypoints import http_handler
from enhancer.http.cookies import SESSION_MAX_AGE, queue_session_cookies
from enhancer.http.envelope import success

router = APIRouter()


class DevLogin(BaseModel):
    email: str = Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}$")
    plan: Plan = Plan.FREE


@router.post("/api/dev/login")
async def dev_login(body: DevLogin, request: Request) -> Response:
    if not get_settings().is_development:
        raise NotFound("Not found")
    accounts = bootstrap.accounts()
    account = accounts.upsert_user(body.email, body.plan.value)
    session_id = accounts.create_session(account.user_id, int(time.time()) + SESSION_MAX_AGE)
    queue_session_cookies(request.scope, session_id, secure=request.url.scheme == "https")
    return success({"user": {"id": account.user_id, "email": account.email, "plan": account.user_plan}})


handler = http_handler(router)
