"""The app's session state, declared in one place: every key of ``st.session_state`` the
pages read or write, with the module that owns it (writes it) and what it holds; typed
accessors for the keys that cross modules.

Widget keys are declared too: the sidebar's are the :class:`~app_pages.urlstate.ViewState`
field names (the URL's parameters, :data:`app_pages.urlstate.FIELDS`); the others are
named here. ``tests/test_app_state.py`` reads the pages' sources and fails on a key used
but not declared, so a new key is added here first.

Example:
    >>> KEYS["drawn_points"].owner
    'app_pages.canvas'
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st


class Key(NamedTuple):
    owner: str      # the module that writes it (others only read it)
    what: str


def _keys(owner: str, **what: str) -> dict[str, Key]:
    return {name: Key(owner, text) for name, text in what.items()}


KEYS: dict[str, Key] = {
    **_keys("app_pages.sidebar",
            _initialised="the URL was read into the widgets (a session's first run)",
            _url_written="the query the app last wrote: a URL that differs is a followed link",
            _url_warnings="the link's ignored values, shown once",
            probe_x="the probed point's x (also the probe tab's input): set_probe",
            probe_y="the probed point's y: set_probe",
            csv_file="the uploaded CSV (file uploader)",
            csv_rescale="rescale an upload into the plane (toggle)"),
    **_keys("app_pages.view",
            _last_good="(task key, task) of the last data set that worked: the fallback"),
    **_keys("app_pages.play",
            delta="your delta on the pad, (dx, dy) or None",
            _eps_next="the eps sweep's next frame, taken by the sidebar before its slider",
            _sweeping="the eps sweep runs", _sweep_rerun="the sweep's own full run is on",
            _sweep_shown="the eps whose frame the page drew to its end",
            _reveal_best="the best delta is shown on the pad",
            _random_drawn="random deltas drawn so far", _random_sig="(model, norm, eps) drawn at",
            nudge_fraction="a nudge's step, eps / this (segmented control)",
            snap_to_d="a click on the plane probes the nearest point of D (toggle)",
            plane_click="the plane's last click (component)", pad_click="the pad's last click",
            _plane_click_seen="the plane click applied last",
            _pad_click_seen="the pad click applied last",
            _plane_click_map="the plane picture's pixel -> point map",
            _pad_click_map="the pad picture's pixel -> point map",
            eps_sweep="the sweep's button", draw_one="draw one random delta",
            draw_ten="draw ten", draw_reset="forget the draws", reveal="reveal the best delta",
            clear_delta="clear your delta", nudge_left="nudge", nudge_right="nudge",
            nudge_up="nudge", nudge_down="nudge"),
    **_keys("app_pages.canvas",
            drawn_points="the drawing: [(x, y, class, in_d)], in the link as drawn=",
            _drawn_history="earlier drawings, for undo",
            draw_class="the class a click adds, or -1: erase (radio)",
            draw_tool="point, brush or stamp (radio)", brush_radius="the brush's disc",
            brush_count="points a click adds", draw_from="the data set to start from",
            canvas_click="the canvas's last click", _canvas_click_seen="applied last",
            _canvas_click_map="the canvas picture's pixel -> point map",
            draw_undo="undo", draw_clear="clear", draw_on_preset="draw on these points",
            draw_from_preset="start from these points"),
    **_keys("app_pages.explore", categories="the category cards' container (CSS)",
            _plane_points="the points of D the plane shows: what a click snaps to"),
    **_keys("app_pages.sections", probe_chart="the probe tab's clickable chart"),
    **_keys("app_pages.lesson", lesson_step="the lesson's step (segmented control)",
            lesson_back="previous step", lesson_next="next step"),
    **_keys("app_pages.training",
            tl_index="the timeline's shown snapshot", tl_playing="the timeline plays",
            tl_step="the step slider", tl_snapshots="snapshots to record",
            tl_stop="the stop condition", tl_train="train and watch", tl_play="play / pause"),
    **_keys("app_pages.geometry",
            geo_tab="the open tab", geo_transfer="the transfer run's parameters",
            geo_retrain="the retraining run's parameters",
            geo_transfer_run="its button", geo_retrain_run="its button",
            geo_retrain_method="perturbations", geo_retrain_rounds="rounds",
            geo_retrain_steps="steps per round"),
    **_keys("app_pages.scale", scale_run="the run shown", scale_eps="the eps shown",
            scale_compute="measure on the page"),
}


def request_eps(eps: float) -> None:
    """Asks the sidebar to set eps before it draws its slider (a widget's value cannot
    change once drawn): the eps sweep's next frame."""
    st.session_state["_eps_next"] = eps


def take_eps_request() -> float | None:
    """The eps :func:`request_eps` asked for (once), or None."""
    return st.session_state.pop("_eps_next", None)


def last_good(default: str) -> tuple[str, object]:
    """``(task key, task or None)`` of the last data set that worked in this session."""
    return st.session_state.get("_last_good", (default, None))


def set_last_good(task_key: str, task=None) -> None:
    st.session_state["_last_good"] = (task_key, task)


def set_probe(x: float, y: float) -> None:
    """Probes ``(x, y)``: a click on the plane or the probe chart, or a link's ``probe=``."""
    st.session_state["probe_x"], st.session_state["probe_y"] = float(x), float(y)


def load_drawing(points) -> None:
    """Puts a link's drawing on the canvas (undo history left as it is)."""
    st.session_state["drawn_points"] = list(points)


def drawn_points() -> list[tuple]:
    """The drawing as ``(x, y, class, in_d)``."""
    return list(st.session_state.get("drawn_points") or [])
