"""AWS answered instantly in-process, through botocore's own event hooks on the handlers' shared clients.

Two depths, switchable at run time (`AwsStub.mode`):

- "wire" (`before-send`): botocore validates and serialises the parameters, signs the request (SigV4, S3's
  body checksum), then the hook hands back canned HTTP bytes that botocore parses as it would AWS's answer.
  Only the network is missing: this is what a Lambda instance's CPU pays per request with AWS at zero latency.
- "call" (`before-call`, where botocore's `Stubber` hooks in): botocore validates and serialises the
  parameters, then the hook hands back the parsed response; no signing, no parsing. This is closest to
  "our code only".

A call with no canned reply fails loudly, so a new AWS call on a measured path cannot go unnoticed. Every
call is counted per operation.
"""

from __future__ import annotations

import io
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Parsed = Callable[[], dict[str, Any]]
METADATA = {"RequestId": "BENCH0000000000000000000000000000000000000000000000000", "HTTPStatusCode": 200,
            "HTTPHeaders": {}, "RetryAttempts": 0}


class _RawBody:
    """What botocore reads an HTTP body from: `stream()` for parsed responses, `read()` for streaming ones."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def stream(self, **_: Any) -> Any:
        yield self._buffer.read()

    def read(self, amount: int | None = None) -> bytes:
        return self._buffer.read(amount)

    def close(self) -> None:
        self._buffer.close()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    parsed: Parsed  # what the client returns for this reply (a fresh dict each call)


def dynamodb_reply(document: dict[str, Any]) -> Reply:
    body = json.dumps(document).encode()
    headers = {"x-amzn-RequestId": METADATA["RequestId"], "Content-Type": "application/x-amz-json-1.0",
               "Content-Length": str(len(body)), "x-amz-crc32": str(zlib.crc32(body))}
    return Reply(200, headers, body, lambda: {**json.loads(body), "ResponseMetadata": dict(METADATA)})


def s3_object_reply(data: bytes, content_type: str) -> Reply:
    from botocore.response import StreamingBody

    etag = '"9b2cf535f27731c974343645a3985328"'
    headers = {"x-amz-request-id": "BENCH00000000000", "Content-Type": content_type, "Content-Length": str(len(data)),
               "ETag": etag, "Last-Modified": "Wed, 25 Nov 2026 06:00:00 GMT", "Accept-Ranges": "bytes"}
    return Reply(200, headers, data, lambda: {
        "Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data), "ETag": etag,
        "ContentType": content_type, "AcceptRanges": "bytes", "ResponseMetadata": dict(METADATA)})


def s3_empty_reply(status: int = 200, **fields: str) -> Reply:
    headers = {"x-amz-request-id": "BENCH00000000000", "Content-Length": "0"}
    if "ETag" in fields:
        headers["ETag"] = fields["ETag"]
    return Reply(status, headers, b"", lambda: {**fields, "ResponseMetadata": dict(METADATA)})


def canned_replies(table: str, image: bytes) -> dict[tuple[str, str], Reply]:
    """One reply per operation the measured handlers make, shaped so every caller reads what it needs:
    UpdateItem serves the rate limit (count), the daily window (count, resetAt) and the monthly allowance
    (usedTenths) alike; BatchGetItem is the usage read; GetObject returns `image`."""
    reset_at = int(time.time()) + 86_400
    return {
        ("dynamodb", "UpdateItem"): dynamodb_reply({"Attributes": {
            "count": {"N": "1"}, "resetAt": {"N": str(reset_at)}, "usedTenths": {"N": "10"}}}),
        ("dynamodb", "BatchGetItem"): dynamodb_reply({"Responses": {table: [
            {"pk": {"S": "ai:usage:guest:bench"}, "count": {"N": "1"}, "resetAt": {"N": str(reset_at)}}]},
            "UnprocessedKeys": {}}),
        ("s3", "GetObject"): s3_object_reply(image, "image/png"),
        ("s3", "PutObject"): s3_empty_reply(ETag='"9b2cf535f27731c974343645a3985328"'),
    }


class AwsStub:
    def __init__(self, replies: dict[tuple[str, str], Reply], mode: str = "wire") -> None:
        self.replies = replies
        self.mode = mode
        self.calls: Counter[str] = Counter()

    def install(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}", self._before_call)
        client.meta.events.register(f"before-send.{service}", self._before_send)

    def _reply(self, event_name: str) -> tuple[str, Reply]:
        _, service, operation = event_name.split(".", 2)
        reply = self.replies.get((service, operation))
        if reply is None:
            raise AssertionError(f"no canned reply for {service} {operation}: add one to bench/aws_stub.py")
        return f"{service}.{operation}", reply

    def _before_call(self, event_name: str, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        name, reply = self._reply(event_name)
        self.calls[name] += 1
        if self.mode != "call":
            return None
        from botocore.awsrequest import AWSResponse

        return AWSResponse(None, reply.status, reply.headers, None), reply.parsed()

    def _before_send(self, event_name: str, request: Any, **_: Any) -> Any:
        _, reply = self._reply(event_name)
        from botocore.awsrequest import AWSResponse

        return AWSResponse(request.url, reply.status, dict(reply.headers), _RawBody(reply.body))
