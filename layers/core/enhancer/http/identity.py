"""The caller's identity as a FastAPI dependency; a new guest gets its cookie on the way out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from enhancer import bootstrap
from enhancer.domain.errors import AuthRequired
from enhancer.domain.identity import Identity, User
from enhancer.http.cookies import GUEST_COOKIE, GUEST_COOKIE_MAX_AGE, SESSION_COOKIES, cookie_header, queue_cookie
from enhancer.services.identity import resolve_identity

_STATE_KEY = "identity"


def identify(request: Request) -> Identity:
    """Resolved once per request, however many dependencies ask."""
    cached: Identity | None = getattr(request.state, _STATE_KEY, None)
    if cached is not None:
        return cached
    identity = resolve_identity(
        session_ids=[request.cookies.get(name, "") for name in SESSION_COOKIES],
        guest_cookie=request.cookies.get(GUEST_COOKIE),
        accounts=bootstrap.accounts(),
        secret=bootstrap.owner_secret(),
        now=time.time(),
    )
    if identity.issued_guest_cookie:
        queue_cookie(request.scope, cookie_header(GUEST_COOKIE, identity.issued_guest_cookie,
                                                  max_age=GUEST_COOKIE_MAX_AGE,
                                                  secure=request.url.scheme == "https"))
    setattr(request.state, _STATE_KEY, identity)
    return identity


# Endpoints are `async def` on purpose (here and in every router): a Lambda instance serves one request
# at a time, so blocking I/O inside is fine, and it spares the thread-pool hop FastAPI makes for `def`.
async def current_identity(request: Request) -> Identity:
    return identify(request)


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


async def signed_in_user(request: Request) -> User:
    """The signed-in user; 401 for a guest."""
    user = identify(request).user
    if user is None:
        raise AuthRequired("Sign in to continue")
    return user


SignedInUser = Annotated[User, Depends(signed_in_user)]
