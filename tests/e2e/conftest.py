"""Browser tests: Debian's Chromium, driven by Playwright, against the local stack started for this session.

What a test leaves behind is set by `E2E_RECORD` (docs/go-live.md §13), under `test-results/e2e/<test>/`:

- `E2E_RECORD=0` (the default): a failed test keeps its trace (`trace.zip`) and a screenshot of the page as the
  test left it (`screenshot.png`); a passing test keeps nothing; no video is recorded.
- `E2E_RECORD=1`: every test keeps its trace and screenshot, and a failed test its video (`video.webm`).

A test's folder is emptied when it starts, so what is there is from its last run. Open a trace at
https://trace.playwright.dev (the file is read in the browser, never uploaded). A video needs an ffmpeg:
Playwright's own where `playwright install ffmpeg` could fetch it, else `E2E_FFMPEG=<path>`, the bundled one of
the `imageio-ffmpeg` package, or Debian's `ffmpeg`; Playwright is pointed at it through a browsers folder of this
session (its Chromium is never used: `executable_path` is Debian's). Without any, `E2E_RECORD=1` keeps traces and
screenshots and says in the summary that there is no video.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.local_stack import CLIENT_IP_HEADER

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RESULTS_DIR = Path("test-results") / "e2e"  # under the rootdir; git-ignored
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_KEPT = pytest.StashKey[list[Path]]()
_NO_VIDEO = pytest.StashKey[bool]()


def record_mode(environ: Mapping[str, str] | None = None) -> bool:
    """E2E_RECORD: unset, empty or `0` → False (artifacts of failures only), `1` → True; anything else refused."""
    value = (os.environ if environ is None else environ).get("E2E_RECORD", "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise pytest.UsageError(f"E2E_RECORD must be 0 or 1, not {value!r}")


# --- ffmpeg, for video ------------------------------------------------------------------------------------------

def _ffmpeg_revision() -> str:
    """The ffmpeg build this Playwright expects (`ffmpeg-<revision>/ffmpeg-linux` in its browsers folder)."""
    import playwright

    browsers = json.loads((Path(playwright.__file__).parent / "driver" / "package" / "browsers.json").read_text())
    return next(entry["revision"] for entry in browsers["browsers"] if entry["name"] == "ffmpeg")


def _browsers_folder() -> Path:
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if configured and configured != "0":
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"


def playwrights_own_ffmpeg() -> Path | None:
    found = _browsers_folder() / f"ffmpeg-{_ffmpeg_revision()}" / "ffmpeg-linux"
    return found if found.is_file() else None


def other_ffmpeg() -> str | None:
    """An ffmpeg that is not Playwright's: E2E_FFMPEG, imageio-ffmpeg's bundled binary, or one on PATH."""
    configured = os.environ.get("E2E_FFMPEG", "").strip()
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    return shutil.which("ffmpeg")


def video_available() -> bool:
    return playwrights_own_ffmpeg() is not None or other_ffmpeg() is not None


# --- the session's recording settings -------------------------------------------------------------------------

@dataclass
class Recording:
    record: bool  # E2E_RECORD=1
    video: bool  # recording and an ffmpeg was found
    results: Path  # test-results/e2e under the rootdir
    scratch: Path  # videos are recorded here, and only a kept one is moved to the results
    browsers_path: Path | None = None  # set for the driver when Playwright's own ffmpeg is missing


@pytest.fixture(scope="session")
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    record = record_mode()
    scratch = tmp_path_factory.mktemp("e2e-recording")
    settings = Recording(record=record, video=False, results=request.config.rootpath / RESULTS_DIR, scratch=scratch)
    if record and playwrights_own_ffmpeg() is not None:
        settings.video = True
    elif record and (ffmpeg := other_ffmpeg()) is not None:
        settings.browsers_path = scratch / "browsers"
        link = settings.browsers_path / f"ffmpeg-{_ffmpeg_revision()}" / "ffmpeg-linux"
        link.parent.mkdir(parents=True)
        link.symlink_to(ffmpeg)
        settings.video = True
    request.config.stash[_NO_VIDEO] = record and not settings.video
    return settings


@contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """os.environ with `values` while the block runs (the driver copies the environment when it starts)."""
    before = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[name] = value
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def browser(recording: Recording) -> Iterator[Any]:
    """Playwright's sync API runs an event loop on this thread while it is open, and Mangum (the handlers the
    other tests call in-process) needs the thread's loop idle: so it is open for one module at a time."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium package is missing: `make setup` installs it"
    browsers_path = str(recording.browsers_path) if recording.browsers_path else None
    with _environment(PLAYWRIGHT_BROWSERS_PATH=browsers_path):
        playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


# --- per test ---------------------------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keeps each phase's report on the test, so its fixtures know at teardown whether it failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def failed_so_far(item: pytest.Item) -> bool:
    """Whether the set-up or the test itself failed (what the teardown of its fixtures can know)."""
    return any(report.failed for report in item.stash.get(_REPORTS, {}).values())


