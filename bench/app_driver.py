"""Driving the app in a real browser: a headless ``streamlit run app.py`` on a free
loopback port, Debian's Chromium through Playwright, and the waits and clicks that know
when a page is complete. Shared by the timings (:mod:`bench.app_timing`) and the
end-to-end tests (``tests/test_app_browser.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
# Chromium as root on a closed network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

# the app's script state (initial, running, rerunRequested, notRunning, ...)
SCRIPT_STATE = '[data-testid="stApp"]'
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
PLANE_CAPTION = "The plane at eps = "
# the clickable pictures (app_pages.pictures, after streamlit-image-coordinates): the plane first, the delta pad second
CLICKABLE = 'iframe[title="app_pages.pictures.clickable_image"]'
PLANE_FRAME = CLICKABLE


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(port: int | None = None, env: dict | None = None, log_path: str | None = None):
    """Runs ``streamlit run app.py`` headless on the loopback interface.

    Yields:
      ``(url, process, started)`` once the process is launched (``started`` is its
      ``time.perf_counter()``); the server is terminated on exit.
    """
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", os.path.join(ROOT, "app.py"),
           "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", proc, started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


def wait_healthy(url: str, proc, timeout: float = 60.0) -> None:
    """Waits until the server answers ``/_stcore/health``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"no answer from {url} within {timeout} s")


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (never ``playwright install``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_page_complete(page, text: str | None = None, timeout: float = 120.0) -> None:
    """Waits until the app shows the plane (with ``text`` in its caption, if given), the
    verdict, its script is not running (``data-test-script-state="notRunning"``) and no
    element is stale (left over from the previous run).

    Raises:
      TimeoutError: if that does not happen within ``timeout`` seconds.
    """
    end = time.monotonic() + timeout
    want = text or PLANE_CAPTION
    while time.monotonic() < end:
        ready = page.evaluate(
            """([want, app, frame]) => {
                const caps = [...document.querySelectorAll(
                    '[data-testid="stImageCaption"], [data-testid="stCaptionContainer"]')]
                    .map(e => e.innerText);
                const plane = caps.some(t => t.includes(want));
                const verdict = [...document.querySelectorAll('[data-testid="stMetricLabel"]')]
                    .some(e => e.innerText.includes('verdict'));
                const state = document.querySelector(app)?.dataset.testScriptState;
                const stale = document.querySelector('[data-stale="true"]') !== null;
                // the plane is a clickable image inside a component's iframe
                const doc = document.querySelector(frame)?.contentDocument;
                const img = doc?.querySelector('img#image')
                    ?? document.querySelector('[data-testid="stImage"] img');
                const loaded = img != null && img.complete && img.naturalWidth > 0;
                return plane && verdict && state === 'notRunning' && !stale && loaded;
            }""", [want, SCRIPT_STATE, PLANE_FRAME])
        if ready:
            return
        time.sleep(0.02)
    raise TimeoutError(f"the page was not complete within {timeout} s")


def errors_on(page) -> list[str]:
    """The texts of exception and error elements on the page."""
    return [e.inner_text() for e in page.query_selector_all(ERRORS)]


def eps_slider(page):
    """The eps slider's (keyboard-focusable) range input."""
    return page.locator('[data-testid="stSlider"] input[type="range"][aria-label^="eps"]')


def change_eps(page, key: str = "ArrowRight") -> float:
    """Presses ``key`` on the eps slider, waits for the redrawn page; returns the seconds."""
    thumb = eps_slider(page)
    before = float(thumb.input_value())
    step = 0.005 if key == "ArrowRight" else -0.005
    want = f"{PLANE_CAPTION}{round(before + step, 3):g} "
    thumb.focus()
    t0 = time.perf_counter()
    thumb.press(key)
    wait_page_complete(page, want, timeout=60)
    return time.perf_counter() - t0


def wait_idle(page, timeout: float = 300.0, *, settle: float = 0.3) -> None:
    """Waits until the app's script is idle, no element stale (``settle`` s first)."""
    end = time.monotonic() + timeout
    time.sleep(settle)
    while time.monotonic() < end:
        if page.evaluate("""() => document.querySelector('[data-testid="stApp"]')
                ?.dataset.testScriptState === 'notRunning'
                && document.querySelector('[data-stale="true"]') === null"""):
            return
        time.sleep(0.05)
    raise TimeoutError(f"the app was still running after {timeout} s")


def click_probe(page, fx: float, fy: float, *, tries: int = 4) -> None:
    """Opens the probe tab and clicks its chart at the fractions ``(fx, fy)`` of its
    width and height (from the top left); waits until the click has set the probe.

    Vega-Lite attaches its click handlers after the chart is drawn, and the selection
    reaches the server a moment after the click, so a click that did not set the
    probe's x within a few seconds is repeated (at most ``tries`` clicks).
    """
    page.get_by_role("tab", name="Probe a point").click()
    wait_idle(page)
    chart = page.locator('[data-testid="stVegaLiteChart"]').nth(1)
    chart.scroll_into_view_if_needed()
    surface = chart.locator("canvas, svg").first
    surface.wait_for(state="visible")
    probe_x = page.get_by_label("probe x")
    for _ in range(tries):
        box = surface.bounding_box()
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            wait_idle(page)
            if probe_x.input_value():
                return
            time.sleep(0.2)
    raise TimeoutError(f"{tries} clicks on the probe chart did not set the probe")


def click_image(page, index: int, fx: float, fy: float, until, timeout: float = 30.0) -> float:
    """Clicks the clickable picture ``index`` (0: the plane, 1: the delta pad) at the
    fractions ``(fx, fy)`` of its width and height (from the top left), and waits until
    ``until()`` holds and the app is idle; returns the seconds from the click."""
    frame = page.locator(CLICKABLE).nth(index)
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    t0 = time.perf_counter()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if until() and page.evaluate("""() => document.querySelector('[data-testid="stApp"]')
                ?.dataset.testScriptState === 'notRunning'
                && document.querySelector('[data-stale="true"]') === null"""):
            return time.perf_counter() - t0
        time.sleep(0.02)
    raise TimeoutError(f"the click on picture {index} had no effect within {timeout} s")


def _param(page, name: str) -> str | None:
    """The value of the URL's query parameter ``name`` (None when absent), as the browser
    has it now (``page.url`` lags behind a ``history.pushState`` made while the focus is
    inside a component's iframe: the clicks on the plane and the pad)."""
    from urllib.parse import parse_qs

    values = parse_qs(page.evaluate("() => location.search").lstrip("?")).get(name)
    return values[-1] if values else None


def time_clicks(page, index: int, name: str, points) -> list[float]:
    """Clicks picture ``index`` at each of ``points`` (fractions of its box) and times each
    click until the URL's ``name`` parameter changed and the page is redrawn."""
    times = []
    for fx, fy in points:
        before = _param(page, name)
        times.append(click_image(page, index, fx, fy, timeout=180,   # the first compiles
                                 until=lambda: _param(page, name) not in (None, before)))
    return times


def step_slider(page):
    """The training timeline's step slider (a select-slider: its thumb takes arrow keys)."""
    return page.locator('[data-testid="stSlider"]').filter(has_text="training step") \
        .get_by_role("slider")


def frame_caption(page) -> str:
    """The caption of the timeline's frame ("step N: verdict ...")."""
    caption = page.locator('[data-testid="stImageCaption"]').filter(has_text="verdict")
    return caption.first.inner_text() if caption.count() else ""


def wait_timeline(page, timeout: float = 120.0) -> None:
    """Waits until the training page shows its timeline (a frame with its caption) and
    the app is idle."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not frame_caption(page):
        time.sleep(0.05)
    if not frame_caption(page):
        raise TimeoutError(f"no timeline within {timeout} s")
    wait_idle(page, max(1.0, end - time.monotonic()))


def time_timeline_frames(page, url: str, query: str, frames: int) -> list[float]:
    """Trains on the ``/train`` page, then steps the timeline back ``frames`` times with
    the slider's arrow key, timing each step until the frame's caption names the new step
    and the app is idle (no settling pause: the new caption shows the run began)."""
    page.goto(f"{url}/train?{query}")
    wait_idle(page)
    page.get_by_role("button", name="Train and watch").click()
    wait_timeline(page, timeout=300)
    times = []
    for _ in range(frames):
        before = frame_caption(page)
        step_slider(page).focus()
        t0 = time.perf_counter()
        step_slider(page).press("ArrowLeft")
        end = time.monotonic() + 30
        while time.monotonic() < end and frame_caption(page) in ("", before):
            time.sleep(0.01)
        wait_idle(page, settle=0.0)
        times.append(time.perf_counter() - t0)
        wait_idle(page)       # untimed: a run the step asked for after this one settles
    return times
