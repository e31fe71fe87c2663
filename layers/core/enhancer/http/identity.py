"""The caller's identity as a FastAPI dependency: an API key (`Authorization: Bearer`) where the route takes
keys and the key has a scope the route admits, else the session or guest cookie; a new guest gets its cookie on
the way out."""

import time
from typing import Annotated

from fastapi import Depends, Request

from enhancer import bootstrap
from enhancer.domain.api_keys import bearer_token
from enhancer.domain.errors import AuthRequired, Forbidden
from enhancer.domain.identity import Identity, User
from enhancer.http.cookies import GUEST_COOKIE, GUEST_COOKIE_MAX_AGE, SESSION_COOKIES, cookie_header, queue_cookie
from enhancer.http.key_routes import NOT_ACCEPTED, key_scopes
from enhancer.http.requests import routed_path
from enhancer.services.identity import resolve_identity, resolve_key_identity

_STATE_KEY = "identity"


def identify(request: Request) -> Identity:
    """Resolved once per request, however many dependencies ask."""
    cached: Identity | None = getattr(request.state, _STATE_KEY, None)
    if cached is not None:
        return cached
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        identity = _key_identity(request, token)
        setattr(request.state, _STATE_KEY, identity)
        return identity
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


def _key_identity(request: Request, token: str) -> Identity:
    """A key alone decides (no cookie is read or set); the pipeline has refused it already where keys are not
    taken, and this holds that again for any caller that skipped the pipeline."""
    admitted = key_scopes(request.method, routed_path(request))
    if admitted is None:
        raise AuthRequired(NOT_ACCEPTED)
    identity = resolve_key_identity(token, keys=bootstrap.api_keys(), now=time.time())
    granted = identity.key.scopes if identity.key else frozenset()
    if not granted & admitted:
        needed = sorted(scope.value for scope in admitted)
        raise Forbidden(f"This API key lacks the {' or '.join(repr(s) for s in needed)} scope",
                        details={"requiredScopes": needed})
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
