"""The app's speed in a real browser: cold start and the eps change.

``python -m bench.app_timing [--quick] [--json]`` starts ``streamlit run app.py``
headless on a free loopback port, drives Debian's Chromium with Playwright and measures

- cold start: from launching the server to the first complete page (the plane, the
  verdict and no script running), goal < 15 s; the server process is fresh (imports,
  compilation), the trained model comes from the on-disk cache that a previous run (or
  ``python -m categories report``) filled; with ``first_ever`` the cache is empty too,
  so the time includes training the model;
- eps change: from pressing the eps slider's arrow key to the page redrawn at the new eps
  (the plane's caption names it and no script is running), median of several, goal
  < 0.5 s.

``measure_app(quick)`` returns the figures for ``python -m bench``; the browser is driven
by :mod:`bench.app_driver`, shared with the end-to-end test ``tests/test_app_browser.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from bench.app_driver import (change_eps, errors_on, launch_chromium, serve_app,
                              time_clicks, time_timeline_frames, wait_healthy,
                              wait_page_complete)

GOALS = {"cold_start_s": 15.0, "eps_change_s": 0.5, "probe_click_s": 0.5, "delta_click_s": 0.5,
         "timeline_frame_s": 0.2}


def measure_app(quick: bool = True, *, first_ever: bool | None = None,
                screenshot: str | None = None) -> dict:
    """Cold start, eps change, clicks on the plane and the pad, and timeline frames of the
    app, in seconds.

    Args:
      quick: fewer eps changes (5 instead of 15), and no first-ever start.
      first_ever: also time a start with empty caches (default: ``not quick``).
      screenshot: save a full-page screenshot there.

    Returns:
      ``{"cold_start_s", "eps_change_s" (median), "eps_change_min_s", "eps_change_max_s",
      "eps_changes", "probe_click_s", "delta_click_s", "timeline_frame_s" (medians over
      "clicks" clicks and frames; "..._max_s" their slowest), "first_ever_start_s" (if measured), "load_average_before",
      "load_average_after" (the machine's 1-minute load: the figures scale with it on a
      shared CPU), "note"}``.
    """
    from playwright.sync_api import sync_playwright

    first_ever = (not quick) if first_ever is None else first_ever
    out = {"load_average_before": round(os.getloadavg()[0], 2)}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            if first_ever:
                with tempfile.TemporaryDirectory(prefix="app-cache-") as cache:
                    out["first_ever_start_s"] = _start_once(browser, {"ROBUSTNESS_CACHE": cache})
            _start_once(browser, {}, warm_only=True)  # fills the model cache if empty
            with serve_app() as (url, proc, started):
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                wait_healthy(url, proc)
                page.goto(url)
                wait_page_complete(page)
                out["cold_start_s"] = time.perf_counter() - started
                times, clicks, failed, n = _measure_page(page, url, quick)
                bad = errors_on(page)
                if screenshot:
                    page.screenshot(path=screenshot, full_page=True)
                page.close()
        finally:
            browser.close()
    out.update(load_average_after=round(os.getloadavg()[0], 2),
               eps_change_s=statistics.median(times), eps_change_min_s=min(times),
               eps_change_max_s=max(times), eps_changes=len(times),
               **{f"{k}_s": statistics.median(v) for k, v in clicks.items()},
               **{f"{k}_max_s": max(v) for k, v in clicks.items()},
               clicks=n,
               note=("errors on page: " + "; ".join(bad)) if bad else
               ("not measured: " + "; ".join(failed)) if failed else
               "pancakes preset, default view; cold start = fresh server, model cache on disk")
    return out


def _measure_page(page, url: str, quick: bool) -> tuple[list, dict, list, int]:
    """Eps changes, then probe clicks, delta clicks and timeline frames on a loaded page.

    Returns:
      (eps change times, {figure: click times}, one line per figure that failed, clicks each).
    """
    times = [change_eps(page, "ArrowRight" if i % 2 == 0 else "ArrowLeft")
             for i in range(5 if quick else 15)]
    n = 5 if quick else 9
    spots = [(0.3 + 0.4 * (i % 3) / 2, 0.3 + 0.4 * (i // 3 % 3) / 2) for i in range(n)]
    clicks, failed = {}, []
    for name, measure in (
            ("probe_click", lambda: time_clicks(page, 0, "probe", spots)),
            ("delta_click", lambda: time_clicks(
                page, 1, "delta", [(0.5 + 0.25 * (x - 0.5), 0.5 + 0.25 * (y - 0.5))
                                   for x, y in spots])),
            ("timeline_frame", lambda: time_timeline_frames(
                page, url, "dataset=pancakes&steps=500", n))):
        try:
            clicks[name] = measure()
        except Exception as e:  # noqa: BLE001 - one failed figure keeps the others
            failed.append(f"{name}: {type(e).__name__}: {str(e)[:120]}")
    return times, clicks, failed, n


def _start_once(browser, env, warm_only=False) -> float:
    with serve_app(env=env) as (url, proc, started):
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        wait_healthy(url, proc)
        page.goto(url)
        wait_page_complete(page, timeout=300 if warm_only else 180)
        elapsed = time.perf_counter() - started
        page.close()
    return elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.app_timing", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="5 eps changes, no first-ever start")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--screenshot", metavar="PNG", help="save the page after the eps changes")
    args = p.parse_args(argv)
    r = measure_app(args.quick, screenshot=args.screenshot)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"app cold start to first complete page  {r['cold_start_s']:6.2f} s   "
          f"(goal < {GOALS['cold_start_s']:g} s)  {'ok' if r['cold_start_s'] < 15 else 'MISSED'}")
    print(f"eps change to redrawn page (median of {r['eps_changes']})  {r['eps_change_s']:6.3f} s   "
          f"(goal < {GOALS['eps_change_s']:g} s)  {'ok' if r['eps_change_s'] < 0.5 else 'MISSED'}"
          f"   range {r['eps_change_min_s']:.3f}-{r['eps_change_max_s']:.3f} s")
    for key, label in (("probe_click_s", "click on the plane"), ("delta_click_s", "click on "
                       "the delta pad"), ("timeline_frame_s", "timeline frame to frame")):
        if key in r:  # medians, to the redrawn page
            print(f"{label} (median of {r['clicks']})  {r[key]:6.3f} s   (goal < {GOALS[key]:g}"
                  f" s)  {'ok' if r[key] < GOALS[key] else 'MISSED'}   max {r[key[:-2] + '_max_s']:.3f} s")
    if "first_ever_start_s" in r:
        print(f"first-ever start (empty caches, trains the model)  {r['first_ever_start_s']:6.2f} s")
    print(f"1-minute load average before / after: {r['load_average_before']} / "
          f"{r['load_average_after']} on {os.cpu_count()} cores\n{r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
