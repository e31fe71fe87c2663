"""The local stack's gate in front of moto (local/s3_upload_gate.py): which requests it takes for browser form
uploads and checks, and how it reads them, with a stand-in for moto that records what reaches it. Also the local
gateway's socket timeout (local/gateway.py), the other front door that reads a client's body as it streams.

The product's own forms come from botocore (S3ImageStore.presigned_post) against the real clock; the SDK calls
that must still reach moto are the ones botocore itself builds, captured before they are sent.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from enhancer.adapters.s3_store import S3ImageStore
from local.gateway import Gateway, make_request_handler, serve
from local.s3_upload_gate import PostPolicyMiddleware
from local.samples import s3_form

BUCKET = "enhancer-local-images"
KEY = "ai-enhancer/uploads/guest/owner-a/2d0c8f2e.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
BOUNDARY = "gate-test-boundary"
SIGV4_HEADER = ("AWS4-HMAC-SHA256 Credential=testing/20260115/us-east-1/s3/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=abc")


class Moto:
    """Stands in for moto: records every request that reaches it (and its body, read to the end) and stores."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.requests.append((environ, environ["wsgi.input"].read()))
        start_response("204 No Content", [])
        return []


@pytest.fixture
def moto() -> Moto:
    return Moto()


@pytest.fixture
def gate(moto: Moto) -> Client:
    return Client(PostPolicyMiddleware(moto, secret_for={"testing": "testing"}.get, region="us-east-1"))


def s3_client(addressing: str = "path", endpoint: str = "http://127.0.0.1:5000", service: str = "s3"):
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 aws_session_token="testing", region_name="us-east-1").client(
        service, endpoint_url=endpoint, config=Config(s3={"addressing_style": addressing}, signature_version="s3v4",
                                                      retries={"max_attempts": 1}))


def product_fields(key: str = KEY, bucket: str = BUCKET) -> list[tuple[str, str]]:
    """The fields of the product's own presigned POST, signed by botocore now (valid for ten minutes)."""
    post = S3ImageStore(s3_client(), bucket).presigned_post(key, "image/png", 10 * 1024 * 1024, 600)
    return list(post["fields"].items())


def multipart(fields: list[tuple[str, str]], after: list[tuple[str, str]] | None = None,
              content: bytes = PNG) -> bytes:
    return s3_form(fields, content, boundary=BOUNDARY, after=after)

FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def post(gate: Client, body: bytes, *, path: str = f"/{BUCKET}", host: str = "127.0.0.1:5000",
         content_type: str = FORM_TYPE, headers: dict[str, str] | None = None, query: str = ""):
    return gate.open(path, base_url=f"http://{host}", method="POST", data=body, content_type=content_type,
                     headers=headers or {}, query_string=query)


def s3_error(response) -> str | None:
    return ET.fromstring(response.data).findtext("Code")  # noqa: S314 - the gate's own answer


# --- 1. A form upload is one whatever its headers say ---------------------------------------------------------

@pytest.mark.parametrize("headers, content_type, query", [
    ({"Authorization": SIGV4_HEADER}, FORM_TYPE, ""),
    ({"X-Amz-Target": "AmazonS3.PutObject"}, FORM_TYPE, ""),
    ({"Authorization": "AWS testing:c2lnbmF0dXJl"}, FORM_TYPE, ""),  # SigV2 header
    ({"Authorization": SIGV4_HEADER}, f"Multipart/Form-Data; boundary={BOUNDARY}", ""),  # werkzeug parses it
    ({"Authorization": SIGV4_HEADER}, FORM_TYPE, "delete"),  # moto reads no XML from a form: it stores the file
], ids=["sigv4 header", "x-amz-target", "sigv2 header", "mixed-case type", "signed ?delete"])
def test_a_form_with_signed_looking_headers_is_still_checked(gate, moto, headers, content_type, query):
    """moto checks no signature: a header is no reason to store an unsigned form."""
    response = post(gate, multipart([("key", KEY), ("Content-Type", "image/png")]), content_type=content_type,
                    headers=headers, query=query)

    assert response.status_code == 403, response.data
    assert s3_error(response) == "AccessDenied"
    assert moto.requests == []


@pytest.mark.parametrize("headers", [{"Authorization": SIGV4_HEADER}, {"X-Amz-Target": "AmazonS3.PutObject"}],
                         ids=["sigv4 header", "x-amz-target"])
def test_a_post_to_the_bucket_that_is_neither_a_form_nor_delete_objects_is_refused(gate, moto, headers):
    """moto stores `key`/`file` from a urlencoded body (or the URL, or the headers) of any POST to a bucket but
    DeleteObjects; S3 takes every other POST to a bucket for a form upload and answers 412."""
    response = post(gate, f"key={KEY}&file=hello".encode(), content_type="application/x-www-form-urlencoded",
                    headers=headers)

    assert response.status_code == 412, response.data
    assert s3_error(response) == "PreconditionFailed"
    assert moto.requests == []


