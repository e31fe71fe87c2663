"""GET /api/auth/callback?code=&state= — where Cognito's managed login sends the browser back. A proven user
gets a 30-day session and goes to the path the login started from; anything else goes there with
`?auth=<reason>` (domain/auth.py REASONS) and no session — never an error page, never a 500."""

import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.domain.auth import LOGIN_COOKIE, SignInRefused
from enhancer.domain.errors import ServiceUnavailable
from enhancer.http.auth import origin, sign_in_provider
from enhancer.http.cookies import queue_cookie_removal, queue_session_cookies
from enhancer.http.rate_limit import rate_limit_by_ip
from enhancer.observability import logger
from enhancer.services.auth import complete_login, return_path
from enhancer.services.billing import with_query

router = APIRouter()


@router.get("/api/auth/callback", dependencies=[rate_limit_by_ip(rate_limits.API)])
async def get_callback(request: Request) -> Response:
    secure, now, secret = request.url.scheme == "https", time.time(), bootstrap.owner_secret()
    cookie, query = request.cookies.get(LOGIN_COOKIE), request.query_params
    back = return_path(cookie, secret, now)
    queue_cookie_removal(request.scope, LOGIN_COOKIE, secure=secure)  # one attempt, one callback
    try:
        session_id = complete_login(code=query.get("code"), state=query.get("state"), error=query.get("error"),
                                    cookie=cookie, provider=sign_in_provider(request), accounts=bootstrap.accounts(),
                                    secret=secret, now=now)
    except SignInRefused as refused:
        logger.warning("sign_in_refused", extra={"reason": refused.reason})
        return RedirectResponse(f"{origin(request)}{with_query(back, f'auth={refused.reason}')}", status_code=302)
    except ServiceUnavailable:
        return RedirectResponse(f"{origin(request)}{with_query(back, 'auth=unavailable')}", status_code=302)
    queue_session_cookies(request.scope, session_id, secure=secure)
    return RedirectResponse(f"{origin(request)}{back}", status_code=302)
