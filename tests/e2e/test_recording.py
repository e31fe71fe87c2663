"""E2E_RECORD (tests/e2e/conftest.py, docs/go-live.md §13): what a browser test leaves behind, passing or failing.

Each mode runs a small inner pytest session, in a subprocess with this folder's conftest as its plugin, on
`data:` pages: no local stack, one browser start per mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from local.template import ROOT
from tests.e2e.conftest import RESULTS_DIR, artifacts_name, record_mode, video_available

INNER_TESTS = '''
PAGE = "data:text/html,<title>recorded</title><h1>hello</h1>"


def test_passes(recorder):
    page = recorder.new_page()
    page.goto(PAGE)
    assert page.inner_text("h1") == "hello"


def test_fails(recorder):
    page = recorder.new_page()
    page.goto(PAGE)
    assert page.inner_text("h1") == "goodbye"
'''
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEBM_SIGNATURE = b"\x1a\x45\xdf\xa3"  # EBML


def _inner_session(folder: Path, record: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "E2E_RECORD": record, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.e2e.conftest", "-p", "no:cacheprovider",
                           "-q", "--rootdir", str(folder), "test_inner.py"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    return done, folder / RESULTS_DIR


def _artifacts(results: Path, test: str) -> set[str]:
    folder = results / f"test_inner-{test}"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def _is_trace(path: Path) -> bool:
    with zipfile.ZipFile(path) as trace:
        return any(name.endswith(".trace") for name in trace.namelist())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _inner_session(tmp_path_factory.mktemp("record") / "default", "0")


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _inner_session(tmp_path_factory.mktemp("record") / "recorded", "1")


def test_by_default_a_passing_test_leaves_nothing_and_a_failing_one_its_trace_and_screenshot(default_run):
    done, results = default_run
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr

    assert _artifacts(results, "test_passes") == set()
    assert _artifacts(results, "test_fails") == {"trace.zip", "screenshot.png"}  # and no video
    assert _is_trace(results / "test_inner-test_fails" / "trace.zip")
    assert (results / "test_inner-test_fails" / "screenshot.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "test-results/e2e/test_inner-test_fails" in done.stdout  # the summary says where


def test_recording_keeps_every_tests_trace_and_screenshot(recorded_run):
    done, results = recorded_run
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr

    for test in ("test_passes", "test_fails"):
        assert {"trace.zip", "screenshot.png"} <= _artifacts(results, test)
        assert _is_trace(results / f"test_inner-{test}" / "trace.zip")
    assert "video.webm" not in _artifacts(results, "test_passes")  # video only of a failure


def test_recording_keeps_the_video_of_a_failed_test(recorded_run):
    if not video_available():
        pytest.skip("no ffmpeg for video: set E2E_FFMPEG, or install imageio-ffmpeg or Debian's ffmpeg")
    done, results = recorded_run

    assert _artifacts(results, "test_fails") == {"trace.zip", "screenshot.png", "video.webm"}, done.stdout
    video = results / "test_inner-test_fails" / "video.webm"
    assert video.read_bytes().startswith(WEBM_SIGNATURE) and video.stat().st_size > 1000


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("", False), ("0", False), (" 1 ", True)])
def test_e2e_record_is_0_by_default_or_1(value, expected):
    assert record_mode({} if value is None else {"E2E_RECORD": value}) is expected


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_any_other_e2e_record_is_refused_with_its_value(value):
    with pytest.raises(pytest.UsageError, match=f"E2E_RECORD must be 0 or 1, not '{value}'"):
        record_mode({"E2E_RECORD": value})


def test_a_tests_folder_is_named_after_its_module_and_test():
    class Item:
        path = Path("tests/e2e/test_web_page.py")
        name = "test_x[a/b c]"

    assert artifacts_name(Item()) == "test_web_page-test_x-a-b-c"  # type: ignore[arg-type]
