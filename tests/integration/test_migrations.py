"""The migration command applies the numbered migrations; the check command proves their post-conditions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from enhancer.adapters.sql.cli import main
from enhancer.adapters.sql.migrate import apply_migrations, check_schema, migrations
from enhancer.adapters.sql.sqlite import connect


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "enhancer.db"
    assert main(["migrate", "--database-url", f"sqlite:///{path}"]) == 0
    return path


def test_migrations_keep_the_old_numbering():
    assert [m.version for m in migrations()] == ["0000", "0001", "0008", "0009", "0011", "0012"]


def test_a_fresh_database_passes_the_check(database, capsys):
    assert main(["check", "--database-url", f"sqlite:///{database}"]) == 0
    assert "schema check: OK" in capsys.readouterr().out


def test_applying_twice_changes_nothing(database):
    with connect(str(database)) as conn:
        assert apply_migrations(conn) == []
        assert check_schema(conn) == []


def test_a_missing_index_fails_the_check_and_names_it(database, capsys):
    with connect(str(database)) as conn:
        conn.execute("DROP INDEX idx_ai_jobs_owner_created_at")

    assert main(["check", "--database-url", f"sqlite:///{database}"]) == 1
    out = capsys.readouterr().out
    assert "FAIL index idx_ai_jobs_owner_created_at on ai_jobs(owner_type, owner_ref, created_at) is missing" in out


def test_an_index_on_the_wrong_columns_fails(database):
    with connect(str(database)) as conn:
        conn.execute("DROP INDEX idx_ai_jobs_status")
        conn.execute("CREATE INDEX idx_ai_jobs_status ON ai_jobs(created_at)")
        problems = check_schema(conn)

    assert problems == ["index idx_ai_jobs_status covers ai_jobs(created_at), expected ai_jobs(status)"]


def test_a_wrong_plan_default_fails(tmp_path):
    path = tmp_path / "old.db"
    with connect(str(path)) as conn:
        apply_migrations(conn)
        conn.executescript("""
            PRAGMA foreign_keys = OFF;
            CREATE TABLE users_new (id TEXT PRIMARY KEY, name TEXT NOT NULL, username TEXT NOT NULL UNIQUE,
              full_name TEXT, email TEXT NOT NULL UNIQUE, image TEXT,
              created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, plan TEXT DEFAULT 'pro');
            DROP TABLE users; ALTER TABLE users_new RENAME TO users;
        """)
        problems = check_schema(conn)

    assert problems == ["column users.plan must be NOT NULL DEFAULT 'free' (default is 'pro')"]


def test_an_unmigrated_database_lists_everything_missing(tmp_path):
    path = tmp_path / "empty.db"
    with connect(str(path)) as conn:
        problems = check_schema(conn)

    assert problems[0].startswith("migrations not applied: 0000_create_users.sql")
    assert "table ai_jobs is missing" in problems


def test_the_console_script_exits_non_zero_on_failure(database):
    with connect(str(database)) as conn:
        conn.execute("DROP INDEX idx_subscriptions_user")
    script = [sys.executable, "-m", "enhancer.adapters.sql.cli", "check", "--database-url", f"sqlite:///{database}"]

    result = subprocess.run(script, capture_output=True, text=True, check=False)

    assert result.returncode == 1
    assert "idx_subscriptions_user" in result.stdout


def test_guest_jobs_are_allowed_and_must_not_carry_a_user(database):
    with connect(str(database)) as conn:
        conn.execute("INSERT INTO ai_jobs (id, owner_type, owner_ref, provider) VALUES ('j1', 'guest', 'k', 'local')")
        with pytest.raises(Exception, match="CHECK constraint failed"):
            conn.execute("INSERT INTO ai_jobs (id, owner_type, owner_ref, provider) VALUES ('j2', 'user', 'k', 'x')")


def test_the_migration_function_applies_then_checks(tmp_path, monkeypatch):
    from enhancer import bootstrap
    from local.events import LambdaContext
    from local.gateway import load_handler
    from local.template import ROOT

    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'efs.db'}")
    bootstrap.reset()
    handler = load_handler(ROOT / "functions" / "migrate", "app.handler", "MigrateFunction")

    check_only = handler({"apply": False}, LambdaContext("MigrateFunction", "r1"))
    applied = handler({}, LambdaContext("MigrateFunction", "r2"))
    again = handler({}, LambdaContext("MigrateFunction", "r3"))

    assert check_only["ok"] is False and check_only["applied"] == []
    assert applied == {"ok": True, "applied": [m.name for m in migrations()], "problems": []}
    assert again == {"ok": True, "applied": [], "problems": []}
    bootstrap.reset()
