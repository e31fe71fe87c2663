"""Plans, sign-in and billing on the enhancer page: what each plan may choose (and why not), the development
sign-in, the local checkout page, sign-out and account deletion."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.enhancer import choose_photo, enhance, sign_in, usage, wait_for_result


def test_a_guest_sees_what_their_plan_does_not_allow_and_why(page: Any):
    expect(page.locator("#account-summary")).to_have_text("Guest")
    expect(usage(page, "maxUpscale")).to_have_text("×2")

    expect(page.locator('#option-scale option[value="4"]')).to_be_disabled()
    expect(page.locator('#option-scale option[value="4"]')).to_have_text("×4 (needs a higher plan)")
    expect(page.locator("#option-scale-reason")).to_have_text(
        "×4 needs a plan with a larger upscale (yours allows ×2).")
    expect(page.get_by_label("Restore faces")).to_be_disabled()
    expect(page.locator("#option-face_enhance-reason")).to_have_text("Face restoration needs the Pro plan or higher.")
    expect(page.locator("#upgrade-prompt")).to_contain_text("Sign in for more images a day")


def test_signing_in_as_pro_unlocks_scale_4_and_faces_and_a_pro_run_is_four_times_the_size(page: Any):
    sign_in(page, "pro")

    expect(page.locator('#option-scale option[value="4"]')).to_be_enabled()
    expect(page.locator("#option-scale-reason")).to_be_empty()
    expect(page.get_by_label("Restore faces")).to_be_enabled()
    expect(usage(page, "daily")).to_have_text("0 of 30 images")
    expect(page.locator("#upgrade-prompt")).to_be_hidden()
    page.get_by_label("Upscale").select_option("4")
    choose_photo(page)
    enhance(page)
    wait_for_result(page)
    expect(page.locator("#result-size")).to_have_text("Original 48×48 px → enhanced 192×192 px.")
    expect(page.locator("#enhance-status")).to_have_text("Done: 2 credit(s) charged.")  # ×4 costs two
    expect(usage(page, "monthly")).to_have_text("2 of 300 credits")


def test_a_free_user_upgrades_to_pro_on_the_development_checkout_page(page: Any):
    sign_in(page, "free")
    expect(page.locator('#option-scale option[value="4"]')).to_be_disabled()

    page.locator("#plan-select").select_option("pro")
    page.get_by_role("button", name="Upgrade").click()
    page.wait_for_url("**/dev/checkout?session=*")
    expect(page.locator("main")).to_contain_text("pro plan")
    page.get_by_text("Pay").click()

    page.wait_for_url("**/?billing=success")
    expect(page.locator("#billing-status")).to_have_text("Payment received: your plan is updated.")
    expect(page.locator("#account-summary")).to_have_text("Signed in · Pro plan")
    expect(usage(page, "daily")).to_have_text("0 of 30 images")
    expect(page.locator('#option-scale option[value="4"]')).to_be_enabled()


def test_a_user_buys_credits_and_sees_the_balance(page: Any):
    sign_in(page, "free")
    expect(usage(page, "credits")).to_have_text("0")

    page.get_by_label("Credit pack").select_option("100")
    page.get_by_role("button", name="Buy credits").click()
    page.wait_for_url("**/dev/checkout?session=*")
    page.get_by_text("Pay").click()

    page.wait_for_url("**/?credits=1")
    expect(page.locator("#billing-status")).to_have_text("Payment received: your credits are added.")
    expect(usage(page, "credits")).to_have_text("100")


def test_a_guest_who_tries_to_upgrade_is_told_to_sign_in(page: Any):
    page.get_by_role("button", name="Upgrade").click()

    expect(page.locator("#billing-status")).to_contain_text("sign in")
    assert page.url.endswith("/")


def test_signing_out_makes_the_visitor_a_guest_again(page: Any):
    sign_in(page, "premium")
    expect(usage(page, "maxUpscale")).to_have_text("×6")

    page.get_by_role("button", name="Sign out").click()

    expect(page.locator("#account-status")).to_have_text("You are signed out.")
    expect(page.locator("#account-summary")).to_have_text("Guest")
    expect(usage(page, "maxUpscale")).to_have_text("×2")
    expect(page.locator("#dev-signin")).to_be_visible()


def test_a_signed_in_user_deletes_their_account_and_is_a_guest_again(page: Any):
    sign_in(page, "pro")
    page.on("dialog", lambda dialog: dialog.accept())

    page.get_by_role("button", name="Delete my account").click()

    expect(page.locator("#account-status")).to_have_text("Your account was deleted.")
    expect(page.locator("#account-summary")).to_have_text("Guest")
    expect(page.get_by_role("button", name="Delete my account")).to_be_hidden()
