"""DELETE /api/auth/account — the signed-in user's account removed: their subscriptions canceled at period end,
their Cognito user, images, counters, credit packs, jobs and sessions (services/account.py); answers what was
removed and clears the session cookies. Origin + CSRF, as every unsafe method."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.http.cookies import SESSION_COOKIES, queue_cookie_removal
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.rate_limit import rate_limit
from enhancer.http.urls import site_origin
from enhancer.services.account import delete_account

router = APIRouter()


@router.delete("/api/auth/account", dependencies=[rate_limit(rate_limits.SENSITIVE_ACTION)])
async def delete_own_account(request: Request, user: SignedInUser) -> Response:
    removed = delete_account(user.id, bootstrap.account_deps(site_origin(request, None)))
    for name in SESSION_COOKIES:
        if name in request.cookies:
            queue_cookie_removal(request.scope, name, secure=request.url.scheme == "https")
    return success({"deleted": True, "removed": removed})
