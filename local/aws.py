"""moto's in-process server with the table and bucket created from template.yaml's own definitions."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from local.s3_upload_gate import PostPolicyMiddleware
from local.template import resource_properties

REGION = "us-east-1"
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto's well-known fake, never a real key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalAws:
    endpoint: str
    server: Any

    def stop(self) -> None:
        self.server.stop()


def use_fake_credentials() -> None:
    """moto accepts any credentials; real ones must never be picked up by accident."""
    for name, value in {"AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
                        "AWS_SESSION_TOKEN": "testing", "AWS_REGION": REGION,
                        "AWS_DEFAULT_REGION": REGION}.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)


_dynamodb_serialised = False


def serialise_dynamodb() -> None:
    """Make moto's DynamoDB apply each request atomically, as DynamoDB does.

    moto checks a condition and then writes without a lock, and a failed transaction restores a copy of the
    whole table; requests on several threads (the gateway's, or a concurrency test's) could interleave there
    and break the per-item atomicity the ledger relies on. One lock around the backend's operations restores
    it. This patches moto's private backend class, which is why moto is pinned exactly.
    """
    global _dynamodb_serialised
    if _dynamodb_serialised:
        return
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name, member in list(vars(DynamoDBBackend).items()):
        if callable(member) and not name.startswith("_") and not isinstance(member, staticmethod | classmethod):
            setattr(DynamoDBBackend, name, locked(member))
    _dynamodb_serialised = True


class MotoServer:
    """What moto's ThreadedMotoServer does (its WSGI app, request handler, a thread), with the app wrapped in
    PostPolicyMiddleware. ThreadedMotoServer builds its app inside its thread and offers no way to wrap it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = PostPolicyMiddleware(DomainDispatcherApplication(create_backend_app),
                                   secret_for={FAKE_ACCESS_KEY_ID: FAKE_SECRET_ACCESS_KEY}.get, region=REGION)
        class Handler(MotoRequestHandler):  # type: ignore[misc, valid-type]
            timeout = 60  # a client that stalls mid-upload must not hold a thread forever (as in local/gateway.py)

        self._server = make_server(host, port, app, threaded=True, request_handler=Handler)
        self.port = self._server.server_port
        self._thread: Any = None

    def start(self) -> None:
        import threading

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._server.server_close()


def start_moto() -> LocalAws:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call would drown the gateway's
    serialise_dynamodb()
    server = MotoServer("127.0.0.1", 0)  # bound here, to a port of the system's choosing
    server.start()
    endpoint = f"http://127.0.0.1:{server.port}"
    # Step Functions inside moto calls other services through this port.
    os.environ["MOTO_PORT"] = str(server.port)
    _configure(endpoint)
    return LocalAws(endpoint=endpoint, server=server)


def _configure(endpoint: str) -> None:
    """Run state machines for real, and never try Docker for Lambda tasks."""
    import json
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
        f"{endpoint}/moto-api/config", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a loopback URL we built
        response.read()


def create_table(dynamodb: Any, table_name: str) -> None:
    props = resource_properties("DataTable")
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": bool(ttl.get("Enabled", True))})


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled"),
                                 "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Filter" in rule:
        converted["Filter"] = rule["Filter"]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return converted


def create_bucket(s3: Any, bucket_name: str) -> None:
    """The bucket with the template's encryption, public-access block and lifecycle rules."""
    props = resource_properties("ImagesBucket")
    s3.create_bucket(Bucket=bucket_name)
    encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        s3.put_bucket_encryption(Bucket=bucket_name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]} for rule in encryption]})
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(Bucket=bucket_name, PublicAccessBlockConfiguration={
            key: bool(value) for key, value in block.items()})
    cors = props.get("CorsConfiguration", {}).get("CorsRules")
    if cors:
        # CloudFormation spells two fields differently from the S3 API.
        renamed = {"MaxAge": "MaxAgeSeconds", "Id": "ID"}
        s3.put_bucket_cors(Bucket=bucket_name, CORSConfiguration={"CORSRules": [
            {renamed.get(key, key): value for key, value in rule.items()} for rule in cors]})
    rules = props.get("LifecycleConfiguration", {}).get("Rules")
    if rules:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket_name, LifecycleConfiguration={
            "Rules": [_lifecycle_rule(rule) for rule in rules]})


def put_secret_parameter(name: str, value: str) -> None:
    """A SecureString in SSM, as the operator creates it before a deploy."""
    import boto3

    boto3.client("ssm", region_name=REGION).put_parameter(Name=name, Value=value, Type="SecureString",
                                                          Overwrite=True)


def provision(table_name: str, bucket_name: str) -> None:
    """Create the stack's AWS resources in whatever endpoint AWS_ENDPOINT_URL points at."""
    import boto3

    create_table(boto3.client("dynamodb", region_name=REGION), table_name)
    create_bucket(boto3.client("s3", region_name=REGION), bucket_name)
