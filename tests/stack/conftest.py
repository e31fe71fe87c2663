"""Clients and AWS access for the tests against the local stack (`stack` itself: tests/local_stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def client(stack: dict) -> Iterator[httpx.Client]:
    """A fresh browser-like client (own cookie jar) for each test."""
    with httpx.Client(base_url=stack["url"], timeout=30) as http:
        yield http


def _aws_client(stack: dict, service: str):
    import boto3

    return boto3.client(service, endpoint_url=stack["awsEndpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def s3(stack: dict):
    return _aws_client(stack, "s3")


@pytest.fixture(scope="session")
def owner_key_secret(stack: dict) -> bytes:
    """The stack keeps its owner-key secret in (moto's) SSM, where the functions read it."""
    from local.__main__ import LOCAL_SECRET_PARAMETER

    parameter = _aws_client(stack, "ssm").get_parameter(Name=LOCAL_SECRET_PARAMETER, WithDecryption=True)
    return parameter["Parameter"]["Value"].encode()
