"""The relational store: users, sessions, jobs, Stripe customers and subscriptions.

This module is the only way in. Everything outside `adapters/sql/` (bootstrap, the migrate function,
`enhancer-db`, the local stack, tests, bench) holds a `DatabaseUrl` — parsed once by the settings — and calls
the functions below; which dialect stands behind the URL is decided in `_dialect` alone. The dialect modules
(`sqlite.py` today) share one shape: `connect`, `exists`, `prepare`, `accounts`, `billing`, `jobs` and
`migrate_and_check`, each taking where the database is.

    url.py               DatabaseUrl: the dialect and, for SQLite, the file
    accounts.py          the accounts aggregate (users, sessions) behind the `Accounts` port
    billing.py           Stripe customers and subscriptions behind the `BillingAccounts` port, in event order
    connections.py       one connection per thread; `watch_statements` counts round trips (bench)
    jobs.py              the jobs repository behind the `Jobs` port: conditional status moves
    schema.py            the migration files of a dialect, and the post-conditions every dialect proves
    sqlite.py            the SQLite dialect: connections, and what `_dialect` dispatches to
    sqlite_migrator.py   apply and check `migrations/sqlite/`
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
    from enhancer.adapters.sql.billing import SqlBilling
    from enhancer.adapters.sql.jobs import SqlJobs
    from enhancer.adapters.sql.schema import MigrationReport

__all__ = ["DatabaseUrl", "connect", "exists", "migrate_and_check", "open_accounts", "open_billing", "open_jobs",
           "prepare", "watch_statements"]


class _Dialect(Protocol):
    """The shape every dialect module has (`sqlite.py` now)."""

    def connect(self, where: str) -> Any: ...

    def accounts(self, where: str) -> SqlAccounts: ...

    def billing(self, where: str) -> SqlBilling: ...

    def jobs(self, where: str) -> SqlJobs: ...

    def exists(self, where: str) -> bool: ...

    def prepare(self, where: str) -> None: ...

    def migrate_and_check(self, where: str, *, apply: bool) -> MigrationReport: ...


def _dialect(url: DatabaseUrl | str) -> tuple[_Dialect, str]:
    """The dialect module for `url`, and where its database is (SQLite: the file's path)."""
    url = DatabaseUrl(url)
    if url.dialect == "sqlite":
        from enhancer.adapters.sql import sqlite

        return cast(_Dialect, sqlite), url.path
    raise NotImplementedError(f"no SQL dialect {url.dialect!r}")  # DatabaseUrl refuses every other one


def connect(url: DatabaseUrl | str) -> Any:
    """A new connection in autocommit mode (a DB-API connection with `execute`); the caller closes it."""
    dialect, where = _dialect(url)
    return dialect.connect(where)


def open_accounts(url: DatabaseUrl | str) -> SqlAccounts:
    """Users and sessions in the database at `url`; connects on first use, one connection per thread."""
    dialect, where = _dialect(url)
    return dialect.accounts(where)


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
    """Make room for the database before it is first migrated (SQLite: create its folder)."""
    dialect, where = _dialect(url)
    dialect.prepare(where)


def migrate_and_check(url: DatabaseUrl | str, *, apply: bool) -> MigrationReport:
    """Apply the pending migrations (when `apply`), then check the post-conditions; the connection is closed."""
    dialect, where = _dialect(url)
    return dialect.migrate_and_check(where, apply=apply)