def artifacts_name(item: pytest.Item) -> str:
    """`<module>-<test>[-<params>]`, safe as one folder name."""
    return re.sub(r"[^\w.-]+", "-", f"{item.path.stem}-{item.name}").strip("-")[:150]


@dataclass
class Recorder:
    """Opens recorded pages for one test; at its end keeps what E2E_RECORD says and closes them."""

    browser: Any
    item: pytest.Item
    settings: Recording
    failed: bool = False  # set by a fixture that fails the test at teardown (page errors)
    saved: list[Path] = field(default_factory=list)  # screenshots the test itself keeps (`artifact`)
    _pages: list[tuple[Any, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder = self.settings.results / artifacts_name(self.item)
        shutil.rmtree(self.folder, ignore_errors=True)  # what is there is from this run, or nothing
        self._videos = Path(tempfile.mkdtemp(prefix="videos-", dir=self.settings.scratch))

    def new_page(self, **context_args: Any) -> Any:
        """A page in a new browser context (its own cookies), traced from the start, and filmed when recording."""
        if self.settings.video:
            context_args.setdefault("record_video_dir", str(self._videos))
        context = self.browser.new_context(**context_args)
        context.tracing.start(screenshots=True, snapshots=True, sources=True)
        page = context.new_page()
        self._pages.append((context, page))
        return page

    def finish(self) -> list[Path]:
        """Screenshot, trace and video as E2E_RECORD says; returns what was kept."""
        failed = self.failed or failed_so_far(self.item)
        keep = self.settings.record or failed
        keep_video = self.settings.video and failed
        kept: list[Path] = list(self.saved)
        for number, (context, page) in enumerate(self._pages, start=1):
            suffix = "" if number == 1 else f"-{number}"
            video = page.video
            try:
                if keep:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    if not page.is_closed():
                        kept += self._screenshot(page, self.folder / f"screenshot{suffix}.png")
                    context.tracing.stop(path=self.folder / f"trace{suffix}.zip")
                    kept.append(self.folder / f"trace{suffix}.zip")
                else:
                    context.tracing.stop()
            finally:
                context.close()  # a video is complete only once its page has closed
            if video is not None:
                if keep_video:
                    video.save_as(self.folder / f"video{suffix}.webm")
                    kept.append(self.folder / f"video{suffix}.webm")
                video.delete()
        shutil.rmtree(self._videos, ignore_errors=True)
        return kept

    @staticmethod
    def _screenshot(page: Any, path: Path) -> list[Path]:
        from playwright.sync_api import Error

        try:
            page.screenshot(path=path, full_page=True)
        except Error:  # a page that crashed or never loaded: the trace still shows what happened
            return []
        return [path]


@pytest.fixture
def recorder(browser: Any, recording: Recording, request: pytest.FixtureRequest) -> Iterator[Recorder]:
    recorder = Recorder(browser, request.node, recording)
    yield recorder
    kept = recorder.finish()
    if kept:
        request.config.stash.setdefault(_KEPT, []).append(recorder.folder)


@pytest.fixture
def new_page(recorder: Recorder) -> Callable[..., Any]:
    """`new_page(**context_args)`: another recorded page, e.g. a second visitor."""
    return recorder.new_page


# --- the site and its pages -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def site(request: pytest.FixtureRequest) -> str:
    """TEST_BASE_URL, or the local stack this session starts (`make dev`'s, with the local engine)."""
    configured = os.environ.get("TEST_BASE_URL", "").strip().rstrip("/")
    return configured or request.getfixturevalue("stack")["url"]


def needs_local_stack() -> None:
    """For a test that drives a stack of its own (a faked Replicate): there is none behind TEST_BASE_URL."""
    if os.environ.get("TEST_BASE_URL", "").strip():
        pytest.skip("drives a local stack with Replicate faked; TEST_BASE_URL names another deployment")


_client_addresses = (f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 1}" for n in itertools.count(1))
# What the browser itself logs when an answer is a 4xx: the page handles those (the tests check how); a 5xx, a
# failed static file or any other console error fails the test.
_HTTP_STATUS_LOG = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})\b")
# Before any page script: what CSP refuses, as the page saw it (the console shows it too, with less detail).
_CSP_WATCH = """window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));"""


