"""What the browser tests do on the enhancer page (web/), by the names and roles a user sees."""

from __future__ import annotations

import io
import itertools
import os
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from local.samples import png_bytes

LOCAL_ENGINE_TIMEOUT = 60_000  # ms: the Real-ESRGAN engine on 2 CPUs, a first run loading it included
_emails = (f"browser-{n}@example.com" for n in itertools.count(1))


def photo(size: int = 48, name: str = "photo.png") -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": png_bytes(size, size)}


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def choose_photo(page: Any, file: dict[str, Any] | None = None) -> None:
    page.set_input_files("#file-input", file or photo())
    expect(page.locator("#source")).to_be_visible()


def enhance(page: Any, *, as_job: bool = False) -> None:
    if as_job:
        page.get_by_label("As a job in the background").check()
    page.locator("#enhance-button").click()


def wait_for_result(page: Any, timeout: float = LOCAL_ENGINE_TIMEOUT) -> None:
    expect(page.locator("#result")).to_be_visible(timeout=timeout)
    expect(page.locator("#result-size")).to_contain_text("enhanced", timeout=timeout)


def usage(page: Any, field: str) -> Any:
    return page.locator(f'#usage [data-field="{field}"]')


def sign_in(page: Any, plan: str = "pro", email: str | None = None) -> str:
    """The development sign-in (the local stack's POST /api/dev/login), as a new user unless `email` is given.
    Behind TEST_BASE_URL there is none (a deployment signs in through Cognito): the test is skipped."""
    if os.environ.get("TEST_BASE_URL", "").strip():
        pytest.skip("needs the development sign-in, which only the local stack has")
    email = email or next(_emails)
    page.get_by_label("Email").fill(email)
    page.locator("#signin-plan").select_option(plan)
    page.locator("#signin-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-summary")).to_have_text(f"Signed in · {plan.capitalize()} plan")
    return email


def job_status(page: Any) -> Any:
    return page.locator("#job-status")
