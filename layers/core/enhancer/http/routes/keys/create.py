"""POST /api/keys {name, scopes} — a signed-in user's new personal API key; 201 with the key object and `key`,
the only time the key itself is shown (the store keeps its hash). At most 10 active keys (409 beyond)."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.domain.api_keys import MAX_NAME_CHARS, Scope, is_valid_name, parse_scopes
from enhancer.http.dependencies import ApiKeysDep
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.key_view import key_view
from enhancer.http.rate_limit import rate_limit
from enhancer.http.requests import json_body
from enhancer.services.api_keys import create_key

router = APIRouter()


class NewKey(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    scopes: list[Literal["enhance", "jobs:read"]] = Field(min_length=1, max_length=len(Scope))

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if not is_valid_name(name):
            raise ValueError(f"must be 1 to {MAX_NAME_CHARS} printable characters, not only spaces")
        return name


# `sensitiveAction` (5 an hour): a key is a long-lived credential, so minting them is rate-limited like checkout.
# The user before the body, so a caller who is not signed in learns only that (401), not what the body lacks.
@router.post("/api/keys", dependencies=[rate_limit(rate_limits.SENSITIVE_ACTION)])
async def post_key(user: SignedInUser, body: Annotated[NewKey, json_body(NewKey)], keys: ApiKeysDep) -> Response:
    key, secret = create_key(keys, user.id, body.name, parse_scopes(body.scopes), time.time())
    return success({**key_view(key), "key": secret}, status=201)
