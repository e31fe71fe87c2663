"""POST /api/auth/logout — the browser's sessions end now and their cookies are cleared; answers the managed
login's sign-out URL (`logoutUrl`, null where sign-in is not configured) for the page to visit, which ends the
Cognito session too. Idempotent: signed out already, it answers the same."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.config import get_auth_settings
from enhancer.http.auth import origin, sign_in_provider
from enhancer.http.cookies import SESSION_COOKIES, queue_cookie_removal
from enhancer.http.envelope import success
from enhancer.services.auth import sign_out

router = APIRouter()


@router.post("/api/auth/logout")
async def post_logout(request: Request) -> Response:
    ended = sign_out([request.cookies.get(name, "") for name in SESSION_COOKIES], bootstrap.accounts())
    secure = request.url.scheme == "https"
    for name in SESSION_COOKIES:
        if name in request.cookies:
            queue_cookie_removal(request.scope, name, secure=secure)
    logout_url = sign_in_provider(request).logout_url(f"{origin(request)}/") if get_auth_settings().configured \
        else None
    return success({"signedOut": True, "hadSession": ended, "logoutUrl": logout_url})
