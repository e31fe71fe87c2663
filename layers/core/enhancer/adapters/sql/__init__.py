"""The relational store: users, sessions, jobs, Stripe customers and subscriptions.

This module is the only way in. Everything outside `adapters/sql/` (bootstrap, the migrate function,
`enhancer-db`, the local stack, tests, bench) holds a `DatabaseUrl` — parsed once by the settings — and calls
the functions below; which dialect stands behind the URL is decided in `_dialect` alone. The dialect modules
(`sqlite.py`, `postgresql.py`) share one shape: `connect`, `exists`, `prepare`, `accounts`, `api_keys`, `billing`,
`jobs` and `migrate_and_check`, each taking where the database is (SQLite: the file; PostgreSQL: a `PostgresTarget`).

    url.py               DatabaseUrl: the dialect, and where the database is
    accounts.py          the accounts aggregate (users, sessions) behind the `Accounts` port
    api_keys.py          personal API keys (their hashes) behind the `ApiKeys` port
    billing.py           Stripe customers and subscriptions behind the `BillingAccounts` port, in event order
    connections.py       one connection per thread, write transactions (retried on a conflict); `watch_statements`
                         counts round trips (bench)
    jobs.py              the jobs repository behind the `Jobs` port: conditional status moves
    schema.py            the migration files of a dialect, and the post-conditions every dialect proves
    sqlite.py            the SQLite dialect: connections, and what `_dialect` dispatches to
    sqlite_migrator.py   apply and check `migrations/sqlite/`
    postgresql.py        the PostgreSQL dialect (pg8000): a connection that reconnects, errors mapped to 503/retry
    postgres_migrator.py apply and check `migrations/postgresql/`, and the database's statement timeout
    migrations/<dialect>/NNNN_name.sql
    cli.py               `enhancer-db migrate|check`

Nothing heavy is imported here: a driver is imported when a function first needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from enhancer.adapters.sql.connections import watch_statements
from enhancer.adapters.sql.url import DatabaseUrl

if TYPE_CHECKING:
    from enhancer.adapters.sql.accounts import SqlAccounts
    from enhancer.adapters.sql.api_keys import SqlApiKeys
    from enhancer.adapters.sql.billing import SqlBilling
    from enhancer.adapters.sql.jobs import SqlJobs
    from enhancer.adapters.sql.schema import MigrationReport

__all__ = ["DatabaseUrl", "connect", "exists", "migrate_and_check", "open_accounts", "open_api_keys", "open_billing",
           "open_jobs", "prepare", "watch_statements"]


class _Dialect(Protocol):
    """The shape every dialect module has; `where` is what `_dialect` hands it."""

    def connect(self, where: Any) -> Any: ...

    def accounts(self, where: Any) -> SqlAccounts: ...

    def api_keys(self, where: Any) -> SqlApiKeys: ...

    def billing(self, where: Any) -> SqlBilling: ...

    def jobs(self, where: Any) -> SqlJobs: ...

    def exists(self, where: Any) -> bool: ...

    def prepare(self, where: Any) -> None: ...

    def migrate_and_check(self, where: Any, *, apply: bool) -> MigrationReport: ...


def _dialect(url: DatabaseUrl | str) -> tuple[_Dialect, Any]:
    """The dialect module for `url`, and where its database is (SQLite: the file's path; PostgreSQL: the
    server, user, database and credentials)."""
    url = DatabaseUrl(url)
    if url.dialect == "sqlite":
        from enhancer.adapters.sql import sqlite

        return cast(_Dialect, sqlite), url.path
    from enhancer.adapters.sql import postgresql

    return cast(_Dialect, postgresql), url.postgres


def connect(url: DatabaseUrl | str) -> Any:
    """A new connection in autocommit mode (`execute(sql, params)` → fetchone/fetchall/rowcount, `close`, and a
    context manager on PostgreSQL); the caller closes it."""
    dialect, where = _dialect(url)
    return dialect.connect(where)


def open_accounts(url: DatabaseUrl | str) -> SqlAccounts:
    """Users and sessions in the database at `url`; connects on first use, one connection per thread."""
    dialect, where = _dialect(url)
    return dialect.accounts(where)


def open_api_keys(url: DatabaseUrl | str) -> SqlApiKeys:
    """Personal API keys in the database at `url`; one connection per thread."""
    dialect, where = _dialect(url)
    return dialect.api_keys(where)


def open_billing(url: DatabaseUrl | str) -> SqlBilling:
    """Stripe customers and subscriptions in the database at `url`; one connection per thread."""
    dialect, where = _dialect(url)
    return dialect.billing(where)


def open_jobs(url: DatabaseUrl | str) -> SqlJobs:
    """The jobs in the database at `url`; connects on first use, one connection per thread."""
    dialect, where = _dialect(url)
    return dialect.jobs(where)


def exists(url: DatabaseUrl | str) -> bool:
    """Whether the database is there at all (`enhancer-db check` refuses to create one)."""
    dialect, where = _dialect(url)
    return dialect.exists(where)


def prepare(url: DatabaseUrl | str) -> None:
    """Make room for the database before it is first migrated (SQLite: its folder; PostgreSQL: the database)."""
    dialect, where = _dialect(url)
    dialect.prepare(where)


def migrate_and_check(url: DatabaseUrl | str, *, apply: bool) -> MigrationReport:
    """Apply the pending migrations (when `apply`), then check the post-conditions; the connection is closed."""
    dialect, where = _dialect(url)
    return dialect.migrate_and_check(where, apply=apply)
