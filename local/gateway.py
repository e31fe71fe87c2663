"""What `sam local start-api` does, without containers: route by template.yaml, invoke the real handlers
with payload 2.0 events, enforce Lambda's 6 MB limits, and serve `web/` and the API's OpenAPI document
(`docs/openapi.json` at `/openapi.json`)."""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import json
import mimetypes
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from enhancer.domain.errors import MethodNotAllowed
from enhancer.http.envelope import error_headers, error_type_for, http_status
from enhancer.http.route_table import PathTemplate, allowed_methods, decode_path, path_template
from enhancer.http.security import HTML_CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from local.events import LambdaContext, http_event, response_parts
from local.template import HttpRoute

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # request and response, encoding included
MAX_DRAINED_BODY = 64 * 1024 * 1024
SERVED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # what the API can route
WEB_ROOT_METHODS = ("GET", "HEAD")  # what every path outside the API serves
# The whole API's OpenAPI 3.1 document (`python -m ops.openapi` writes it): served beside the web page, outside the
# API's paths. No function serves a schema (`create_app` disables FastAPI's), so the deployed API answers 404 here.
OPENAPI_PATH = "/openapi.json"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def load_handler(code_uri: Path, handler: str, function_id: str) -> Handler:
    """Import a function's handler module from its CodeUri under a unique name, as its own Lambda would."""
    module_name, _, attribute = handler.rpartition(".")
    spec = importlib.util.spec_from_file_location(f"functions_{function_id}_{module_name}",
                                                  code_uri / f"{module_name.replace('.', '/')}.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {handler} from {code_uri}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as a real import does; pydantic resolves annotations through it
    spec.loader.exec_module(module)
    return getattr(module, attribute)


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    template: PathTemplate | None  # None: `$default`
    rank: tuple[int, int, int]


def _compile(route: HttpRoute) -> CompiledRoute:
    if route.path == "$default":
        return CompiledRoute(route, None, (9, 0, 0))
    template = path_template(route.path)
    # API Gateway prefers literal paths, then fewer variables, then an exact method over ANY.
    rank = (template.greedy, template.variables, 1 if route.method == "ANY" else 0)
    return CompiledRoute(route, template, rank)


class Router:
    def __init__(self, routes: list[HttpRoute]) -> None:
        self._routes = sorted((_compile(r) for r in routes), key=lambda c: c.rank)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for a path already decoded (`decode_path`); its parameters are parts of it, not decoded again."""
        for compiled in self._routes:
            route = compiled.route
            if route.method not in ("ANY", method):
                continue
            if compiled.template is None:
                return route, {}
            parameters = compiled.template.match(path)
            if parameters is not None:
                return route, parameters
        return None


class Gateway:
    def __init__(self, routes: list[HttpRoute], handlers: dict[str, Handler], web_root: Path | None,
                 upload_origin: str | None = None, client_ip_header: str | None = None,
                 openapi_document: Path | None = None) -> None:
        self.router = Router(routes)
        self.openapi_document = openapi_document
        # GATEWAY_CLIENT_IP_HEADER: the request header that names the client's address, as a load balancer in
        # front would. For the browser tests, whose contexts all connect from 127.0.0.1 but stand for different
        # people (the per-IP limits would otherwise count them as one); never set by `make dev`.
        self.client_ip_header = client_ip_header.lower() if client_ip_header else None
        self.handlers = handlers
        self.web_root = web_root.resolve() if web_root else None
        # Locally S3 is moto, plain http on another port, not https S3: the browser posts large files to it, and
        # the image proxy redirects there for results too large for a Lambda response.
        self.html_policy = HTML_CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self' https:", f"connect-src 'self' https: {upload_origin}").replace(
            "img-src 'self' data: blob: https:", f"img-src 'self' data: blob: https: {upload_origin}") \
            if upload_origin else HTML_CONTENT_SECURITY_POLICY

    def client_ip(self, peer: str, claimed: str | None) -> str:
        """The address the functions see: the peer's, or the configured header's when it holds an address."""
        if self.client_ip_header and claimed:
            try:
                return str(ipaddress.ip_address(claimed.strip()))
            except ValueError:
                pass
        return peer

    def static_file(self, method: str, path: str) -> Path | None:
        """The file under the web root a decoded path names, or None (then the path is routed)."""
        if self.web_root is None or method not in WEB_ROOT_METHODS or path.startswith(("/api/", "/r2-ai/")):
            return None
        try:
            candidate = (self.web_root / (path.lstrip("/") or "index.html")).resolve()
            if candidate.is_dir():
                candidate = candidate / "index.html"
            if not candidate.is_relative_to(self.web_root) or not candidate.is_file():
                return None
        except (OSError, ValueError):  # a NUL byte, a name too long: no file can have it
            return None
        return candidate

    def openapi(self, method: str, path: str) -> bytes | None:
        """The OpenAPI document for a GET or HEAD of `/openapi.json`, read on every request (a regenerated file
        is served at once), or None (then the path is routed: the 404 envelope)."""
        if path != OPENAPI_PATH or method not in WEB_ROOT_METHODS or self.openapi_document is None:
            return None
        try:
            return self.openapi_document.read_bytes()
        except OSError:
            return None

    def invoke(self, route: HttpRoute, event: dict[str, Any]) -> dict[str, Any]:
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            # Mangum expects the thread to have a loop; Lambda's single thread always has one.
            asyncio.set_event_loop(asyncio.new_event_loop())
        context = LambdaContext(function_name=route.function_id, aws_request_id=str(uuid.uuid4()))
        return self.handlers[route.function_id](event, context)


class _BadFraming(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _envelope(status: int, message: str) -> bytes:
    error_type = error_type_for(status)
    return json.dumps({"success": False, "error": {"type": error_type, "message": message}}).encode()


def make_request_handler(gateway: Gateway, quiet: bool = False) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "enhancer-local"
        sys_version = ""
        # Seconds any one read or write on the client's socket may wait (the request line, headers, body, an idle
        # kept-alive connection): a client that announces a Content-Length and stalls is dropped instead of
        # holding its thread forever. Longer than any function runs; a function's run waits on no socket.
        timeout = 60

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Silenced: `_handle` writes one line per request with the function and the timing."""

        def __getattr__(self, name: str) -> Any:
            # Every method reaches _handle, which answers the API's 405 where the standard library would send
            # its own 501 page for a method without a do_* of its own.
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The standard library's own refusals (414, 431, a bad request line) as the API's envelope with
            the security headers, instead of its bare HTML page; it closes the connection after them."""
            if self.request_version == "HTTP/0.9":  # the version could not be read: answer HTTP/1.1 all the same
                self.request_version = self.protocol_version
            self.close_connection = True
            self._error(code, message or self.responses.get(code, ("Error",))[0])

        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool = False) -> None:
            """Every answer, a function's or the gateway's own: the security headers (and the CSP on HTML) are
            added where it has none of its own, as the functions' middleware does."""
            given = {name.lower(): value for name, value in headers}
            added = [(name, value) for name, value in SECURITY_HEADERS if name.lower() not in given]
            if given.get("content-type", "").startswith("text/html") and "content-security-policy" not in given:
                added.append(("Content-Security-Policy", gateway.html_policy))
            self.send_response(status)
            for name, value in [*headers, *added]:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            if "content-length" in given and head:
                self.send_header("Content-Length", given["content-length"])
            else:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _read_body(self) -> bytes | None:
            """The request body, or None when it is larger than a Lambda function can receive. A body
            without a usable length is refused (and the connection closed) with _BadFraming."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                raise _BadFraming(411, "Send the body with a Content-Length")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                raise _BadFraming(400, "Invalid Content-Length")
            if length > LAMBDA_PAYLOAD_LIMIT:
                # Read what a client may reasonably still send, so it sees the 413 instead of a reset.
                remaining = length if length <= MAX_DRAINED_BODY else 0
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                self.close_connection = remaining > 0 or length > MAX_DRAINED_BODY
                return None
            return self.rfile.read(length) if length else b""

        def _error(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
            # no-store, as the functions' pipeline sends with every error (the document requires it).
            self._send(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers],
                       _envelope(status, message), head=self.command == "HEAD")

        def _too_large(self) -> None:
            self._error(413, "Request body too large: a Lambda function accepts at most 6 MB including base64 "
                        "encoding (about 4.5 MB of image). Upload large images with POST /api/ai-image/uploads "
                        "and send the returned uploadKey instead.")

        def _handle(self) -> None:
            started = time.perf_counter()
            method = self.command  # case-sensitive, as HTTP methods are: "get" is not GET
            target = urlsplit(self.path)
            # API Gateway decodes the path once, before routing, and hands the functions that form (rawPath):
            # files, routes, path parameters and the event all see this and nothing decodes it again.
            path, raw_query = decode_path(target.path or "/"), target.query
            try:
                body = self._read_body()
            except _BadFraming as refused:
                self._error(refused.status, refused.message)
                return
            if body is None:
                self._too_large()
                return
            if method not in SERVED_METHODS:
                refused = MethodNotAllowed(allowed_methods(path) or WEB_ROOT_METHODS)
                self._error(http_status(refused), refused.message, tuple(error_headers(refused).items()))
                return
            if path == "/_local/ready":
                self._send(200, [("Content-Type", "text/plain")], b"ready")
                return
            document = gateway.openapi(method, path)
            if document is not None:
                self._send(200, [("Content-Type", "application/json"), ("Cache-Control", "no-cache")], document,
                           head=method == "HEAD")
                return
            static = gateway.static_file(method, path)
            if static is not None:
                content_type = mimetypes.guess_type(static.name)[0] or "application/octet-stream"
                self._send(200, [("Content-Type", content_type), ("Cache-Control", "no-cache")], static.read_bytes(),
                           head=method == "HEAD")
                return
            matched = gateway.router.match(method, path)
            if matched is None:
                self._send(404, [("Content-Type", "application/json")], b'{"message":"Not Found"}')
                return
            route, path_parameters = matched
            client_ip = gateway.client_ip(self.client_address[0], self.headers.get(gateway.client_ip_header or ""))
            # API Gateway sets the X-Forwarded-* headers itself, overriding whatever the client sent.
            forwarded = {"x-forwarded-proto": "http", "x-forwarded-for": client_ip,
                         "x-forwarded-port": str(self.server.server_address[1])}
            headers = [(k, v) for k, v in self.headers.items()
                       if k.lower() not in forwarded and k.lower() != gateway.client_ip_header]
            event = http_event(method=method, raw_path=path, raw_query=raw_query, route_key=route.route_key,
                               headers=[*headers, *forwarded.items()], body=body, path_parameters=path_parameters,
                               source_ip=client_ip)
            if len(json.dumps(event)) > LAMBDA_PAYLOAD_LIMIT:
                self._too_large()
                return
            try:
                result = gateway.invoke(route, event)
            except Exception:
                traceback.print_exc()
                self._send(500, [("Content-Type", "application/json")], b'{"message":"Internal Server Error"}')
                return
            if len(json.dumps(result)) > LAMBDA_PAYLOAD_LIMIT:
                sys.stderr.write(f"[gateway] {route.function_id} returned more than 6 MB: Lambda would fail this\n")
                self._send(502, [("Content-Type", "application/json")], b'{"message":"Internal Server Error"}')
                return
            status, headers, payload = response_parts(result)
            self._send(status, headers, payload, head=method == "HEAD")
            if not quiet:
                elapsed = (time.perf_counter() - started) * 1000
                sys.stderr.write(f"[gateway] {method} {path} -> {route.function_id} {status} {elapsed:.1f} ms\n")

    return RequestHandler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of parallel clients overflows it, their SYNs are dropped
    # and they stall on retransmits or are reset. The kernel caps this at net.core.somaxconn.
    request_queue_size = 1024


def serve(gateway: Gateway, host: str, port: int, quiet: bool = False) -> ThreadingHTTPServer:
    return _Server((host, port), make_request_handler(gateway, quiet))
