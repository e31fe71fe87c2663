"""The SQL dialect seam (docs/architecture.md §2, `enhancer.adapters.sql`): DATABASE_URL is parsed once into a
DatabaseUrl, and no module outside `adapters/sql/` reaches a dialect itself — they all call the factory."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from enhancer.adapters.sql.url import DatabaseUrl

ROOT = Path(__file__).resolve().parents[2]
SQL_PACKAGE = ROOT / "layers" / "core" / "enhancer" / "adapters" / "sql"
# Where product code lives outside the SQL package: the layer, the functions, the local stack, bench and ops.
OUTSIDE = sorted(path for folder in ("layers/core/enhancer", "functions", "local", "bench", "ops")
                 for path in (ROOT / folder).rglob("*.py") if SQL_PACKAGE not in path.parents)
DIALECT_MODULES = ("sqlite3", "pg8000", "enhancer.adapters.sql.sqlite", "enhancer.adapters.sql.sqlite_migrator",
                   "enhancer.adapters.sql.postgresql", "enhancer.adapters.sql.postgres_migrator")


@pytest.mark.parametrize("url", ["sqlite:////mnt/data/enhancer.db", "sqlite:///relative/enhancer.db"])
def test_a_sqlite_url_parses_into_its_dialect_and_path(url):
    parsed = DatabaseUrl(url)

    assert parsed == url and str(parsed) == url  # still the URL wherever a string is expected
    assert parsed.dialect == "sqlite"
    assert parsed.path == url.removeprefix("sqlite:///")
    assert DatabaseUrl(parsed) is parsed


def test_a_postgresql_url_parses_into_where_the_server_is_and_how_to_reach_it():
    url = DatabaseUrl("postgresql://enhancer@proxy.example.com:6432/enhancer?credentials=arn:aws:secretsmanager:"
                      "us-east-1:123456789012:secret:db-AbCdEf&sslmode=verify-full")

    target = url.postgres
    assert url.dialect == "postgresql" and url.where == "proxy.example.com:6432/enhancer"
    assert (target.host, target.port, target.user, target.database, target.sslmode) == (
        "proxy.example.com", 6432, "enhancer", "enhancer", "verify-full")
    assert target.credentials == "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def test_a_postgresql_url_defaults_to_port_5432_no_credentials_and_no_tls():
    target = DatabaseUrl("postgres://postgres@127.0.0.1/enhancer").postgres

    assert (target.port, target.credentials, target.sslmode) == (5432, None, "disable")


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite:///", "sqlite://x.db", "/mnt/data/enhancer.db", "", None, 42])
def test_anything_else_is_refused_with_the_settings_message(url):
    with pytest.raises(ValueError, match=r"^must be sqlite:///<path> or postgresql://<user>@<host>\[:<port>\]/"
                                         r"<database>$"):
        DatabaseUrl(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("postgresql://user:s3cr3t@db/enhancer", "the password belongs in a secret named by ?credentials="),
    ("postgresql://db/enhancer", "a user, a host and a database are all required"),
    ("postgresql://u@db/", "a user, a host and a database are all required"),
    ("postgresql://u@db:port/x", "the port must be a number"),
    ("postgresql://u@db/x?sslmode=prefer", "sslmode must be one of disable, require, verify-full"),
    ("postgresql://u@db/x?password=s3cr3t", "only ?credentials= and ?sslmode="),
])
def test_a_postgresql_url_that_cannot_be_served_says_why_and_never_echoes_a_password(url, reason):
    with pytest.raises(ValueError) as refused:
        DatabaseUrl(url)

    assert reason in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_the_settings_hold_a_parsed_url(monkeypatch):
    from enhancer.config import load_settings

    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/enhancer-seam.db")

    url = load_settings().database_url

    assert isinstance(url, DatabaseUrl) and url.dialect == "sqlite" and url.path == "/tmp/enhancer-seam.db"


def test_the_default_url_is_the_efs_file(monkeypatch):
    from enhancer.config import load_settings

    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.delenv("DATABASE_URL", raising=False)

    url = load_settings().database_url

    assert isinstance(url, DatabaseUrl) and url.path == "/mnt/data/enhancer.db"


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_there_is_code_outside_the_sql_package_to_check():
    names = {str(p.relative_to(ROOT)) for p in OUTSIDE}
    assert {"layers/core/enhancer/bootstrap.py", "functions/migrate/app.py", "local/__main__.py"} <= names


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_outside_the_sql_package_reaches_a_dialect(path):
    dialect = [m for m in _imports(path) if any(m == d or m.startswith(d + ".") for d in DIALECT_MODULES)]

    assert dialect == [], "use the factory in enhancer.adapters.sql (connect, open_accounts, migrate_and_check)"
