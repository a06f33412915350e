"""End to end in a real browser: ``streamlit run app.py`` headless, driven by Debian's
Chromium through Playwright (the project's scripts/install.sh installs both).

The server runs on a free loopback port with the test session's model cache; the page
loads, eps changes by the slider's keyboard step, the test waits for the run to finish
and the plane to be redrawn at the new eps, checks that no error element is shown, and
saves a screenshot under the pytest tmp dir.
"""

import os
import shutil

import pytest

from bench.app_timing import (CHROMIUM, change_eps, click_probe, eps_slider, errors_on,
                              launch_chromium, serve_app, wait_healthy, wait_page_complete)

pytestmark = pytest.mark.slow

needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("chromium")),
    reason="Debian's chromium is not installed (scripts/install.sh installs it)")


@needs_browser
def test_page_loads_eps_changes_and_nothing_fails(tmp_path):
    from playwright.sync_api import sync_playwright

    query = "?dataset=pancakes&steps=200&width=32&depth=2&overlays=arrows,universal"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            with serve_app(log_path=str(tmp_path / "streamlit.log")) as (url, proc, _):
                wait_healthy(url, proc)
                page = browser.new_page(viewport={"width": 1600, "height": 2400})
                page.goto(url + query)
                wait_page_complete(page, timeout=300)
                assert errors_on(page) == []
                assert float(eps_slider(page).input_value()) == pytest.approx(0.15)
                seconds = change_eps(page, "ArrowRight")
                assert float(eps_slider(page).input_value()) == pytest.approx(0.155)
                assert "eps=0.155" in page.url                      # the state is in the URL
                plane = page.locator('[data-testid="stImage"] img').first
                assert plane.bounding_box()["width"] > 300          # the figure is shown
                assert page.locator('[data-testid="stMetricLabel"]').filter(
                    has_text="verdict").count() == 1                # the verdict
                assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1  # curves
                assert errors_on(page) == []
                shot = tmp_path / "app.png"
                page.screenshot(path=str(shot))
                # click-to-probe: a click on the probe chart sets the probe (and the URL)
                click_probe(page, 0.7, 0.3)
                px, py = (float(page.get_by_label(f"probe {c}").input_value()) for c in "xy")
                assert px > 0 and py > 0 and "probe=" in page.url
                assert page.get_by_text("rho(I) = ").count() == 1
                assert errors_on(page) == []
                page.screenshot(path=str(tmp_path / "probe.png"), full_page=True)
                print(f"screenshot: {shot} (eps change took {seconds:.2f} s)")
        finally:
            browser.close()
    assert shot.stat().st_size > 50_000
