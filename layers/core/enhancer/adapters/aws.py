"""boto3 clients, created on first use and reused for the life of the process."""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()

# Browsers and Replicate use the URLs and forms the S3 client presigns, so they must be what S3 itself accepts:
# buckets created since 2020 refuse Signature Version 2, which botocore presigns with unless told otherwise, and
# botocore addresses the global s3.amazonaws.com host unless asked for virtual-host addressing and the regional
# us-east-1 endpoint. (A custom endpoint given by IP address, like the local stack's, still gets path style.)
S3_PRESIGNING = {"signature_version": "s3v4",
                 "s3": {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}}


def aws_client(service: str, region: str) -> Any:
    """A shared client; creation is serialised because boto3 sessions are not thread-safe."""
    client = _clients.get(service)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(service)
        if client is None:
            import boto3
            from botocore.config import Config

            # Client-side parameter validation re-checks requests whose shapes are fixed in our code, and AWS
            # validates them again anyway: off, it saves about a tenth of the generate route's own time.
            config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3},
                            parameter_validation=False, **(S3_PRESIGNING if service == "s3" else {}))
            client = boto3.session.Session().client(service, region_name=region, config=config)
            _clients[service] = client
    return client


def reset_clients() -> None:
    """Forget every client (tests switch endpoints and credentials between cases)."""
    with _lock:
        _clients.clear()
