"""The ASGI middleware every function shares: origin + CSRF on unsafe methods (not for a request that presents
an API key, which carries no cookie authority; a key on a route that takes none is refused); security headers,
`no-store` unless the route allows caching, and queued cookies on every response (errors, 405 and 429 included);
and a 500 envelope for anything unexpected."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enhancer.domain.api_keys import bearer_token
from enhancer.domain.errors import AppError, AuthRequired, ConfigurationError, Forbidden, ServiceUnavailable
from enhancer.http.cookies import queued_cookies
from enhancer.http.envelope import failure
from enhancer.http.key_routes import NOT_ACCEPTED, refuses_key
from enhancer.http.security import (
    HTML_CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    UNSAFE_METHODS,
    csrf_problem,
    origin_problem,
)
from enhancer.observability import logger, metrics


def _is_aws_fault(error: BaseException) -> bool:
    return type(error).__module__.startswith(("botocore", "boto3"))


def _raw_path(scope: Scope) -> str:
    """The path API Gateway routed on (`requests.routed_path`, before Starlette has a Request)."""
    return str((scope.get("aws.event") or {}).get("rawPath") or scope.get("path", ""))


class RequestPipeline:
    def __init__(self, app: ASGIApp, *, verify_origin: bool, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.verify_origin = verify_origin
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                # Most answers carry an owner's data (usage, results, upload forms) or an error about them:
                # nothing is cached unless the route says it may be.
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = HTML_CONTENT_SECURITY_POLICY
                for cookie in queued_cookies(scope):
                    headers.append("Set-Cookie", cookie)
            await send(message)

        try:
            if bearer_token(Headers(scope=scope).get("authorization")) is not None:
                # An API key, not a cookie, says who calls: a page on another origin cannot add an Authorization
                # header without a CORS preflight, which this API never grants, so there is nothing to forge and
                # no origin + CSRF check. Where keys are not taken, refused before any work.
                if refuses_key(scope["method"], _raw_path(scope)):
                    await failure(AuthRequired(NOT_ACCEPTED))(scope, receive, send_with_headers)
                    return
            elif self.verify_origin and scope["method"] in UNSAFE_METHODS:
                problem = self._unsafe_request_problem(scope)
                if problem:
                    await failure(Forbidden(problem))(scope, receive, send_with_headers)
                    return
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if started:
                raise
            if _is_aws_fault(error):
                logger.exception("aws_dependency_failed")
                reply: AppError = ServiceUnavailable("A backing service is unavailable, please retry shortly")
            elif isinstance(error, ConfigurationError):
                # A settings group loaded on first use (not at cold start) is invalid: the log names the variable,
                # the client learns only that the service is misconfigured.
                logger.error("configuration_invalid", extra={"problem": str(error)})
                reply = ServiceUnavailable("The service is not configured correctly, please retry later")
            else:
                logger.exception("unhandled_error")
                # A bug, not a dependency: the canaries roll back on it (UnhandledErrorsAlarm).
                metrics.add_metric(name="unhandled_error", unit="Count", value=1)
                reply = AppError("Internal server error")
            await failure(reply)(scope, receive, send_with_headers)

    def _unsafe_request_problem(self, scope: Scope) -> str | None:
        headers = Headers(scope=scope)
        problem = origin_problem(scheme=scope.get("scheme", "https"), headers=headers,
                                 allowed_origins=self.allowed_origins)
        if problem is None:
            problem = csrf_problem(headers, cookie_parser(headers.get("cookie", "")))
        if problem:
            logger.warning("suspicious_request", extra={
                "reason": "csrf_origin_rejected" if "Origin" in problem else "csrf_token_mismatch",
                "path": scope.get("path"), "origin": headers.get("origin")})
        return problem
