"""boto3 clients, created on first use and reused for the life of the process."""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


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
                            parameter_validation=False,
                            s3={"addressing_style": "path"} if service == "s3" else None)
            client = boto3.session.Session().client(service, region_name=region, config=config)
            _clients[service] = client
    return client


def reset_clients() -> None:
    """Forget every client (tests switch endpoints and credentials between cases)."""
    with _lock:
        _clients.clear()
