"""DELETE /api/keys/{keyId} — the signed-in user's key stops working at once; answers the key with `revokedAt`.
Idempotent (a revoked key keeps its time); someone else's or an unknown id is 404."""

import time
from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.http.dependencies import ApiKeysDep
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.key_view import key_view
from enhancer.http.rate_limit import rate_limit
from enhancer.http.requests import path_parameter
from enhancer.services.api_keys import revoke_key

router = APIRouter()
KeyId = Annotated[str, path_parameter("key_id")]  # not `key_id: str` (http/requests.py:path_parameter says why)


@router.delete("/api/keys/{key_id}", dependencies=[rate_limit(rate_limits.API)])
async def delete_key(key_id: KeyId, user: SignedInUser, keys: ApiKeysDep) -> Response:
    return success(key_view(revoke_key(keys, user.id, key_id, time.time())))