@dataclass
class PageProblems:
    """What went wrong in a page that no test expects: page errors, console errors, CSP violations, failed
    requests and server errors."""

    found: list[str] = field(default_factory=list)
    allowed: set[int] = field(default_factory=set)  # API server errors a test provokes (`allow_server_errors`)

    def allow(self, *statuses: int) -> None:
        self.allowed.update(statuses)

    def watch(self, page: Any, base_url: str) -> None:
        page.on("pageerror", lambda error: self.found.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.found.append(f"request failed: {r.method} {r.url} {r.failure}")
                if r.failure != "net::ERR_ABORTED" else None)
        page.on("response", lambda r: self._response(r, base_url))

    def _console(self, message: Any) -> None:
        logged = _HTTP_STATUS_LOG.match(message.text)
        if logged and (int(logged[1]) < 500 or int(logged[1]) in self.allowed):
            return
        if message.type == "error":
            self.found.append(f"console error: {message.text}")

    def _response(self, response: Any, base_url: str) -> None:
        path = response.url.removeprefix(base_url)
        api = path.startswith(("/api/", "/r2-ai/"))
        if (response.status >= 500 and not (api and response.status in self.allowed)) \
                or (response.status >= 400 and not api and path.startswith("/")):
            self.found.append(f"{response.status} for {response.request.method} {response.url}")

    def check(self, pages: list[Any]) -> list[str]:
        for page in pages:
            if not page.is_closed():
                with contextlib.suppress(Exception):
                    self.found += [f"CSP violation: {v}" for v in page.evaluate("window.__cspViolations || []")]
        return self.found


def wait_until_ready(page: Any) -> None:
    """The page has loaded the models, the caller's usage and jobs (main.js marks the body)."""
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=20_000)


@pytest.fixture
def page_problems() -> PageProblems:
    """What the test's pages did wrong; `page_problems.allow(502)` for a server error the test provokes."""
    return PageProblems()


@pytest.fixture
def open_page(recorder: Recorder, site: str, page_problems: PageProblems) -> Iterator[Callable[..., Any]]:
    """`open_page(base_url=site, path="/", **context_args)`: a recorded page in a fresh context (its own cookies
    and its own client address), watched for problems; the test fails at its end if any page had one."""
    problems = page_problems
    pages: list[Any] = []

    def opener(base_url: str = site, path: str = "/", **context_args: Any) -> Any:
        headers = {CLIENT_IP_HEADER: next(_client_addresses), **context_args.pop("extra_http_headers", {})}
        page = recorder.new_page(base_url=base_url, extra_http_headers=headers, **context_args)
        page.add_init_script(_CSP_WATCH)
        problems.watch(page, base_url)
        pages.append(page)
        page.goto(path)
        wait_until_ready(page)
        return page

    yield opener
    found = problems.check(pages)
    recorder.failed |= bool(found)  # its artifacts are kept as a failed test's
    assert not found, found


@pytest.fixture
def page(open_page: Callable[..., Any]) -> Any:
    """The enhancer page on the site, as a new visitor (a guest) sees it."""
    return open_page()


GENERATE_DEADLINE_SECONDS = 3  # the faked Replicate stack's: a model slower than this hands generate to a job


@pytest.fixture(scope="session")
def fake() -> Iterator[Any]:
    """Replicate, faked at the HTTP layer in this process (local/fake_replicate.py): each test sets how it ends."""
    from local.fake_replicate import FakeReplicate

    needs_local_stack()
    with FakeReplicate(delay=0.2) as server:
        yield server


@pytest.fixture(scope="session")
def replicate_site(fake: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local stack of the browser tests' own on the Replicate provider (the fake), webhooks coming back."""
    from local.aws import free_port
    from tests.local_stack import running_stack

    port = free_port()
    with running_stack(tmp_path_factory.mktemp("browser-replicate"), port, ENHANCER_PROVIDER="replicate",
                       REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.url,
                       REPLICATE_WEBHOOK_SECRET=fake.webhook_secret, PUBLIC_API_URL=f"http://127.0.0.1:{port}",
                       GENERATE_DEADLINE_SECONDS=str(GENERATE_DEADLINE_SECONDS)) as state:
        yield state["url"]


@pytest.fixture
def remote_page(open_page: Callable[..., Any], replicate_site: str, fake: Any) -> Any:
    """The enhancer page on the faked Replicate stack, the fake reset to succeed quickly."""
    from local.fake_replicate import ECHO

    fake.mode, fake.delay = ECHO, 0.2
    return open_page(base_url=replicate_site)


@pytest.fixture
def artifact(recorder: Recorder) -> Callable[[Any, str], Path]:
    """`artifact(page, name)`: a full-page screenshot kept with the test's artifacts whatever E2E_RECORD says."""
    def save(page: Any, name: str) -> Path:
        recorder.folder.mkdir(parents=True, exist_ok=True)
        path = recorder.folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        recorder.saved.append(path)
        return path

    return save


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.write_sep("-", f"browser artifacts ({len(kept)} tests)")
        for folder in kept:
            terminalreporter.write_line(str(folder.relative_to(config.rootpath)
                                            if folder.is_relative_to(config.rootpath) else folder))
    if config.stash.get(_NO_VIDEO, False) and kept:
        terminalreporter.write_line("E2E_RECORD=1 recorded no video: no ffmpeg (set E2E_FFMPEG, install the "
                                    "imageio-ffmpeg package or Debian's ffmpeg)")
