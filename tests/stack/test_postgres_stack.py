"""The local stack on PostgreSQL (`DATABASE_URL=postgresql://… make dev`) through one full flow: a user signs in,
reads the usage, enhances an image at once, runs a job that Replicate (faked at the HTTP layer) finishes with a
webhook, and upgrades through the development checkout, whose Stripe webhook sets the plan. What the handlers
stored is then read from the PostgreSQL database itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from enhancer.adapters import sql
from local.aws import free_port
from local.fake_replicate import ECHO, FakeReplicate
from local.samples import png_bytes
from tests.local_stack import running_stack
from tests.stack.accounts import pay, sign_in, usage
from tests.stack.conftest import client_from
from tests.stack.jobs import create, path_of, sources, unsafe, wait_for


@pytest.fixture(scope="module")
def database(postgres_server) -> str:
    url = postgres_server.url(f"stack_{uuid.uuid4().hex[:8]}")
    sql.prepare(url)  # the stack migrates it on start, as `make dev` does
    return url


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(delay=0.2) as server:
        server.mode = ECHO
        yield server


@pytest.fixture(scope="module")
def postgres_stack(database, fake, tmp_path_factory) -> Iterator[dict]:
    port = free_port()
    with running_stack(tmp_path_factory.mktemp("postgres-stack"), port, DATABASE_URL=database,
                       ENHANCER_PROVIDER="replicate", REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.url,
                       REPLICATE_WEBHOOK_SECRET=fake.webhook_secret, PUBLIC_API_URL=f"http://127.0.0.1:{port}",
                       GENERATE_DEADLINE_SECONDS="20") as state:
        yield state


def rows(url: str, statement: str, *args: object) -> list[tuple]:
    conn = sql.connect(url)
    try:
        return [tuple(row) for row in conn.execute(statement, args).fetchall()]
    finally:
        conn.close()


def test_a_user_enhances_runs_a_job_and_upgrades_with_everything_stored_in_postgresql(postgres_stack, database,
                                                                                       fake):
    assert sql.migrate_and_check(database, apply=False).ok  # the stack migrated it
    with client_from(next(sources), postgres_stack["url"]) as client:
        user_id = sign_in(client, "postgres@example.com")
        assert usage(client)["plan"] == "free" and usage(client)["usage"]["used"] == 0

        enhanced = client.post("/api/ai-image/generate", data={"model": "real-esrgan"}, headers=unsafe(client),
                               files={"image": ("photo.png", png_bytes(48, 48), "image/png")})
        assert enhanced.status_code == 200, enhanced.text

        job = wait_for(client, create(client).json()["data"]["id"])
        assert job["status"] == "succeeded", job
        assert client.get(path_of(job["output"]["url"])).content.startswith(b"\x89PNG")
        assert any(d.status == 200 for d in fake.deliveries)  # a webhook finished it
        with client_from(next(sources), postgres_stack["url"]) as stranger:
            assert stranger.get(f"/api/ai-image/jobs/{job['id']}").status_code == 403

        checkout = client.post("/api/billing/session", headers=unsafe(client), json={"plan": "pro"})
        assert checkout.status_code == 200, checkout.text
        assert pay(client, checkout.json()["data"]["url"]).status_code == 303
        after = usage(client)
        assert after["plan"] == "pro" and after["usage"]["used"] == 2

    assert rows(database, "SELECT email, plan FROM users WHERE id = ?", user_id) == [("postgres@example.com", "pro")]
    assert rows(database, "SELECT owner_type, status, mode FROM ai_jobs WHERE id = ?", job["id"]) == [
        ("user", "succeeded", "webhook")]
    assert rows(database, "SELECT plan, status FROM subscriptions WHERE user_id = ?", user_id) == [("pro", "active")]
    assert rows(database, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", user_id) == [(1,)]


def test_the_postgresql_stack_answers_a_job_it_does_not_hold_with_404(postgres_stack):
    with client_from(next(sources), postgres_stack["url"]) as client:
        answer = client.get("/api/ai-image/jobs/00000000-0000-4000-8000-000000000000")

    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found"
    assert httpx.get(f"{postgres_stack['url']}/_local/ready").status_code == 200
