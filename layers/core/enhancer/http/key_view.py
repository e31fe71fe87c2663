"""An API key as the key routes answer it: never its hash, and the key itself only in the create answer."""

from __future__ import annotations

from typing import Any

from enhancer.domain.api_keys import ApiKey


def key_view(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": [scope.value for scope in key.scopes],
            "createdAt": key.created_at, "lastUsedAt": key.last_used_at, "revokedAt": key.revoked_at}
