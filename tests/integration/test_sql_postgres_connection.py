"""What a Lambda execution environment's PostgreSQL connection does when the server drops it or is slow
(`adapters/sql/postgresql.py`): a read or a transaction's BEGIN runs again on a new connection; a write answers
503 and the next statement reconnects; a statement past the database's timeout is cancelled (503) and the
connection stays usable; credentials come from the secret the URL names, never from the URL."""

from __future__ import annotations

import uuid

import boto3
import pytest
from moto import mock_aws

from enhancer.adapters.sql import connect, migrate_and_check, open_accounts, open_jobs
from enhancer.domain.errors import ServiceUnavailable
from tests.integration.test_sql_jobs import job


@pytest.fixture
def url(postgres_url):
    assert migrate_and_check(postgres_url, apply=True).ok
    return postgres_url


def drop_every_other_connection(url: str) -> int:
    """What a failover or the proxy's idle timeout does to the connections the repositories hold."""
    conn = connect(url)
    try:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall())
    finally:
        conn.close()


def backend_pid(repository) -> int:
    return repository._conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_a_read_on_a_dropped_connection_runs_again_on_a_new_one(url):
    jobs = open_jobs(url)
    jobs.insert(job("j1"))
    before = backend_pid(jobs)

    assert drop_every_other_connection(url) == 1
    assert jobs.get("j1").id == "j1"
    assert backend_pid(jobs) != before


def test_a_write_on_a_dropped_connection_answers_503_and_the_next_one_lands(url):
    jobs = open_jobs(url)
    jobs.get("warm")  # the connection is open
    drop_every_other_connection(url)

    with pytest.raises(ServiceUnavailable):
        jobs.insert(job("j1"))  # it may or may not have been sent: never sent twice
    jobs.insert(job("j2"))

    assert jobs.get("j1") is None and jobs.get("j2").id == "j2"


def test_a_transaction_on_a_dropped_connection_begins_again_on_a_new_one(url):
    accounts = open_accounts(url)
    first = accounts.upsert_user("a@example.com", "free")
    drop_every_other_connection(url)

    again = accounts.upsert_user("a@example.com", "pro")

    assert again.user_id == first.user_id and again.user_plan == "pro"


def test_a_statement_past_the_timeout_is_503_and_the_connection_stays(url):
    jobs = open_jobs(url)
    before = backend_pid(jobs)

    with pytest.raises(ServiceUnavailable):
        jobs._conn.execute("SELECT pg_sleep(6)")

    assert backend_pid(jobs) == before


@pytest.fixture
def app_role(url):
    """A role that must log in with a password (the throwaway cluster trusts only `postgres`; roles belong to
    the cluster, so each test has its own): `<role>@127.0.0.1:<port>/<database>`."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    admin = connect(url)
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'from-the-secret-0123'")
        admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    finally:
        admin.close()
    return f"{role}@" + url.split("@", 1)[1]


@pytest.mark.parametrize("stored", ['{"username": "app", "password": "from-the-secret-0123", "engine": "postgres"}',
                                    "from-the-secret-0123"])
def test_the_password_comes_from_the_secret_the_url_names(url, app_role, stored):
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="db-app", SecretString=stored)["ARN"]
        app_url = f"postgresql://{app_role}?credentials={secret}"

        open_jobs(app_url).insert(job("j1"))

    assert open_jobs(url).get("j1").id == "j1"


def test_a_wrong_password_is_503_and_says_nothing_of_it(app_role, logs):
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="db-app", SecretString='{"password": "not-the-password"}')["ARN"]
        app_url = f"postgresql://{app_role}?credentials={secret}"

        with pytest.raises(ServiceUnavailable) as refused:
            open_jobs(app_url).get("j1")

    assert "not-the-password" not in str(refused.value) and app_role.split("@")[0] not in str(refused.value)
    [entry] = [line for line in logs() if line.get("message") == "database_unavailable"]
    assert entry["sqlstate"] == "28P01" and "not-the-password" not in str(entry)


def test_without_credentials_a_role_that_needs_a_password_is_refused(app_role):
    with pytest.raises(ServiceUnavailable):
        open_jobs(f"postgresql://{app_role}").get("j1")
