"""Personal API keys behind the `ApiKeys` port (`services/ports.py`): the `api_keys` table of migration 0016.

The store sees a key's SHA-256 and its display prefix, never the key itself. Statements use the qmark style.
"""

from __future__ import annotations

from typing import Any

from enhancer.adapters.sql.accounts import ACCOUNT_COLUMNS, ACCOUNT_JOIN_PARAMS, account_join, account_record
from enhancer.adapters.sql.connections import PerThreadConnection
from enhancer.domain.api_keys import ApiKey, stored_scopes
from enhancer.services.ports import KeyAccount

_KEY_COLUMNS = "id, user_id, name, prefix, scopes, created_at, last_used_at, revoked_at"

# One round trip per request, as for a session: the key and its account (accounts.account_join).
_KEY_USER_SQL = f"""
SELECT k.id, k.scopes, k.last_used_at, {ACCOUNT_COLUMNS}
FROM api_keys k
{account_join("k.user_id")}
WHERE k.key_hash = ? AND k.revoked_at IS NULL
"""  # noqa: S608


def _key(row: Any) -> ApiKey:
    key_id, user_id, name, prefix, scopes, created_at, last_used_at, revoked_at = row
    return ApiKey(id=key_id, user_id=user_id, name=name, prefix=prefix, scopes=stored_scopes(scopes),
                  created_at=created_at, last_used_at=last_used_at, revoked_at=revoked_at)


class SqlApiKeys(PerThreadConnection):
    def insert(self, key: ApiKey, key_hash: str, *, max_active: int) -> bool:
        # The count and the insert in one write transaction, so two creates racing cannot pass the cap together.
        def work(conn: Any) -> bool:
            row = conn.execute("SELECT COUNT(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL",
                               (key.user_id,)).fetchone()
            if int(row[0]) >= max_active:
                return False
            conn.execute(f"INSERT INTO api_keys ({_KEY_COLUMNS}, key_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                         (key.id, key.user_id, key.name, key.prefix, " ".join(key.scopes), key.created_at,
                          key.last_used_at, key.revoked_at, key_hash))
            return True

        return self._write(work)

    def list_for(self, user_id: str) -> list[ApiKey]:
        rows = self._conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC",  # noqa: S608
            (user_id,)).fetchall()
        return [_key(row) for row in rows]

    def revoke(self, user_id: str, key_id: str, at: str) -> ApiKey | None:
        # One conditional UPDATE: a key revoked already keeps the moment it stopped working.
        self._conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                           (at, key_id, user_id))
        row = self._conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ? AND user_id = ?",  # noqa: S608
                                 (key_id, user_id)).fetchone()
        return _key(row) if row else None

    def authenticate(self, key_hash: str) -> KeyAccount | None:
        row = self._conn.execute(_KEY_USER_SQL, (*ACCOUNT_JOIN_PARAMS, key_hash)).fetchone()
        if row is None:
            return None
        key_id, scopes, last_used_at = row[:3]
        return KeyAccount(key_id=key_id, scopes=scopes, last_used_at=last_used_at, account=account_record(row[3:]))

    def touch(self, key_id: str, at: str, *, stale_before: str) -> bool:
        return bool(self._conn.execute(
            "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            (at, key_id, stale_before)).rowcount)
