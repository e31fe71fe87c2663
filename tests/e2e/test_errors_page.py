"""Every error the API can answer, told clearly on the page: a rate limit with its countdown, a refused field
named and focused, the provider failing or unavailable (Replicate faked), and the message for each error type."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from local.fake_replicate import CREATE_500
from tests.e2e.enhancer import choose_photo, enhance, usage


def test_a_rate_limited_enhance_counts_down_and_then_lets_the_user_retry(page: Any, site: str):
    # The page's own visitor (its cookies, its address) fills generate's window: 15 a minute.
    token = page.evaluate("document.cookie.match(/csrf_token=([^;]+)/)?.[1] ?? ''") or "t" * 32
    page.context.add_cookies([{"name": "csrf_token", "value": token, "url": site}])
    for _ in range(15):
        page.request.post(f"{site}/api/ai-image/generate", headers={"Origin": site, "X-CSRF-Token": token},
                          multipart={"model": "real-esrgan"})
    choose_photo(page)

    enhance(page)

    text = page.locator("#enhance-error-text")
    expect(text).to_have_text(re.compile(r"^Too many requests: try again in \d+ s\.$"))
    first = int(text.inner_text().split(" in ")[1].split(" ")[0])
    expect(page.locator("#enhance-button")).to_be_disabled()
    page.wait_for_timeout(2_100)
    assert int(text.inner_text().split(" in ")[1].split(" ")[0]) <= first - 2  # it counts down
    expect(usage(page, "daily")).to_have_text("0 of 3 images")


def test_a_refused_field_is_named_and_focused(page: Any):
    # What a tampered page (or a stale one) would send: a scale the API refuses.
    page.evaluate("document.querySelector('#option-scale option[value=\"2\"]').value = '3'")
    choose_photo(page)

    enhance(page)

    expect(page.locator("#enhance-error-text")).to_have_text("Check the upscale: 'scale' must be 2 or 4")
    expect(page.locator("#option-scale")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#option-scale")).to_be_focused()
    expect(usage(page, "daily")).to_have_text("0 of 3 images")


def test_replicate_failing_and_refusing_our_token_are_told_apart(remote_page: Any, fake, page_problems):
    page_problems.allow(502, 503)  # what the API answers for these, as the page should show
    fake.mode = CREATE_500
    choose_photo(remote_page)
    enhance(remote_page)
    expect(remote_page.locator("#enhance-error-text")).to_contain_text("The model failed:", timeout=30_000)
    expect(remote_page.locator("#enhance-error-text")).to_contain_text("Nothing was charged; you can try again.")

    token, fake.token = fake.token, "r8_someone_elses"
    try:
        enhance(remote_page)
        expect(remote_page.locator("#enhance-error-text")).to_contain_text(
            "The service is unavailable right now:", timeout=30_000)
    finally:
        fake.token = token
    expect(usage(remote_page, "daily")).to_have_text("0 of 3 images")


def test_each_error_type_has_its_own_message(page: Any):
    """The page's wording for every type of the envelope (web/js/api.js `describeError`), run in the browser."""
    described = page.evaluate("""async () => {
        const { ApiError, describeError } = await import("/js/api.js");
        const cases = {
          validation_error: [400, { type: "validation_error", message: "'scale' must be 2 or 4",
                                    details: { field: "scale" } }],
          issues: [400, { type: "validation_error", message: "Invalid body",
                          details: { issues: [{ path: ["body", "plan"] }] } }],
          quota: [403, { type: "forbidden", message: "Your daily limit is used up (3 of 3)",
                         details: { scope: "daily", resetAt: "2099-01-02T03:04:00Z" } }],
          forbidden: [403, { type: "forbidden", message: "Origin not allowed" }],
          auth_error: [401, { type: "auth_error", message: "Sign-in required." }],
          not_found: [404, { type: "not_found", message: "Job not found" }],
          conflict: [409, { type: "conflict", message: "This key was used for another request" }],
          payload_too_large: [413, { type: "payload_too_large", message: "The image is too large." }],
          rate_limit: [429, { type: "rate_limit", message: "Too many requests" }],
          provider_error: [502, { type: "provider_error", message: "The model could not enhance this image." }],
          service_unavailable: [503, { type: "service_unavailable", message: "Image enhancement is not configured." }],
          server_error: [500, { type: "server_error", message: "Internal error" }],
        };
        const out = {};
        for (const [name, [status, error]] of Object.entries(cases)) {
          out[name] = describeError(new ApiError(status, error, name === "rate_limit" ? 7 : null));
        }
        return out;
    }""")

    assert described["validation_error"] == {"text": "Check the upscale: 'scale' must be 2 or 4", "field": "scale"}
    assert described["issues"]["text"] == "Check the plan: Invalid body"
    assert described["quota"]["quota"] is True
    assert re.fullmatch(r"Your daily limit is used up \(3 of 3\)\. It resets \S+ \S+ at .+\.",
                        described["quota"]["text"])
    assert described["forbidden"] == {"text": "Origin not allowed"}
    assert described["auth_error"] == {"text": "Sign-in required. Please sign in."}
    assert described["payload_too_large"]["text"].endswith("Try a smaller photo, or run it as a job.")
    assert described["rate_limit"] == {"text": "Too many requests.", "retryAfter": 7}
    assert described["provider_error"]["text"].startswith("The model failed: The model could not enhance")
    assert described["service_unavailable"]["text"] == (
        "The service is unavailable right now: Image enhancement is not configured.")
    assert described["server_error"]["text"].startswith("Something went wrong on our side")
    assert len({d["text"] for d in described.values()}) == len(described)  # no two types read alike
