"""What every test expects of every response, written out independently of the code under test."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def security_header_problems(get_header) -> list[str]:
    """Each expected security header that `get_header(name)` does not return exactly."""
    return [f"{name}: {get_header(name)!r}" for name, value in SECURITY_HEADERS.items() if get_header(name) != value]
