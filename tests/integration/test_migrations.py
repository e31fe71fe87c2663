"""The migration command applies the numbered migrations; the check command proves their post-conditions. Each
test that is about what the migrations and the check do runs on SQLite and on PostgreSQL (`database_url`)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from enhancer.adapters import sql
from enhancer.adapters.sql.cli import main
from enhancer.adapters.sql.schema import migrations


def url(path) -> str:
    """An SQLite URL, or a URL as it is (the tests that run on both engines hold URLs)."""
    return path if str(path).startswith(("sqlite:", "postgresql:")) else f"sqlite:///{path}"


def run(database: str, *statements: str) -> None:
    conn = sql.connect(database)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def rows(database: str, statement: str) -> list[tuple]:
    conn = sql.connect(database)
    try:
        return [tuple(row) for row in conn.execute(statement).fetchall()]
    finally:
        conn.close()


@pytest.fixture
def database(database_url):
    assert main(["migrate", "--database-url", database_url]) == 0
    return database_url


def dialect_of(database: str) -> str:
    return sql.DatabaseUrl(database).dialect


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migrations_keep_the_old_numbering(dialect):
    assert [m.version for m in migrations(dialect)] == ["0000", "0001", "0008", "0009", "0011", "0012", "0013",
                                                        "0014", "0015", "0016", "0017"]


def test_both_dialects_have_the_same_migrations():
    assert [m.name for m in migrations("sqlite")] == [m.name for m in migrations("postgresql")]


def test_a_fresh_database_passes_the_check(database, capsys):
    assert main(["check", "--database-url", url(database)]) == 0
    assert "schema check: OK" in capsys.readouterr().out


def test_applying_twice_changes_nothing(database):
    report = sql.migrate_and_check(url(database), apply=True)

    assert report.applied == []
    assert report.problems == []


def test_a_missing_index_fails_the_check_and_names_it(database, capsys):
    run(database, "DROP INDEX idx_ai_jobs_owner_created_at")

    assert main(["check", "--database-url", url(database)]) == 1
    out = capsys.readouterr().out
    assert "FAIL index idx_ai_jobs_owner_created_at on ai_jobs(owner_type, owner_ref, created_at) is missing" in out


def test_an_index_on_the_wrong_columns_fails(database):
    run(database, "DROP INDEX idx_ai_jobs_status", "CREATE INDEX idx_ai_jobs_status ON ai_jobs(created_at)")
    problems = sql.migrate_and_check(url(database), apply=False).problems

    assert problems == ["index idx_ai_jobs_status covers ai_jobs(created_at), expected ai_jobs(status)"]


WRONG_PLAN_DEFAULT = {
    # SQLite cannot alter a column's default: the table is rebuilt the way an old schema might have made it.
    "sqlite": ["PRAGMA foreign_keys = OFF",
               "CREATE TABLE users_new (id TEXT PRIMARY KEY, name TEXT NOT NULL, username TEXT NOT NULL UNIQUE, "
               "full_name TEXT, email TEXT NOT NULL UNIQUE, image TEXT, "
               "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, plan TEXT DEFAULT 'pro', cognito_sub TEXT)",
               "DROP TABLE users", "ALTER TABLE users_new RENAME TO users",
               "CREATE UNIQUE INDEX idx_users_cognito_sub ON users(cognito_sub)"],
    "postgresql": ["ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'pro'",
                   "ALTER TABLE users ALTER COLUMN plan DROP NOT NULL"],
}


def test_a_wrong_plan_default_fails(database):
    run(database, *WRONG_PLAN_DEFAULT[dialect_of(database)])

    problems = sql.migrate_and_check(database, apply=False).problems

    assert problems == ["column users.plan must be NOT NULL DEFAULT 'free' (default is 'pro')"]


def test_a_nullable_plan_fails_even_with_the_right_default(postgres_url):
    sql.migrate_and_check(postgres_url, apply=True)
    run(postgres_url, "ALTER TABLE users ALTER COLUMN plan DROP NOT NULL")

    problems = sql.migrate_and_check(postgres_url, apply=False).problems

    assert problems == ["column users.plan must be NOT NULL DEFAULT 'free' (default is 'free')"]


def test_an_unmigrated_database_lists_everything_missing(database_url):
    problems = sql.migrate_and_check(database_url, apply=False).problems

    assert problems[0].startswith("migrations not applied: 0000_create_users.sql")
    assert "table ai_jobs is missing" in problems


def test_the_console_script_exits_non_zero_on_failure(database):
    run(database, "DROP INDEX idx_subscriptions_user")
    script = [sys.executable, "-m", "enhancer.adapters.sql.cli", "check", "--database-url", url(database)]

    result = subprocess.run(script, capture_output=True, text=True, check=False)

    assert result.returncode == 1
    assert "idx_subscriptions_user" in result.stdout


def test_guest_jobs_are_allowed_and_must_not_carry_a_user(database):
    run(database, "INSERT INTO ai_jobs (id, owner_type, owner_ref, provider) VALUES ('j1', 'guest', 'k', 'local')")

    with pytest.raises(Exception, match=r"CHECK constraint failed|23514"):  # 23514: PostgreSQL's check_violation
        run(database, "INSERT INTO ai_jobs (id, owner_type, owner_ref, provider) VALUES ('j2', 'user', 'k', 'x')")
    assert rows(database, "SELECT id FROM ai_jobs") == [("j1",)]


def test_the_migration_function_applies_then_checks(database_url, monkeypatch):
    from enhancer import bootstrap
    from local.events import LambdaContext
    from local.gateway import load_handler
    from local.template import ROOT

    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", database_url)
    bootstrap.reset()
    handler = load_handler(ROOT / "functions" / "migrate", "app.handler", "MigrateFunction")

    check_only = handler({"apply": False}, LambdaContext("MigrateFunction", "r1"))
    applied = handler({}, LambdaContext("MigrateFunction", "r2"))
    again = handler({}, LambdaContext("MigrateFunction", "r3"))

    assert check_only["ok"] is False and check_only["applied"] == []
    assert applied == {"ok": True, "applied": [m.name for m in migrations(dialect_of(database_url))], "problems": []}
    assert again == {"ok": True, "applied": [], "problems": []}
    bootstrap.reset()


def test_check_refuses_a_database_that_does_not_exist(tmp_path, capsys):
    assert main(["check", "--database-url", url(tmp_path / "absent.db")]) == 1

    assert f"FAIL database {tmp_path / 'absent.db'} does not exist" in capsys.readouterr().out
    assert not (tmp_path / "absent.db").exists()


def test_check_refuses_a_postgresql_database_that_does_not_exist(postgres_server, capsys):
    absent = postgres_server.url("absent_database")

    assert main(["check", "--database-url", absent]) == 1

    assert f"FAIL database 127.0.0.1:{postgres_server.port}/absent_database does not exist" in capsys.readouterr().out
    assert not sql.exists(absent)


@pytest.mark.parametrize("refused", ["postgresql://user:pw@db/enhancer", "postgresql://db/enhancer",
                                     "postgresql://u@db/enhancer?sslmode=prefer", "mysql://db/x",
                                     "/mnt/data/enhancer.db"])
def test_the_command_line_refuses_a_url_it_cannot_serve(refused):
    with pytest.raises(SystemExit, match=r"unsupported database URL \(expected sqlite:///<path> or postgresql://"):
        main(["check", "--database-url", refused])


def test_migrate_creates_the_database_folder(tmp_path):
    path = tmp_path / "new" / "folder" / "enhancer.db"

    assert main(["migrate", "--database-url", url(path)]) == 0
    assert sql.exists(url(path))


def test_migrate_creates_the_postgresql_database(postgres_server):
    new = postgres_server.url("created_by_migrate")

    assert not sql.exists(new)
    assert main(["migrate", "--database-url", new]) == 0
    assert sql.exists(new) and sql.migrate_and_check(new, apply=False).ok


def test_the_database_bounds_every_statement_and_the_check_proves_it(postgres_url):
    sql.migrate_and_check(postgres_url, apply=True)

    assert rows(postgres_url, "SHOW statement_timeout") == [("5s",)]  # a new session has it, with no SET
    assert rows(postgres_url, "SHOW idle_in_transaction_session_timeout") == [("30s",)]
    with pytest.raises(Exception, match="busy"):  # cancelled by the server (57014), answered as a 503
        run(postgres_url, "SELECT pg_sleep(6)")
    run(postgres_url, "ALTER DATABASE " + postgres_url.rsplit("/", 1)[1] + " RESET statement_timeout")
    assert sql.migrate_and_check(postgres_url, apply=False).problems == [
        "database setting statement_timeout=5s is not set"]


def test_two_migrators_racing_on_one_database_apply_each_migration_once(postgres_url):
    reports, start = [], threading.Barrier(2)

    def migrate() -> None:
        start.wait()
        reports.append(sql.migrate_and_check(postgres_url, apply=True))

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(reports) == 2 and all(report.ok for report in reports)
    assert sorted(reports[0].applied + reports[1].applied) == sorted(m.name for m in migrations("postgresql"))
    assert len(rows(postgres_url, "SELECT version FROM schema_migrations")) == len(migrations("postgresql"))


def _migrate_handler(tmp_path, monkeypatch, database: str | None = None):
    from enhancer import bootstrap
    from local.gateway import load_handler
    from local.template import ROOT

    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", database or url(tmp_path / "efs.db"))
    bootstrap.reset()
    return load_handler(ROOT / "functions" / "migrate", "app.handler", "MigrateFunction")


def test_the_migration_function_applies_without_a_payload(tmp_path, monkeypatch):
    from local.events import LambdaContext

    handler = _migrate_handler(tmp_path, monkeypatch)

    assert handler(None, LambdaContext("MigrateFunction", "r1"))["applied"] == [m.name for m in migrations()]


@pytest.mark.parametrize("event", [{"apply": "false"}, {"apply": None}, {"apply": []}, ["apply"]])
def test_the_migration_function_refuses_input_that_is_not_a_boolean_apply(tmp_path, monkeypatch, event):
    from enhancer.entrypoints import task_error
    from local.events import LambdaContext

    handler = _migrate_handler(tmp_path, monkeypatch)

    with pytest.raises(task_error("validation_error")) as info:
        handler(event, LambdaContext("MigrateFunction", "r1"))
    assert type(info.value).__name__ == "validation_error"  # Lambda's errorType, what ASL matches
    assert not (tmp_path / "efs.db").exists()  # nothing was opened, let alone migrated


def test_a_missing_sweeper_index_fails_the_check_and_names_it(database):
    run(database, "DROP INDEX idx_ai_jobs_status_deadline")

    problems = sql.migrate_and_check(url(database), apply=False).problems

    assert problems == ["index idx_ai_jobs_status_deadline on ai_jobs(status, deadline_at) is missing"]


def test_a_missing_job_column_fails_the_check_and_names_it(database):
    run(database, "DROP INDEX idx_ai_jobs_status_deadline", "ALTER TABLE ai_jobs DROP COLUMN deadline_at",
        "ALTER TABLE ai_jobs DROP COLUMN reservation_json")

    problems = sql.migrate_and_check(url(database), apply=False).problems

    assert "column ai_jobs.deadline_at is missing" in problems
    assert "column ai_jobs.reservation_json is missing" in problems


def test_a_subscriptions_table_without_the_event_order_columns_fails_the_check(database):
    run(database, "ALTER TABLE subscriptions DROP COLUMN last_event_at")

    problems = sql.migrate_and_check(url(database), apply=False).problems

    assert problems == ["column subscriptions.last_event_at is missing"]


def _database_at_0012(path, monkeypatch):
    """A database the way the previous release left it: every migration up to 0012 applied."""
    from enhancer.adapters.sql import postgres_migrator, sqlite_migrator

    migrator = postgres_migrator if dialect_of(url(path)) == "postgresql" else sqlite_migrator
    with monkeypatch.context() as patch:
        patch.setattr(migrator, "migrations", lambda dialect: [m for m in migrations(dialect) if m.version <= "0012"])
        assert sql.migrate_and_check(url(path), apply=True).applied[-1] == "0012_create_billing_tables.sql"


def test_0013_keeps_the_jobs_a_database_at_0012_holds(database_url, monkeypatch):
    path = database_url
    _database_at_0012(path, monkeypatch)
    conn = sql.connect(url(path))
    try:
        conn.execute("INSERT INTO users (id, name, username, email) VALUES ('u1', 'a', 'a-1', 'a@example.com')")
        conn.execute("INSERT INTO ai_jobs (id, user_id, owner_type, owner_ref, provider, model, status, "
                     "provider_job_id, input_r2_key, output_r2_key, params_json, created_at, updated_at) VALUES "
                     "('old-1', 'u1', 'user', 'u1', 'replicate', 'real-esrgan', 'succeeded', 'pred-9', "
                     "'uploads/u1/a.png', 'results/u1/a.png', '{\"scale\": 4}', '2025-03-01 10:00:00', "
                     "'2025-03-01 10:01:00')")
        conn.execute("INSERT INTO ai_jobs (id, owner_type, owner_ref, provider, status, error_message) VALUES "
                     "('old-2', 'guest', 'k', 'replicate', 'failed', 'upstream said no')")
        before = conn.execute("SELECT * FROM ai_jobs ORDER BY id").fetchall()
    finally:
        conn.close()

    report = sql.migrate_and_check(url(path), apply=True)

    assert report.applied == ["0013_add_job_workflow_columns.sql", "0014_add_subscription_event_order.sql",
                              "0015_add_users_cognito_sub.sql", "0016_create_api_keys.sql",
                              "0017_add_job_callbacks.sql"]
    assert report.problems == []
    after = rows(url(path), "SELECT * FROM ai_jobs ORDER BY id")
    added = rows(url(path), "SELECT mode, reservation_json, cost_tenths, execution_arn, error_type, started_at, "
                            "completed_at, canceled_at, deadline_at FROM ai_jobs")
    assert [row[:len(before[0])] for row in after] == before
    assert added == [(None,) * 9] * 2


def test_the_jobs_of_the_old_system_read_as_jobs_that_reserved_nothing(database_url, monkeypatch):
    from enhancer.domain.jobs import JobStatus, RunMode

    path = database_url
    _database_at_0012(path, monkeypatch)
    run(url(path), "INSERT INTO ai_jobs (id, owner_type, owner_ref, provider, status, error_message, created_at) "
                   "VALUES ('old-2', 'guest', 'k', 'replicate', 'failed', 'upstream said no', '2025-03-01 10:00:00')")
    sql.migrate_and_check(url(path), apply=True)

    old = sql.open_jobs(url(path)).get("old-2")

    assert old is not None and old.status is JobStatus.FAILED and old.mode is RunMode.INLINE
    assert old.reservation.split.total_tenths == 0 and not old.reservation.caps and not old.reservation.credits_taken
    assert old.error is not None and (old.error.type, old.error.message) == ("server_error", "upstream said no")
    assert old.deadline_at == old.created_at == "2025-03-01 10:00:00"
    assert [j.id for j in sql.open_jobs(url(path)).page("guest", "k", status=None, limit=5, after=None)] == ["old-2"]


def test_check_reads_database_url_alone_whatever_else_is_unset(database, monkeypatch, capsys):
    for name in ("OWNER_KEY_SECRET", "OWNER_KEY_SECRET_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "production")  # where every function needs the owner-key secret
    monkeypatch.setenv("DATABASE_URL", database)

    assert main(["check"]) == 0
    assert "schema check: OK" in capsys.readouterr().out


def test_a_database_url_refused_from_the_environment_exits_with_the_reason(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:s3cr3t@db/enhancer")

    with pytest.raises(SystemExit, match="DATABASE_URL: must be sqlite") as refused:
        main(["check"])
    assert "s3cr3t" not in str(refused.value)


def test_a_server_that_cannot_be_reached_fails_the_check_and_says_where(capsys):
    from local.aws import free_port

    port = free_port()  # nothing listens there

    assert main(["check", "--database-url", f"postgresql://postgres@127.0.0.1:{port}/enhancer"]) == 1
    assert f"FAIL database 127.0.0.1:{port}/enhancer cannot be reached" in capsys.readouterr().out


# --- the deploy's migration step: the SchemaMigrations custom resource --------------------------------------------

def _deploy(handler, request_type: str = "Create", *, answers=None):
    """The custom resource's handler called with the event file; CloudFormation's response URL answered at the
    HTTP layer. The JSON document PUT there, and the request that carried it."""
    import json

    import httpx
    import respx

    from local.events import LambdaContext
    from local.samples import EVENTS

    event = json.loads((EVENTS / "migrate-custom-resource-create.json").read_text())
    event["RequestType"] = request_type
    if request_type != "Create":
        event["PhysicalResourceId"] = "SchemaMigrations"
    with respx.mock() as mock:
        route = mock.put(event["ResponseURL"]).mock(side_effect=answers or [httpx.Response(200)])
        assert handler(event, LambdaContext("MigrateFunction", "cr-1")) is None
    request = route.calls.last.request
    return json.loads(request.content), request


def test_the_deploy_step_migrates_and_answers_success(database_url, tmp_path, monkeypatch):
    handler = _migrate_handler(tmp_path, monkeypatch, database_url)

    answer, request = _deploy(handler)

    assert answer["Status"] == "SUCCESS" and answer["Data"] == {"Applied": len(migrations(dialect_of(database_url)))}
    assert (answer["PhysicalResourceId"], answer["LogicalResourceId"]) == ("SchemaMigrations", "SchemaMigrations")
    assert answer["RequestId"] == "5b2e1c4a-8d3f-4a6b-9e7c-1f2a3b4c5d6e" and answer["StackId"].endswith("4e5f")
    assert request.headers["content-type"] == ""  # what the presigned URL was signed for
    assert sql.migrate_and_check(database_url, apply=False).ok


def test_the_deploy_fails_naming_the_missing_index_in_the_stack_events(database, tmp_path, monkeypatch):
    run(database, "DROP INDEX idx_ai_jobs_owner_created_at")
    handler = _migrate_handler(tmp_path, monkeypatch, database)

    answer, _ = _deploy(handler, "Update")

    assert answer["Status"] == "FAILED" and answer["PhysicalResourceId"] == "SchemaMigrations"
    assert answer["Reason"] == ("schema check failed after migrating: index idx_ai_jobs_owner_created_at on "
                                "ai_jobs(owner_type, owner_ref, created_at) is missing")


def test_deleting_the_stack_never_waits_on_the_database(tmp_path, monkeypatch):
    handler = _migrate_handler(tmp_path, monkeypatch)

    answer, _ = _deploy(handler, "Delete")

    assert answer["Status"] == "SUCCESS"
    assert not (tmp_path / "efs.db").exists()  # nothing was opened


def test_a_database_that_cannot_be_reached_fails_the_deploy_with_a_reason(tmp_path, monkeypatch):
    from local.aws import free_port

    port = free_port()
    handler = _migrate_handler(tmp_path, monkeypatch, f"postgresql://postgres@127.0.0.1:{port}/enhancer")

    answer, _ = _deploy(handler)

    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == f"the database at 127.0.0.1:{port}/enhancer cannot be reached"


def test_the_answer_is_sent_again_when_the_response_url_fails_at_first(tmp_path, monkeypatch):
    import httpx

    handler = _migrate_handler(tmp_path, monkeypatch)

    answer, _ = _deploy(handler, answers=[httpx.Response(503), httpx.ConnectError("reset"), httpx.Response(200)])

    assert answer["Status"] == "SUCCESS"


def test_the_template_runs_the_deploy_step_before_the_code_that_reads_the_store():
    from local.template import load_template

    resources = load_template()["Resources"]
    step = resources["SchemaMigrations"]

    assert step["Type"] == "Custom::SchemaMigrations"
    assert step["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert step["Properties"]["Layer"] == {"Ref": "CoreLayer"}  # new code or new migrations: it runs again
    readers = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
               and {"Ref": "DatabaseAccessPolicy"} in r["Properties"].get("Policies", [])]
    assert len(readers) > 10
    for name in readers:
        waits = "SchemaMigrations" in resources[name].get("DependsOn", [])
        assert waits == (name != "MigrateFunction"), name
