"""The enhancer page in a real browser (Debian's Chromium) against the local stack's local engine: a guest picks,
drops or pastes a photo, enhances it, compares, downloads, and is told clearly what went wrong."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.enhancer import choose_photo, enhance, image_size, photo, usage, wait_for_result


def test_a_guest_enhances_a_photo_compares_and_downloads_one_twice_the_size(page: Any, artifact):
    expect(usage(page, "daily")).to_have_text("0 of 3 images")
    expect(page.locator("#result")).to_be_hidden()  # nothing to show before the first result
    artifact(page, "before")

    choose_photo(page, photo(64))
    expect(page.locator("#source-caption")).to_have_text("photo.png · 1 KB")
    enhance(page)
    wait_for_result(page)

    expect(page.locator("#enhance-status")).to_have_text("Done: 1 credit(s) charged.")
    expect(page.locator("#result-size")).to_have_text("Original 64×64 px → enhanced 128×128 px.")
    expect(usage(page, "daily")).to_have_text("1 of 3 images")  # updated after the run
    artifact(page, "after")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the enhanced photo").click()
    saved = download.value
    assert saved.suggested_filename == "enhanced-photo.png"
    with open(saved.path(), "rb") as file:
        assert image_size(file.read()) == (128, 128)


def test_the_compare_slider_follows_the_mouse_a_touch_and_the_keyboard(page: Any):
    choose_photo(page)
    enhance(page)
    wait_for_result(page)
    slider, before = page.get_by_role("slider", name="Compare"), page.locator("#compare-before")
    page.locator("#compare").scroll_into_view_if_needed()
    box = page.locator("#compare").bounding_box()

    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    page.mouse.up()
    assert 18 <= int(slider.input_value()) <= 22
    assert before.evaluate("e => e.style.clipPath") == f"inset(0px {100 - int(slider.input_value())}% 0px 0px)"

    page.locator("#compare").dispatch_event("pointerdown", {"clientX": box["x"] + box["width"] * 0.9,
                                                             "clientY": box["y"] + 5, "pointerId": 7,
                                                             "pointerType": "touch", "isPrimary": True})
    assert 88 <= int(slider.input_value()) <= 92

    slider.focus()
    page.keyboard.press("Home")
    assert slider.input_value() == "0"
    page.keyboard.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuetext", "1% original, 99% enhanced")


def test_a_dropped_photo_and_a_pasted_one_are_chosen_like_a_picked_one(page: Any):
    drop = page.evaluate_handle("""() => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
                                "dropped.png", { type: "image/png" }));
        return data;
    }""")
    page.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": drop})
    expect(page.locator("#source-caption")).to_have_text("dropped.png · 1 KB")

    page.evaluate("""() => {
        const data = new DataTransfer();
        const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]);
        data.items.add(new File([jpeg], "pasted.jpg", { type: "image/jpeg" }));
        document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
    }""")
    expect(page.locator("#source-caption")).to_have_text("pasted.jpg · 1 KB")


def test_a_file_that_is_not_an_image_or_too_large_is_refused_before_anything_is_sent(page: Any):
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)

    page.set_input_files("#file-input", {"name": "notes.png", "mimeType": "image/png",
                                         "buffer": b"this is text, not a picture"})
    expect(page.get_by_role("alert").filter(has_text="notes.png")).to_have_text(
        "notes.png is not a JPEG, PNG or WebP image.")
    page.set_input_files("#file-input", {"name": "huge.png", "mimeType": "image/png",
                                         "buffer": b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024)})
    expect(page.locator("#file-message")).to_have_text("huge.png is 10.0 MB: the limit is 10 MB. Try a smaller photo.")
    enhance(page)
    expect(page.locator("#file-message")).to_have_text("Choose a photo first.")

    assert sent == []
    expect(usage(page, "daily")).to_have_text("0 of 3 images")


def test_when_the_daily_allowance_is_used_up_the_page_says_when_it_resets_and_offers_an_upgrade(page: Any):
    choose_photo(page, photo(16))
    for used in (1, 2, 3):
        enhance(page)
        expect(usage(page, "daily")).to_have_text(f"{used} of 3 images", timeout=60_000)
        expect(page.locator("#enhance-button")).to_be_enabled()

    enhance(page)

    error = page.locator("#enhance-error")
    expect(error).to_contain_text("Your daily limit is used up (3 of 3).", timeout=30_000)
    expect(error).to_contain_text("It resets ")
    expect(page.locator("#enhance-error-action")).to_contain_text("Upgrade your plan")
    expect(page.locator("#upgrade-prompt")).to_contain_text("You have used the free allowance")
    expect(usage(page, "daily")).to_have_text("3 of 3 images")


def test_a_model_this_server_cannot_run_is_shown_but_cannot_be_chosen(page: Any):
    gfpgan = page.locator('#model-select option[value="gfpgan"]')
    expect(gfpgan).to_be_disabled()
    expect(gfpgan).to_have_text("GFPGAN face restoration (not available here)")
    expect(page.locator("#model-select")).to_have_value("real-esrgan")


def test_the_page_fits_a_phone_and_works_there(open_page):
    page = open_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the screen
    choose_photo(page)
    enhance(page)
    wait_for_result(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.get_by_role("link", name="Download the enhanced photo")).to_be_visible()


def test_a_photo_over_4_mb_goes_to_storage_first_and_comes_back_enhanced(remote_page: Any):
    """Lambda takes at most 6 MB per request: the page posts a large file to S3 through the presigned form
    (the local stack's S3 holds the POST policy as S3 does), then generate gets the upload key."""
    from local.samples import encoded, noise_image

    large = encoded(noise_image(1300, 1300), "PNG", compress_level=0)
    assert 4 * 1024 * 1024 < len(large) <= 10 * 1024 * 1024
    posted: list[str] = []
    remote_page.on("request", lambda r: posted.append(r.url.split("?")[0]) if r.method == "POST" else None)

    choose_photo(remote_page, {"name": "large.png", "mimeType": "image/png", "buffer": large})
    enhance(remote_page)
    wait_for_result(remote_page, timeout=30_000)

    expect(remote_page.locator("#result-size")).to_have_text("Original 1300×1300 px → enhanced 1300×1300 px.")
    assert [url.rsplit("/", 1)[-1] for url in posted][:1] == ["uploads"]
    assert len(posted) == 3 and posted[2].endswith("/api/ai-image/generate")  # uploads, S3's form, generate
