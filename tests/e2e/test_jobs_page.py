"""Jobs on the enhancer page: a job with live status, its result, the list of recent jobs with delete, cancel,
a provider failure told readably, and generate's hand-off to a job (202) followed by the page on its own.

The local engine runs jobs inline; for a job that waits (cancel) or a generate slower than its deadline, the
browser tests' own stack has Replicate faked at the HTTP layer (`remote_page`, tests/e2e/conftest.py)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from local.fake_replicate import FAIL, HOLD, FakeReplicate
from tests.e2e.conftest import GENERATE_DEADLINE_SECONDS
from tests.e2e.enhancer import choose_photo, enhance, job_status, usage, wait_for_result


def test_a_job_shows_its_status_then_its_result_and_is_listed_until_deleted(page: Any):
    choose_photo(page)
    enhance(page, as_job=True)

    expect(job_status(page)).to_have_text("Real-ESRGAN upscale: Done.", timeout=60_000)
    wait_for_result(page)
    expect(page.locator("#enhance-status")).to_have_text("Done: 1 credit(s) charged.")
    expect(usage(page, "daily")).to_have_text("1 of 3 images")
    listed = page.locator("#jobs-list li")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("Real-ESRGAN upscale · succeeded")

    listed.first.get_by_role("button", name="Delete").click()

    expect(page.locator("#jobs-status")).to_have_text("The job and its images were deleted.")
    expect(listed).to_have_count(0)
    expect(page.locator("#jobs-empty")).to_be_visible()
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#jobs-title")).to_be_focused()


def test_a_waiting_job_is_canceled_and_its_charge_given_back(remote_page: Any, fake: FakeReplicate):
    fake.mode = HOLD
    choose_photo(remote_page)
    enhance(remote_page, as_job=True)
    expect(job_status(remote_page)).to_have_text("Real-ESRGAN upscale: Processing…", timeout=20_000)
    expect(usage(remote_page, "daily")).to_have_text("1 of 3 images")
    expect(remote_page.locator("#jobs-list li").first).to_contain_text("processing")

    remote_page.get_by_role("button", name="Cancel the job").click()

    expect(job_status(remote_page)).to_have_text("Real-ESRGAN upscale: Canceled: the charge was given back.")
    expect(remote_page.get_by_role("button", name="Cancel the job")).to_be_hidden()
    expect(usage(remote_page, "daily")).to_have_text("0 of 3 images")
    expect(remote_page.locator("#jobs-list li").first).to_contain_text("canceled")


def test_a_failed_job_says_so_in_our_words_and_charges_nothing(remote_page: Any, fake: FakeReplicate):
    fake.mode = FAIL
    choose_photo(remote_page)
    enhance(remote_page, as_job=True)

    expect(job_status(remote_page)).to_have_text("Real-ESRGAN upscale: Failed.", timeout=30_000)
    expect(remote_page.locator("#job-detail")).to_have_text(
        "The model failed: The model could not enhance this image Nothing was charged; you can try again.")
    expect(remote_page.locator("#job")).not_to_contain_text(fake.failure_error)
    expect(usage(remote_page, "daily")).to_have_text("0 of 3 images")


def test_a_generate_slower_than_its_deadline_becomes_a_job_the_page_follows(remote_page: Any, fake: FakeReplicate):
    fake.delay = GENERATE_DEADLINE_SECONDS + 3
    choose_photo(remote_page)
    enhance(remote_page)  # "Enhance now"

    expect(remote_page.locator("#enhance-status")).to_have_text(
        "This takes longer than a request may wait: it carries on as a job.", timeout=20_000)
    expect(remote_page.locator("#job")).to_be_visible()
    expect(job_status(remote_page)).to_have_text("Real-ESRGAN upscale: Done.", timeout=40_000)
    wait_for_result(remote_page)
    expect(usage(remote_page, "daily")).to_have_text("1 of 3 images")  # charged once
    expect(remote_page.locator("#jobs-list li")).to_have_count(1)
