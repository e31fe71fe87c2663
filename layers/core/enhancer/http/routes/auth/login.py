"""GET /api/auth/login?returnTo= — 302 to Cognito's managed login. The attempt (state, nonce, PKCE verifier and
the same-site path to come back to) rides in a short-lived, signed, HttpOnly cookie until the callback."""

import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.domain.auth import LOGIN_COOKIE, LOGIN_SECONDS
from enhancer.http.auth import sign_in_provider
from enhancer.http.cookies import cookie_header, queue_cookie
from enhancer.http.rate_limit import rate_limit_by_ip
from enhancer.services.auth import begin_login

router = APIRouter()


# By IP alone: who the caller is needs the database, which this function does not mount.
@router.get("/api/auth/login", dependencies=[rate_limit_by_ip(rate_limits.API)])
async def get_login(request: Request) -> Response:
    url, attempt = begin_login(request.query_params.get("returnTo"), sign_in_provider(request),
                               bootstrap.owner_secret(), time.time())
    # Lax: the callback is a top-level navigation back from Cognito's domain, which Lax cookies accompany.
    queue_cookie(request.scope, cookie_header(LOGIN_COOKIE, attempt, max_age=LOGIN_SECONDS,
                                              secure=request.url.scheme == "https"))
    return RedirectResponse(url, status_code=302)
