"""GET /api/keys — the signed-in user's API keys, newest first, revoked ones with `revokedAt`; each with its
display prefix and when it was last used (to the minute), never the key or its hash; and the user's callback
signing secret (`callbackSigningSecret`, README: Completion callbacks), which verifies their jobs' callbacks."""

from fastapi import APIRouter
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.domain.callbacks import signing_secret
from enhancer.http.dependencies import ApiKeysDep
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.key_view import key_view
from enhancer.http.rate_limit import rate_limit
from enhancer.services.api_keys import list_keys

router = APIRouter()


@router.get("/api/keys", dependencies=[rate_limit(rate_limits.API)])
async def get_keys(user: SignedInUser, keys: ApiKeysDep) -> Response:
    return success({"keys": [key_view(key) for key in list_keys(keys, user.id)],
                    "callbackSigningSecret": signing_secret(bootstrap.owner_secret().decode(), user.id)})
