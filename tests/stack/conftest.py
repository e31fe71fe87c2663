"""Clients and AWS access for the tests against the local stack (`stack` itself: tests/local_stack.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

_addresses = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count())


def client_from(address: str, base_url: str) -> httpx.Client:
    """A client whose requests come from `address` (any of 127.0.0.0/8 reaches the stack on 127.0.0.1)."""
    http = httpx.Client(base_url=base_url, timeout=30, transport=httpx.HTTPTransport(local_address=address))
    http.source_address = address  # type: ignore[attr-defined]  # for clients that must share it
    return http


@pytest.fixture
def client(stack: dict) -> Iterator[httpx.Client]:
    """A fresh browser-like client (own cookie jar) for each test, from a loopback address of its own: the
    limits counted per client IP (rate limits, guests per IP) then start from zero in every test."""
    with client_from(next(_addresses), stack["url"]) as http:
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
