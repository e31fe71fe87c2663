"""DATABASE_URL, parsed once (by the settings): which SQL dialect, and where its database lives.

    sqlite:///<path>                                   a file (on EFS in AWS)
    postgresql://<user>@<host>[:<port>]/<database>[?credentials=<secret>&sslmode=<mode>]

A PostgreSQL URL never carries a password: `credentials` names a secret (Secrets Manager or SSM, read through
`adapters.secrets`) holding the password, or the JSON RDS keeps for a cluster (`{"username", "password", …}`).
Without it the server must trust the connection (a local cluster). `sslmode` is `disable` (the default),
`require` (encrypted) or `verify-full` (encrypted, the server's certificate and name verified — RDS Proxy).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from enhancer.domain.values import value_class

_SQLITE = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
SSL_MODES = ("disable", "require", "verify-full")
EXPECTED = "sqlite:///<path> or postgresql://<user>@<host>[:<port>]/<database>"
# The settings name the variable in front of this (README: Configuration).
REFUSED = f"must be {EXPECTED}"


@value_class
class PostgresTarget:
    """Where a PostgreSQL database is and how to reach it (never a password: that is in `credentials`)."""

    host: str
    port: int
    user: str
    database: str
    credentials: str | None
    sslmode: str


class DatabaseUrl(str):
    """A database URL that parsed. It compares, prints and serialises as the URL itself; `dialect` says which
    driver and migrations apply, `path` where an SQLite database's file is, `postgres` where a PostgreSQL one is."""

    __slots__ = ()

    def __new__(cls, url: object) -> DatabaseUrl:
        if isinstance(url, DatabaseUrl):
            return url
        if not isinstance(url, str):
            raise ValueError(REFUSED)
        parsed = super().__new__(cls, url)
        if url.startswith(_SQLITE) and len(url) > len(_SQLITE):
            return parsed
        if url.partition("://")[0] in _POSTGRES_SCHEMES:
            _postgres_target(url)  # refuses what cannot be served, with the reason
            return parsed
        raise ValueError(REFUSED)

    @property
    def dialect(self) -> str:
        """The name of the folder under `migrations/` and of the dialect module: `sqlite` or `postgresql`."""
        return "sqlite" if self.startswith(_SQLITE) else "postgresql"

    @property
    def path(self) -> str:
        """The database file of an SQLite URL."""
        return self.removeprefix(_SQLITE)

    @property
    def postgres(self) -> PostgresTarget:
        return _postgres_target(self)

    @property
    def where(self) -> str:
        """Where the database is, for messages: the file, or host:port/database."""
        if self.dialect == "sqlite":
            return self.path
        target = self.postgres
        return f"{target.host}:{target.port}/{target.database}"


def _postgres_target(url: str) -> PostgresTarget:
    parts = urlsplit(url)
    if parts.password is not None:
        raise ValueError(f"{REFUSED}; the password belongs in a secret named by ?credentials=, never in the URL")
    database = unquote(parts.path.removeprefix("/"))
    if not parts.hostname or not parts.username or not database or "/" in database:
        raise ValueError(f"{REFUSED} (a user, a host and a database are all required)")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ValueError(f"{REFUSED} (the port must be a number)") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"credentials", "sslmode"})
    if unknown or any(len(values) != 1 for values in query.values()):
        raise ValueError(f"{REFUSED} (only ?credentials= and ?sslmode=, once each; got {', '.join(unknown)})")
    sslmode = query.get("sslmode", ["disable"])[0]
    if sslmode not in SSL_MODES:
        raise ValueError(f"{REFUSED} (sslmode must be one of {', '.join(SSL_MODES)})")
    credentials = query.get("credentials", [""])[0] or None
    return PostgresTarget(host=parts.hostname, port=port, user=unquote(parts.username), database=database,
                          credentials=credentials, sslmode=sslmode)
