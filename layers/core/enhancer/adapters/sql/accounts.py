"""The accounts aggregate: users and their sessions, behind the `Accounts` port (`services/ports.py`).

The dialect hands in how to connect and how a write transaction begins (`open_accounts` in this package's
`__init__`, `connections.PerThreadConnection`); the statements use the qmark parameter style.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from enhancer.adapters.sql.connections import PerThreadConnection
from enhancer.domain.plans import ACTIVE_SUBSCRIPTION_STATUSES
from enhancer.services.ports import AccountRecord

# The account a credential (a session, an API key) stands for, read in the same round trip as the credential:
# its user and the newest of the user's subscriptions still active. One fragment for every such statement, so
# they cannot drift apart on what "active" means or which subscription wins. A statement puts ACCOUNT_COLUMNS
# in its SELECT, account_join(<its user_id column>) after its FROM, binds ACCOUNT_JOIN_PARAMS before its own
# (the fragment's placeholders precede its WHERE), and reads the five columns back with account_record.
# Plain SQL both SQLite and PostgreSQL run; only "?" placeholders and a column name are interpolated into it.
ACCOUNT_COLUMNS = "u.id, u.email, u.plan, sub.plan, sub.status"
ACCOUNT_JOIN_PARAMS = tuple(sorted(ACTIVE_SUBSCRIPTION_STATUSES))


def account_join(user_id_column: str) -> str:
    """The joins, on the statement's own `user_id` column (a literal of ours, never input)."""
    return f"""JOIN users u ON u.id = {user_id_column}
LEFT JOIN subscriptions sub ON sub.id = (
  SELECT id FROM subscriptions
  WHERE user_id = u.id AND status IN ({", ".join("?" for _ in ACCOUNT_JOIN_PARAMS)})
  ORDER BY updated_at DESC, created_at DESC LIMIT 1)"""  # noqa: S608


def account_record(columns: Sequence[Any]) -> AccountRecord:
    user_id, email, user_plan, sub_plan, sub_status = columns
    return AccountRecord(user_id=user_id, email=email, user_plan=user_plan,
                         subscription_plan=sub_plan, subscription_status=sub_status)


_SESSION_USER_SQL = f"""
SELECT s.expires_at, {ACCOUNT_COLUMNS}
FROM sessions s
{account_join("s.user_id")}
WHERE s.id = ?
"""  # noqa: S608


class SqlAccounts(PerThreadConnection):
    """Users and sessions. One connection per thread: the local gateway serves requests on threads."""

    def session_account(self, session_id: str, now: float) -> AccountRecord | None:
        """The signed-in account of a session; an expired session is deleted and yields None."""
        row = self._conn.execute(_SESSION_USER_SQL, (*ACCOUNT_JOIN_PARAMS, session_id)).fetchone()
        if row is None:
            return None
        expires_at = row[0]
        if not isinstance(expires_at, int) or expires_at < now:  # a malformed expiry counts as expired
            self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return None
        return account_record(row[1:])

    def upsert_user(self, email: str, plan: str) -> AccountRecord:
        """Create the user with this email, or set the plan of the existing one."""
        email = email.strip().lower()

        def work(conn: Any) -> str:
            row = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            if row:
                conn.execute("UPDATE users SET plan = ? WHERE id = ?", (plan, row[0]))
                return str(row[0])
            user_id = str(uuid.uuid4())
            local_part = email.split("@", 1)[0] or "user"
            conn.execute("INSERT INTO users (id, name, username, email, plan) VALUES (?, ?, ?, ?, ?)",
                         (user_id, local_part, f"{local_part}-{secrets.token_hex(4)}", email, plan))
            return user_id

        user_id = self._write(work)
        return AccountRecord(user_id=user_id, email=email, user_plan=plan)

    def create_session(self, user_id: str, expires_at: int) -> str:
        session_id = secrets.token_urlsafe(32)
        self._conn.execute("INSERT INTO sessions (id, user_id, expires_at) VALUES (?, ?, ?)",
                           (session_id, user_id, expires_at))
        return session_id

    def delete_session(self, session_id: str) -> bool:
        """Sign-out: the session ends now (True when there was one)."""
        return bool(self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount)

    def sign_in(self, subject: str, email: str) -> AccountRecord:
        """The user a Cognito subject signs in as: the one already keyed by it (its email kept current), else
        the user with this verified email who has no subject yet (an account from before Cognito), else a new
        free user. SignInRefused("email_in_use") when the email belongs to another subject's user."""
        # Imported here: only the sign-in callback signs in, and every function with sessions loads this module.
        from enhancer.domain.auth import SignInRefused

        email = email.strip().lower()

        def work(conn: Any) -> tuple[str, str]:
            by_subject = conn.execute("SELECT id, email, plan FROM users WHERE cognito_sub = ?", (subject,)).fetchone()
            by_email = conn.execute("SELECT id, email, plan, cognito_sub FROM users WHERE email = ?",
                                    (email,)).fetchone()
            if by_email is not None and by_email[3] not in (None, subject):
                raise SignInRefused("email_in_use")
            if by_subject is not None:
                if by_email is not None and by_email[0] != by_subject[0]:
                    raise SignInRefused("email_in_use")
                conn.execute("UPDATE users SET email = ? WHERE id = ?", (email, by_subject[0]))
                return by_subject[0], by_subject[2]
            if by_email is not None:
                conn.execute("UPDATE users SET cognito_sub = ? WHERE id = ?", (subject, by_email[0]))
                return by_email[0], by_email[2]
            user_id = str(uuid.uuid4())
            local_part = email.split("@", 1)[0] or "user"
            conn.execute(
                "INSERT INTO users (id, name, username, email, plan, cognito_sub) VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, local_part, f"{local_part}-{secrets.token_hex(4)}", email, "free", subject))
            return user_id, "free"

        user_id, plan = self._write(work)
        return AccountRecord(user_id=user_id, email=email, user_plan=plan)

    def subject_of(self, user_id: str) -> str | None:
        """The Cognito subject the user signs in as (None: never through Cognito, or no such user)."""
        row = self._conn.execute("SELECT cognito_sub FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def erase_user(self, user_id: str) -> dict[str, int]:
        """The user's rows, in one transaction: jobs, API keys, sessions, subscriptions, the Stripe customer,
        the user; how many of each there were. Idempotent."""
        def work(conn: Any) -> dict[str, int]:
            return {name: conn.execute(statement, (user_id,)).rowcount
                    for name, statement in (("jobs", "DELETE FROM ai_jobs WHERE user_id = ?"),
                                            ("apiKeys", "DELETE FROM api_keys WHERE user_id = ?"),
                                            ("sessions", "DELETE FROM sessions WHERE user_id = ?"),
                                            ("subscriptions", "DELETE FROM subscriptions WHERE user_id = ?"),
                                            ("customers", "DELETE FROM stripe_customers WHERE user_id = ?"),
                                            ("users", "DELETE FROM users WHERE id = ?"))}

        return self._write(work)
