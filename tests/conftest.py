"""Test-wide safety: fake AWS credentials and no endpoint override, set before anything imports boto3."""

import os

for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_SESSION_TOKEN": "testing", "AWS_REGION": "us-east-1",
                      "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
                      "POWERTOOLS_METRICS_NAMESPACE": "EnhancerTest"}.items():
    os.environ[_name] = _value
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

import moto  # noqa: E402,F401  - clients created after this import are intercepted by mock_aws

# `stack`: one local stack for tests/stack and tests/e2e; `postgres_server`, `postgres_url`, `database_url`: a
# throwaway PostgreSQL cluster for the suites that run on both engines.
pytest_plugins = ["tests.local_stack", "tests.postgres_server"]
