"""DATABASE_URL, parsed once (by the settings): which SQL dialect, and where its database lives."""

from __future__ import annotations

_SQLITE = "sqlite:///"
EXPECTED = "sqlite:///<path>"
# The settings name the variable in front of this (README: Configuration); PostgreSQL is a later issue.
REFUSED = f"must be {EXPECTED} (PostgreSQL support is not built yet)"


class DatabaseUrl(str):
    """A database URL that parsed. It compares, prints and serialises as the URL itself; `dialect` says which
    driver and migrations apply, `path` where an SQLite database's file is. Only `sqlite:///<path>` is
    accepted (three slashes, then a non-empty path; four for an absolute one)."""

    __slots__ = ()

    def __new__(cls, url: object) -> DatabaseUrl:
        if isinstance(url, DatabaseUrl):
            return url
        if not isinstance(url, str) or not url.startswith(_SQLITE) or len(url) <= len(_SQLITE):
            raise ValueError(REFUSED)
        return super().__new__(cls, url)

    @property
    def dialect(self) -> str:
        """The name of the folder under `migrations/` and of the driver module: `sqlite`."""
        return "sqlite"

    @property
    def path(self) -> str:
        """The database file of an SQLite URL."""
        return self.removeprefix(_SQLITE)
