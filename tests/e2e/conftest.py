"""Browser tests: Debian's Chromium, driven by Playwright, against the local stack started for this session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's sync API runs an event loop on this thread while it is open, and Mangum (the handlers the
    other tests call in-process) needs the thread's loop idle: so it is open for one module at a time."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium package is missing: `make setup` installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, stack: dict) -> Iterator[Any]:
    """A fresh browser context (its own cookies) on the web page; fails the test on any page error."""
    context = browser.new_context(base_url=stack["url"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    # The page is ready once both of its first requests have answered: the models and the caller's usage.
    expect(page.locator("#model-select option").first).to_be_attached()
    expect(page.locator('[data-field="owner"]')).not_to_have_text("…")
    yield page
    context.close()
    assert not errors, errors
