"""What the auth routes share: this site's origin and callback URL, the Cognito login of this deployment (503
when sign-in is not configured), and the login cookie."""

from __future__ import annotations

from fastapi import Request

from enhancer.config import get_auth_settings, get_settings
from enhancer.domain.errors import ServiceUnavailable
from enhancer.http.urls import site_origin
from enhancer.observability import logger
from enhancer.services.ports import SignInProvider

CALLBACK_PATH = "/api/auth/callback"
NOT_CONFIGURED = "Sign-in is not configured on this deployment"


def origin(request: Request) -> str:
    return site_origin(request, get_settings().base_url)


def sign_in_provider(request: Request) -> SignInProvider:
    from enhancer.adapters.cognito import CognitoLogin

    settings = get_auth_settings()
    if not settings.configured:
        logger.error("cognito_not_configured", extra={
            "missing": [name for name, value in (("COGNITO_USER_POOL_ID", settings.cognito_user_pool_id),
                                                 ("COGNITO_CLIENT_ID", settings.cognito_client_id),
                                                 ("COGNITO_DOMAIN", settings.cognito_domain)) if not value]})
        raise ServiceUnavailable(NOT_CONFIGURED)
    return CognitoLogin(settings, f"{origin(request)}{CALLBACK_PATH}")
