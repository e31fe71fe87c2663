"""The web page in a real browser: a guest enhances a photo with the local engine and sees both images."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.integration.conftest import png_bytes


def _photo(tmp_path, size: int = 64):
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(size, size))
    return path


def test_a_guest_enhances_a_photo_and_sees_the_result(page: Any, tmp_path):
    expect(page.locator('[data-field="owner"]')).to_have_text("guest")
    expect(page.locator("#enhance-result")).to_be_hidden()  # nothing to show before the first result

    page.set_input_files('input[name="image"]', _photo(tmp_path))
    page.click("#enhance-form button[type=submit]")

    expect(page.locator("#enhance-status")).to_have_text("Done: 1 credit(s) charged.", timeout=30_000)
    expect(page.locator("#enhance-result")).to_be_visible()
    result = page.locator("#result-image")
    expect(result).to_have_js_property("complete", True)
    assert result.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [128, 128]
    assert page.locator("#original-image").evaluate("image => image.naturalWidth") == 64
    expect(page.locator('[data-field="daily"]')).to_have_text("1 of 3 images")


def test_a_guest_cannot_choose_what_the_plan_does_not_allow(page: Any):
    expect(page.locator('[data-field="maxUpscale"]')).to_have_text("×2")

    expect(page.locator('#scale-field option[value="4"]')).to_be_disabled()
    expect(page.locator('#face-field input')).to_be_disabled()


def test_signing_in_as_pro_unlocks_scale_4_and_faces(page: Any):
    page.select_option('#signin-form select[name="plan"]', "pro")
    page.click("#signin-form button[type=submit]")

    expect(page.locator('[data-field="owner"]')).to_have_text("signed in, pro plan")
    expect(page.locator('#scale-field option[value="4"]')).to_be_enabled()
    expect(page.locator('#face-field input')).to_be_enabled()


def test_a_refusal_is_shown_to_the_user(page: Any, tmp_path):
    page.set_input_files('input[name="image"]', {"name": "notes.png", "mimeType": "image/png",
                                                 "buffer": b"this is text, not a picture"})
    page.click("#enhance-form button[type=submit]")

    expect(page.locator("#enhance-status")).to_contain_text("not a JPEG, PNG or WebP", timeout=15_000)
    expect(page.locator('[data-field="daily"]')).to_have_text("0 of 3 images")


def test_a_free_user_upgrades_to_pro_on_the_development_checkout_page(page: Any):
    page.fill('#signin-form input[name="email"]', "browser-upgrade@example.com")
    page.select_option('#signin-form select[name="plan"]', "free")
    page.click("#signin-form button[type=submit]")
    expect(page.locator('[data-field="owner"]')).to_have_text("signed in, free plan")

    page.select_option('#plan-form select[name="plan"]', "pro")
    page.click("#plan-form button[type=submit]")
    page.wait_for_url("**/dev/checkout?session=*")
    expect(page.locator("main")).to_contain_text("pro plan")
    page.click("text=Pay")

    page.wait_for_url("**/?billing=success")
    expect(page.locator("#billing-status")).to_have_text("Payment received: your plan is updated.")
    expect(page.locator('[data-field="owner"]')).to_have_text("signed in, pro plan")
    expect(page.locator('[data-field="daily"]')).to_have_text("0 of 30 images")


def test_a_guest_who_tries_to_upgrade_is_told_to_sign_in(page: Any):
    page.click("#plan-form button[type=submit]")
    expect(page.locator("#billing-status")).not_to_be_empty()
    assert page.url.endswith("/")


def test_a_signed_in_user_deletes_their_account_and_is_a_guest_again(page: Any):
    page.fill('#signin-form input[name="email"]', "browser-leaving@example.com")
    page.click("#signin-form button[type=submit]")
    expect(page.locator('[data-field="owner"]')).to_have_text("signed in, pro plan")
    page.on("dialog", lambda dialog: dialog.accept())

    page.click("#delete-account-button")

    expect(page.locator("#account-status")).to_have_text("Your account was deleted.")
    expect(page.locator('[data-field="owner"]')).to_have_text("guest")
    expect(page.locator("#signin-link")).to_be_visible()
