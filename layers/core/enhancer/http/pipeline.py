"""The ASGI middleware every function shares: origin + CSRF on unsafe methods; security headers, `no-store`
unless the route allows caching, and queued cookies on every response (errors, 405 and 429 included); and a
500 envelope for anything unexpected."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enhancer.domain.errors import AppError, ConfigurationError, Forbidden, ServiceUnavailable
from enhancer.http.cookies import queued_cookies
from enhancer.http.envelope import failure
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
            if self.verify_origin and scope["method"] in UNSAFE_METHODS:
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
