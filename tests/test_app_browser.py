"""End to end in a real browser: ``streamlit run app.py`` headless, driven by Debian's
Chromium through Playwright (the project's scripts/install.sh installs both).

The server runs on a free loopback port with the test session's model cache. One page
load is played like a user would: eps changes by the slider's keyboard step; a click on
the plane probes that point (marked on the plane, kept in the URL); a click on the delta
pad chooses *your delta* and shows its score; the training page trains, steps its timeline
back and plays it to the end; and at 1000 and 1400 px no element of either page is clipped (bounding boxes against the viewport and their clipping containers).
Screenshots go under the pytest tmp dir.
"""

import io
import os
import shutil
import time

import numpy as np
import pytest

from bench.app_driver import (CHROMIUM, CLICKABLE, change_eps, click_image, click_probe,
                              eps_slider, errors_on, frame_caption, launch_chromium, serve_app,
                              time_timeline_frames, wait_healthy, wait_idle, wait_page_complete,
                              wait_timeline)

pytestmark = pytest.mark.slow

needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("chromium")),
    reason="Debian's chromium is not installed (scripts/install.sh installs it)")

# Every visible element of the main area whose box leaves the viewport or the nearest
# ancestor that clips it (overflow not visible), or whose text is cut by its own box.
CLIPPED = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const out = [];
    const width = window.innerWidth;
    for (const el of main.querySelectorAll('*')) {
        if (el.closest('.katex-mathml')) continue;   // KaTeX's screen-reader copy, hidden
        const r = el.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || style.opacity === '0') continue;
        // a slider's keyboard input rides on its thumb, unpainted (no border, no
        // background): at the right end it reaches past the page without showing
        if (el.tagName === 'INPUT' && el.type === 'range') continue;
        const name = el.dataset?.testid || (typeof el.className === 'string' && el.className)
            || el.tagName;
        const label = String(name).slice(0, 40) + ': '
            + (el.innerText ?? el.textContent ?? '').slice(0, 40);
        if (r.left < -1 || r.right > width + 1) { out.push('viewport ' + label); continue; }
        const leaf = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (leaf && el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'visible')
            out.push('text cut ' + label);
        let box = el.parentElement;
        while (box && box !== main && getComputedStyle(box).overflowX === 'visible'
               && getComputedStyle(box).overflowY === 'visible') box = box.parentElement;
        if (!box || box === main || !leaf) continue;
        // the text's own extent: text overflowing its element is not in the element's box
        const range = document.createRange();
        range.selectNodeContents(el);
        const t = range.getBoundingClientRect();
        const r2 = {left: Math.min(r.left, t.left), right: Math.max(r.right, t.right),
                    top: Math.min(r.top, t.top), bottom: Math.max(r.bottom, t.bottom)};
        if (r2.left < -1 || r2.right > width + 1) { out.push('viewport ' + label); continue; }
        const b = box.getBoundingClientRect();
        if (b.width < 1 || b.height < 1) continue;
        if (r2.left < b.left - 1 || r2.right > b.right + 1 || r2.top < b.top - 1
            || r2.bottom > b.bottom + 1) out.push('container ' + label + ` [${Math.round(r2.left)},`
            + `${Math.round(r2.right)}]x[${Math.round(r2.top)},${Math.round(r2.bottom)}] in `
            + `[${Math.round(b.left)},${Math.round(b.right)}]x[${Math.round(b.top)},`
            + `${Math.round(b.bottom)}]`);
    }
    return out;
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One server (the test session's model cache) and one Chromium for the module's
    tests: ``(browser, url)``."""
    from playwright.sync_api import sync_playwright

    log = tmp_path_factory.mktemp("app") / "streamlit.log"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            with serve_app(log_path=str(log)) as (url, proc, _):
                wait_healthy(url, proc)
                yield browser, url
        finally:
            browser.close()


def _query(page) -> str:
    """The page's query string as the browser has it now (``page.url`` can lag behind a
    ``history.pushState`` made while the focus is inside a component's iframe)."""
    from urllib.parse import unquote

    return unquote(page.evaluate("() => location.search"))


def _yellow_near(png: bytes, fx: float, fy: float, radius: int = 20) -> int:
    """How many pure-yellow pixels (the probe's star) lie near ``(fx, fy)`` of the image."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    h, w = img.shape[:2]
    cx, cy = int(fx * w), int(fy * h)
    near = img[max(cy - radius, 0):cy + radius, max(cx - radius, 0):cx + radius]
    return int(((near[..., 0] > 230) & (near[..., 1] > 230) & (near[..., 2] < 60)).sum())


def _explore_not_clipped(page, tmp_path) -> None:
    """The explore page as it stands, reloaded at 1400 and 1000 px: nothing clipped and the
    eight formulas at a readable size."""
    # a taller window: the whole page at once
    link = page.evaluate("() => location.href")
    for width in (1400, 1000):
        # a fresh load at each width: the clickable pictures size their frames
        # when their image loads
        page.set_viewport_size({"width": width, "height": 3000})
        page.goto(link)
        wait_page_complete(page, timeout=120)
        page.wait_for_timeout(800)
        page.screenshot(path=str(tmp_path / f"app-{width}.png"))
        assert page.evaluate(CLIPPED) == [], width
        # and nothing collapsed: the eight formulas are drawn at a readable size
        assert page.evaluate("""() => [...document.querySelectorAll(
            '.katex-display .katex-html')].filter(e =>
            e.getBoundingClientRect().width > 100
            && parseFloat(getComputedStyle(e).fontSize) >= 9).length""") == 8, width


def _train_scrub_and_play(page, url: str, query: str, tmp_path, steps: int) -> list[float]:
    """Trains live (``query`` asks for ``steps`` steps), scrubs the timeline two frames back,
    plays it to the last frame, and checks the page at 1400 and 1000 px; returns the timed
    frames."""
    frames = time_timeline_frames(page, url, query, 2)
    caption = frame_caption(page)
    assert caption.startswith("step ") and errors_on(page) == []
    step = int(caption.split()[1].rstrip(":"))
    assert step < steps                                  # two frames back
    page.get_by_role("button", name="▶ Play").click()
    end = time.monotonic() + 60
    while time.monotonic() < end and not frame_caption(page).startswith(f"step {steps}:"):
        time.sleep(0.2)
    assert frame_caption(page).startswith(f"step {steps}:")  # played to the last frame
    wait_idle(page)
    link = page.evaluate("() => location.href")
    for width in (1400, 1000):
        page.set_viewport_size({"width": width, "height": 2000})
        page.goto(link)
        wait_timeline(page)           # the recorded run is kept: shown at once
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / f"train-{width}.png"))
        assert page.evaluate(CLIPPED) == [], ("train", width)
    return frames


@needs_browser
def test_page_loads_eps_changes_clicks_play_and_nothing_is_clipped(app, tmp_path):
    browser, url = app
    query = "?dataset=pancakes&steps=200&width=32&depth=2&overlays=arrows,universal"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url + query)
    wait_page_complete(page, timeout=300)
    assert errors_on(page) == []
    assert float(eps_slider(page).input_value()) == pytest.approx(0.15)
    seconds = change_eps(page, "ArrowRight")
    assert float(eps_slider(page).input_value()) == pytest.approx(0.155)
    assert "eps=0.155" in page.url                      # the state is in the URL
    plane = page.locator(CLICKABLE).first
    assert plane.bounding_box()["width"] > 300          # the figure is shown
    assert page.locator('[data-testid="stMetricLabel"]').filter(
        has_text="verdict").count() == 1                # the verdict
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1  # curves
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot))
    # for all I, exists delta: a click on the plane probes that point
    probe_s = click_image(page, 0, 0.75, 0.25, lambda: "probe=" in _query(page),
                          timeout=120)
    px, py = (float(v) for v in _query(page).split("probe=")[1].split("&")[0]
              .split(","))
    assert px == pytest.approx(0.5, abs=0.03) and py == pytest.approx(0.5, abs=0.03)
    assert page.get_by_text("probed point").count() == 1  # legend
    assert _yellow_near(plane.screenshot(), 0.75, 0.25) > 20  # the star, there
    again_s = click_image(page, 0, 0.25, 0.75,
                          lambda: "probe=-0.5" in _query(page))
    # exists delta, for all I: a click on the pad chooses your delta
    pad_s = click_image(page, 1, 0.75, 0.47,
                        lambda: page.get_by_text("Your delta flips").count() == 1)
    assert "delta=" in _query(page)
    assert page.get_by_text("the best delta flips").count() == 1
    assert errors_on(page) == []
    _explore_not_clipped(page, tmp_path)
    # the probe tab's own chart still probes too
    page.set_viewport_size({"width": 1400, "height": 1400})
    click_probe(page, 0.7, 0.3)
    assert page.get_by_text("rho(I) = ").count() == 1
    assert errors_on(page) == []
    frames = _train_scrub_and_play(page, url, query[1:], tmp_path, steps=200)
    print(f"screenshot: {shot} (eps change {seconds:.2f} s, first probe click "
          f"{probe_s:.2f} s, next {again_s:.2f} s, delta pad {pad_s:.2f} s, "
          f"timeline frames {', '.join(f'{t:.2f}' for t in frames)} s)")
    assert shot.stat().st_size > 50_000


def _changes_line(page) -> str:
    return page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text="The verdict changes at").first.inner_text()


def _ladder_verdict(page) -> str:
    return page.locator('[data-testid="stMetric"]').filter(has_text="verdict: category").locator(
        '[data-testid="stMetricValue"]').first.inner_text().strip()


def _verdict_of_the_app(query: dict):
    """``eps -> verdict`` as the served app reads it (its model, sample of D and profile,
    from the session's cache that the server wrote)."""
    from app_pages.reading import profile_path, read_at, sample_of_d, scan
    from app_pages.urlstate import state_from_query
    from categories import verdict
    from toymodels import get_task, load_or_train, task_variant

    state, _ = state_from_query(query)
    task = task_variant(get_task(state.dataset), points=state.points, noise=state.noise)
    model = load_or_train(task, state.config())
    x, y, _ = sample_of_d(task, state.seed, state.points)
    profile = scan(model.logits_fn, x, y, state.norm, profile_path(task, state.config(),
                                                                   state.norm))
    return lambda eps: str(verdict(read_at(model.logits_fn, x, profile, state.norm,
                                           eps).fractions, state.tau))


@needs_browser
def test_the_stated_verdict_changes_are_where_the_ladder_changes(app, tmp_path):
    """The line "The verdict changes at eps ≈ ..." on bubbles (l2) and pancakes (l∞), read
    in the browser and checked: one precision before each stated change the app's
    verdict is the one before it, one precision after it the one after, every rung the
    line names is a rung of its own; and the ladder itself, moved to both ends of the
    narrowest rung, shows them."""
    import re

    browser, url = app
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for dataset, norm in (("bubbles", "2"), ("pancakes", "inf")):
        query = {"dataset": dataset, "norm": norm, "steps": "500", "points": "300"}
        link = url + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        page.goto(link)
        wait_page_complete(page, timeout=300)
        line = _changes_line(page)
        precision = float(re.search(r"each to ±([0-9.]+)", line).group(1))
        stated = [(float(e), a, b) for e, a, b in
                  re.findall(r"eps ≈ ([0-9.]+) \(([0-9-]+) → ([0-9-]+)", line)]
        assert precision == 0.001 and len(stated) >= 2, line
        verdicts = [stated[0][1]] + [after for _, _, after in stated]
        assert len(set(verdicts)) == len(verdicts), line
        verdict_at = _verdict_of_the_app(query)
        for e, before, after in stated:
            assert verdict_at(e - precision) == before, (line, e)
            assert verdict_at(e + precision) == after, (line, e)
        # the ladder, at both ends of the narrowest rung between two changes
        k = int(np.argmin(np.diff([e for e, _, _ in stated])))
        for eps, want in ((stated[k][0] + precision, stated[k][2]),
                          (stated[k + 1][0] - precision, stated[k + 1][1])):
            page.goto(f"{link}&eps={eps:.4f}")
            wait_page_complete(page, f"The plane at eps = {eps:.4f}".rstrip("0"), timeout=120)
            assert _ladder_verdict(page) == want, (dataset, line, eps)
            assert errors_on(page) == []
        page.screenshot(path=str(tmp_path / f"changes-{dataset}.png"))
    page.close()


def _wait_scale_page(page, photos: int, timeout: float = 120.0) -> None:
    """Until the full-scale page shows its verdict, all `photos` images are loaded and its
    script has stopped running (the images can arrive after the table and the verdict)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if page.evaluate("""(photos) => !!document.querySelector(
                '[data-test-script-state="notRunning"]')
                && !!document.querySelector('[data-testid="stDataFrame"]')
                && [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
                   .some(e => e.innerText.startsWith('Verdict of the estimates'))
                && document.querySelectorAll('[data-testid="stImage"] img').length >= photos
                && [...document.querySelectorAll('[data-testid="stImage"] img')]
                   .every(i => i.complete && i.naturalWidth > 0)""", photos):
            return
        time.sleep(0.2)
    raise TimeoutError("the full-scale page did not show its verdict")


@needs_browser
def test_the_full_scale_page_shows_a_run_and_nothing_is_clipped(app, tmp_path):
    """/scale with a run of the tiny network in the server's cache: the ladder, the verdict,
    the curve, the perturbation and the photos before and after, nothing clipped at 1000
    and 1400 px."""
    from helpers import seed_scale_run

    result = seed_scale_run()            # the server reads the cache this process writes
    browser, url = app
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    for width in (1400, 1000):
        page.set_viewport_size({"width": width, "height": 2600})
        page.goto(url + "/scale")
        photos = 1 + 1 + 2 * 4           # curve, perturbation, 4 photos before and after
        _wait_scale_page(page, photos)
        assert errors_on(page) == []
        assert page.locator('[data-testid="stDataFrame"]').count() == 1
        verdict = result["curve"][-1]["verdict"]
        assert page.get_by_text(f"Verdict of the estimates: category {verdict}").count() == 1
        assert page.locator('[data-testid="stImage"] img').count() == photos
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / f"scale-{width}.png"), full_page=True)
        assert page.evaluate(CLIPPED) == [], ("scale", width)
    page.close()


def _title(page) -> str:
    return page.locator("h1").first.inner_text()


@needs_browser
def test_a_learner_builds_category_4_with_the_bubble_stamp_in_a_few_actions(app, tmp_path):
    """Category 4 by hand: open the canvas, choose the bubble stamp, stamp a bubble of each
    class; every action counted (a click, a choice), at most 20, and the page says verdict 4
    at eps 0.15. Then the lesson's *Try it* of step 3 opens margins in the same session."""
    browser, url = app
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url + "?dataset=draw&eps=0.15")
    actions = 1                                            # opening the canvas
    wait_idle(page, timeout=120)
    radios = page.locator('[data-testid="stRadio"]')
    radios.filter(has_text="bubble stamp").get_by_text("bubble stamp", exact=False).click()
    actions += 1
    wait_idle(page)
    for k, (cls, (fx, fy)) in enumerate(((0, (0.3, 0.3)), (1, (0.7, 0.7))), start=1):
        radios.filter(has_text="erase").get_by_text(f"class {cls}", exact=True).click()
        actions += 1
        wait_idle(page)
        counted = page.get_by_text(f"{20 * k} points of D: class 0: 20")
        click_image(page, 0, fx, fy, lambda: counted.count() == 1, timeout=120)
        actions += 1
    wait_page_complete(page, timeout=300)
    assert actions <= 20
    assert _title(page).startswith("drawn: category 4"), _title(page)
    ladder = _ladder_verdict(page)
    assert ladder.startswith("4"), ladder
    assert "drawn=" in _query(page) and errors_on(page) == []
    page.screenshot(path=str(tmp_path / "category4.png"))
    # the lesson, step 3: its link opens margins, although the session holds the drawing
    page.goto(url + "/lesson")
    wait_idle(page, timeout=120)
    page.locator('[data-testid="stButtonGroup"] button').filter(has_text="3").first.click()
    wait_idle(page)
    page.get_by_role("link", name="Try it").click()
    wait_page_complete(page, timeout=300)
    assert _title(page).startswith("margins: category 1"), _title(page)
    assert "dataset=margins" in _query(page) and errors_on(page) == []


@needs_browser
@pytest.mark.parametrize("path", ["presets", "geometry", "lesson"])
def test_the_other_pages_show_nothing_clipped_at_1000_and_1400_px(app, tmp_path, path):
    """The presets (the four panels and their table), the geometry page's first tab and the
    lesson's first step, at the two widths a laptop gives the app."""
    browser, url = app
    page = browser.new_page(viewport={"width": 1000, "height": 2400})
    for width in (1000, 1400):
        page.set_viewport_size({"width": width, "height": 2400})
        page.goto(f"{url}/{path}?steps=200&width=32&depth=2")
        wait_idle(page, timeout=600)
        page.wait_for_timeout(800)
        page.screenshot(path=str(tmp_path / f"{path}-{width}.png"))
        assert page.evaluate(CLIPPED) == [], (path, width)
        assert errors_on(page) == []
    page.close()
