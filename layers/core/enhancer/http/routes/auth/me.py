"""GET /api/auth/me — the signed-in user (id, email, plan), or 401."""

from fastapi import APIRouter
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.rate_limit import rate_limit

router = APIRouter()


@router.get("/api/auth/me", dependencies=[rate_limit(rate_limits.API)])
async def get_me(user: SignedInUser) -> Response:
    return success({"user": {"id": user.id, "email": user.email, "plan": user.plan.value}})
