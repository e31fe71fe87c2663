"""The local stack (`python -m local`, what `make dev` runs), started once for the whole session and shared by
the stack and browser tests (a pytest plugin of the root conftest, so there is one fixture, not one per folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from local.aws import free_port
from local.template import ROOT

CLIENT_IP_HEADER = "X-Test-Client-Ip"


@contextmanager
def running_stack(workdir: Path, port: int | None = None, **environment: str) -> Iterator[dict]:
    """`python -m local` in a subprocess with `environment` added; yields its state file (url, awsEndpoint, …)."""
    port = port or free_port()
    state_file = workdir / "stack.json"
    # GATEWAY_CLIENT_IP_HEADER: browser contexts all connect from 127.0.0.1 but stand for different people, so
    # each names its address in this header (tests/e2e/conftest.py); the other tests bind addresses of their own.
    env = {**os.environ, "PORT": str(port), "ENVIRONMENT": "development", "GATEWAY_QUIET": "1",
           "GATEWAY_CLIENT_IP_HEADER": CLIENT_IP_HEADER,
           "DATABASE_URL": f"sqlite:///{workdir / 'enhancer.db'}", "LOCAL_STATE_FILE": str(state_file)}
    for name in ("AWS_ENDPOINT_URL", "OWNER_KEY_SECRET", "OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS",
                 "STRIPE_SECRET", "STRIPE_WEBHOOK_SECRET", "PRICING_TABLE", "PRICING_TABLE_ANNUAL",
                 "CREDITS_PRICING_TABLE", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_DOMAIN",
                 "TABLE_NAME", "BUCKET_NAME", "STATE_MACHINE_ARN", "PUBLIC_API_URL", "LOCAL_REPLICATE"):
        env.pop(name, None)
    env.update(environment)
    log = (workdir / "stack.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}", process, workdir / "stack.log")
        yield {**json.loads(state_file.read_text()), "log": str(workdir / "stack.log")}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The stack as `make dev` starts it without a Replicate token: the local engine."""
    with running_stack(tmp_path_factory.mktemp("stack")) as state:
        yield state


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/_local/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the local stack did not become ready:\n{log.read_text()}")