class _Sent(Exception):
    pass


def sdk_request(client, operation: str, **params: Any):
    """The request botocore builds and signs for one call, captured instead of sent."""
    captured = []

    def capture(request, **_: Any) -> None:
        captured.append(request)
        raise _Sent

    client.meta.events.register("before-send", capture)
    with pytest.raises(_Sent):
        getattr(client, operation)(**params)
    return captured[0]


@pytest.mark.parametrize("addressing, endpoint", [("path", "http://127.0.0.1:5000"),
                                                  ("virtual", "http://localhost:5000")])
@pytest.mark.parametrize("operation, params", [
    ("put_object", {"Bucket": BUCKET, "Key": KEY, "Body": PNG}),
    ("delete_objects", {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": KEY}]}}),
    ("create_multipart_upload", {"Bucket": BUCKET, "Key": KEY}),
    ("upload_part", {"Bucket": BUCKET, "Key": KEY, "UploadId": "u1", "PartNumber": 1, "Body": PNG}),
    ("complete_multipart_upload", {"Bucket": BUCKET, "Key": KEY, "UploadId": "u1",
                                   "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e"'}]}}),
])
def test_the_sdks_own_calls_reach_moto_untouched(gate, moto, addressing, endpoint, operation, params):
    request = sdk_request(s3_client(addressing, endpoint), operation, **params)
    url = urlsplit(request.url)
    body = request.body if isinstance(request.body, bytes) else (request.body or b"")
    if hasattr(body, "read"):
        body = body.read()
    headers = {name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()
               if name.lower() not in ("host", "content-length", "content-type")}

    response = gate.open(url.path, base_url=f"http://{url.netloc}", method=request.method, data=body,
                         query_string=url.query, headers=headers,
                         content_type=request.headers.get("Content-Type", b"").decode() or None)

    assert response.status_code == 204, response.data
    assert [(environ["REQUEST_METHOD"], environ["PATH_INFO"], seen) for environ, seen in moto.requests] == [
        (request.method, url.path, body)]


def test_another_services_call_on_a_host_that_looks_virtual_reaches_moto(gate, moto):
    """moto routes a signed request by its credential's service: DynamoDB's `POST /`, even on a host moto's S3
    would read a bucket from, is no upload."""
    request = sdk_request(s3_client(endpoint="http://dev-box.lan:5000", service="dynamodb"), "put_item",
                          TableName="t", Item={"PK": {"S": "a"}})

    response = gate.open("/", base_url="http://dev-box.lan:5000", method="POST", data=request.body,
                         content_type="application/x-amz-json-1.0",
                         headers={name: value.decode() if isinstance(value, bytes) else value
                                  for name, value in request.headers.items()
                                  if name.lower() not in ("host", "content-length", "content-type")})

    assert response.status_code == 204 and len(moto.requests) == 1


# --- 2. Virtual-host addressing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [f"{BUCKET}.s3.amazonaws.com", f"{BUCKET}.s3.us-east-1.amazonaws.com",
                                  f"{BUCKET}.localhost:5000", f"{BUCKET}.127.0.0.1.nip.io:5000"])
def test_a_form_posted_to_a_virtual_host_is_checked(gate, moto, host):
    response = post(gate, multipart([("key", KEY), ("Content-Type", "image/png")]), path="/", host=host)

    assert response.status_code == 403, response.data
    assert s3_error(response) == "AccessDenied"
    assert moto.requests == []


def test_the_bucket_of_a_virtual_host_is_the_one_checked(gate, moto):
    body = multipart(product_fields())

    mine = post(gate, body, path="/", host=f"{BUCKET}.localhost:5000")
    other = post(gate, body, path="/", host="someone-elses-bucket.s3.amazonaws.com")

    assert mine.status_code == 204, mine.data
    assert other.status_code == 403 and b'["eq", "$bucket", "enhancer-local-images"]' in other.data
    assert [seen for _, seen in moto.requests] == [body]


@pytest.mark.parametrize("host, path", [
    ("127.0.0.1:5000", "/"), ("localhost:5000", "/"), ("s3.amazonaws.com", "/"),  # path style: no bucket
    ("s3.us-east-1.amazonaws.com", "/"), (f"{BUCKET}.localhost:5000", "/photo.png"),  # a key: moto stores nothing
    ("127.0.0.1:5000", f"/{BUCKET}/photo.png"), ("127.0.0.1:5000", "/moto-api/reset"),
])
def test_a_post_moto_takes_for_no_bucket_upload_passes(gate, moto, host, path):
    body = multipart([("key", KEY)])

    response = post(gate, body, path=path, host=host)

    assert response.status_code == 204, response.data
    assert [seen for _, seen in moto.requests] == [body]


# --- 3. Bounded memory ------------------------------------------------------------------------------------------

class SlowStream:
    """A request body made as it is read, so the test itself holds none of it."""

    def __init__(self, head: bytes, filler: int) -> None:
        self.head, self.remaining = head, len(head) + filler
        self.length = self.remaining

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size < 0 else min(size, self.remaining)
        chunk, self.head = self.head[:size], self.head[size:]
        chunk += b"a" * (size - len(chunk))
        self.remaining -= size
        return chunk


def test_a_part_header_after_the_file_that_never_ends_is_refused_in_bounded_memory(moto):
    head = multipart(product_fields()).removesuffix(f"--{BOUNDARY}--\r\n".encode()) + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"\r\nX-Pad: ').encode()
    stream = SlowStream(head, 20 * 1024 * 1024)
    environ = EnvironBuilder(f"/{BUCKET}", base_url="http://127.0.0.1:5000", method="POST").get_environ()
    environ.update({"wsgi.input": stream, "CONTENT_LENGTH": str(stream.length), "CONTENT_TYPE": FORM_TYPE})
    app = PostPolicyMiddleware(moto, secret_for={"testing": "testing"}.get, region="us-east-1")
    post(Client(app), multipart([("key", KEY)]))  # imports and caches warmed outside the measure
    moto.requests.clear()

    tracemalloc.start()
    try:
        answer, status, _ = run_wsgi_app(app, environ, buffered=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status.startswith("400") and ET.fromstring(b"".join(answer)).findtext(  # noqa: S314
        "Code") == "MalformedPOSTRequest"
    assert stream.remaining == 0  # read to its end: the client gets the answer, not a reset
    assert peak < 4 * 1024 * 1024, f"{peak / 1024 / 1024:.1f} MiB held for a 20 MiB header"
    assert moto.requests == []


# --- 4. Fields after the file -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("acl", "public-read"), ("x-amz-meta-owner", "someone"), ("X-Amz-Meta-Owner", "someone"),
    ("success_action_redirect", "https://example.com/"), ("success_action_status", "201"),
    ("content-type", "text/html"),  # another spelling than the signed field's: moto applies it
    ("Cache-Control", "public, max-age=31536000"),
])
def test_a_field_after_the_file_that_moto_would_apply_is_not_implemented(gate, moto, name, value):
    """S3 ignores the fields after the file; moto applies them, so the local stack cannot store as S3 would."""
    response = post(gate, multipart(product_fields(), after=[(name, value)]))

    assert response.status_code == 501, response.data
    assert s3_error(response) == "NotImplemented"
    assert b"before 'file'" in response.data
    assert moto.requests == []


@pytest.mark.parametrize("name, value", [("submit", "Upload to Amazon S3"), ("x-ignore-note", "n"),
                                         ("Content-Type", "text/html")])  # moto too reads the first value only
def test_a_field_after_the_file_that_moto_ignores_too_is_stored_as_s3_would(gate, moto, name, value):
    body = multipart(product_fields(), after=[(name, value)])

    response = post(gate, body)

    assert response.status_code == 204, response.data
    assert [seen for _, seen in moto.requests] == [body]


def test_the_products_form_reaches_moto_byte_for_byte(gate, moto):
    body = multipart(product_fields())

    response = post(gate, body)

    assert response.status_code == 204, response.data
    assert [seen for _, seen in moto.requests] == [body]


# --- 5. The local gateway's socket timeout ----------------------------------------------------------------------

def test_the_gateway_times_out_idle_sockets_after_longer_than_any_function_runs():
    timeout = make_request_handler(Gateway([], {}, None)).timeout

    assert timeout is not None and 30 <= timeout <= 300  # past API Gateway's 30 s cut, and finite


def test_the_gateway_drops_a_client_that_stalls_mid_body(monkeypatch):
    server = serve(Gateway([], {}, None), "127.0.0.1", 0, quiet=True)
    monkeypatch.setattr(server.RequestHandlerClass, "timeout", 0.2)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address, timeout=5) as connection:
            connection.sendall(b"POST /api/ai-image/uploads HTTP/1.1\r\nHost: local\r\nContent-Length: 100\r\n\r\n"
                               + uuid.uuid4().hex[:10].encode())
            started = time.monotonic()
            assert connection.recv(1024) == b""  # closed by the server, not by this client's own 5 s
            assert time.monotonic() - started < 4
    finally:
        server.shutdown()
        server.server_close()
