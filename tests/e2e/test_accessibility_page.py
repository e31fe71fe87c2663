"""The enhancer page for everyone: the main flow by keyboard alone with a visible focus, and an axe-core scan
of each state of the page with no serious or critical violation."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.enhancer import choose_photo, enhance, image_size, photo, sign_in, wait_for_result

BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.x A/AA and best-practice rules on the page as it is; serious or critical ones only.
    Evaluated through the driver, as a tool's script is: the page's CSP is not asked to allow it."""
    page.evaluate(axe_source())
    found = page.evaluate("""() => axe.run(document, { resultTypes: ["violations"],
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })
        .then((r) => r.violations)""")
    return [f'{v["impact"]}: {v["id"]} ({v["help"]}) at {[n["target"] for n in v["nodes"]][:3]}'
            for v in found if v["impact"] in BLOCKING]


def test_axe_finds_no_serious_violation_in_any_state_of_the_page(page: Any):
    assert violations(page) == [], "guest, on arrival"

    page.set_input_files("#file-input", {"name": "notes.png", "mimeType": "image/png", "buffer": b"text"})
    expect(page.locator("#file-message")).not_to_be_empty()
    assert violations(page) == [], "a refused file"

    choose_photo(page)
    enhance(page)
    wait_for_result(page)
    assert violations(page) == [], "with a result"

    sign_in(page, "pro")
    choose_photo(page)
    enhance(page, as_job=True)
    expect(page.locator("#job-status")).to_contain_text("Done.", timeout=60_000)
    expect(page.locator("#jobs-list li")).to_have_count(1)
    assert violations(page) == [], "signed in, with a job"


def _tab_to(page: Any, selector: str, presses: int = 30) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached by Tab")


def _focus_ring(page: Any, selector: str) -> str:
    return page.locator(selector).evaluate("e => getComputedStyle(e).outlineStyle")


def test_the_main_flow_works_by_keyboard_alone_with_the_focus_always_visible(page: Any):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the enhancer"
    assert _focus_ring(page, ".skip-link") != "none"

    _tab_to(page, "#file-input")
    assert _focus_ring(page, 'label[for="file-input"]') != "none"  # the input is hidden; its button shows the focus
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(photo(40))
    expect(page.locator("#source")).to_be_visible()

    _tab_to(page, "#model-select")
    assert _focus_ring(page, "#model-select") != "none"
    _tab_to(page, "#enhance-button")
    assert _focus_ring(page, "#enhance-button") != "none"
    page.keyboard.press("Enter")
    wait_for_result(page)

    _tab_to(page, "#compare-range")
    page.keyboard.press("End")
    expect(page.locator("#compare-range")).to_have_value("100")
    _tab_to(page, "#result-link")
    assert _focus_ring(page, "#result-link") != "none"
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    with open(download.value.path(), "rb") as file:
        assert image_size(file.read()) == (80, 80)
