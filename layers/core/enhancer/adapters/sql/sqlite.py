"""SQLite implementation of the account store (a file on EFS in AWS, a local file in development)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import uuid

from enhancer.domain.plans import ACTIVE_SUBSCRIPTION_STATUSES
from enhancer.services.ports import AccountRecord

_ACTIVE = sorted(ACTIVE_SUBSCRIPTION_STATUSES)

# One round trip: the session, its user and the newest subscription that is still active.
# Only "?" placeholders are interpolated into it.
_SESSION_USER_SQL = f"""
SELECT s.expires_at, u.id, u.email, u.plan, sub.plan, sub.status
FROM sessions s
JOIN users u ON u.id = s.user_id
LEFT JOIN subscriptions sub ON sub.id = (
  SELECT id FROM subscriptions
  WHERE user_id = u.id AND status IN ({", ".join("?" for _ in _ACTIVE)})
  ORDER BY updated_at DESC, created_at DESC LIMIT 1)
WHERE s.id = ?
"""  # noqa: S608


def connect(path: str) -> sqlite3.Connection:
    # Autocommit: every statement is its own transaction unless a caller opens one explicitly.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class SqliteAccounts:
    """Users and sessions. One connection per thread: the local gateway serves requests on threads."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._path)
        return conn

    def session_account(self, session_id: str, now: float) -> AccountRecord | None:
        """The signed-in account of a session; an expired session is deleted and yields None."""
        row = self._conn.execute(_SESSION_USER_SQL, (*_ACTIVE, session_id)).fetchone()
        if row is None:
            return None
        expires_at, user_id, email, user_plan, sub_plan, sub_status = row
        if not isinstance(expires_at, int) or expires_at < now:  # a malformed expiry counts as expired
            self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return None
        return AccountRecord(user_id=user_id, email=email, user_plan=user_plan,
                             subscription_plan=sub_plan, subscription_status=sub_status)

    def upsert_user(self, email: str, plan: str) -> AccountRecord:
        """Create the user with this email, or set the plan of the existing one."""
        email = email.strip().lower()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            if row:
                user_id = row[0]
                conn.execute("UPDATE users SET plan = ? WHERE id = ?", (plan, user_id))
            else:
                user_id = str(uuid.uuid4())
                local_part = email.split("@", 1)[0] or "user"
                conn.execute(
                    "INSERT INTO users (id, name, username, email, plan) VALUES (?, ?, ?, ?, ?)",
                    (user_id, local_part, f"{local_part}-{secrets.token_hex(4)}", email, plan))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return AccountRecord(user_id=user_id, email=email, user_plan=plan)

    def create_session(self, user_id: str, expires_at: int) -> str:
        session_id = secrets.token_urlsafe(32)
        self._conn.execute("INSERT INTO sessions (id, user_id, expires_at) VALUES (?, ?, ?)",
                           (session_id, user_id, expires_at))
        return session_id
