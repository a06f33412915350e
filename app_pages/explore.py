"""Explore: one model on one data set, each category as formula, picture and number.

Top to bottom: the title and the model, the verdict ladder, the plane beside the curves
over eps, one panel per category, and four tabs (how to read the page, probe a point,
attacks against the exact values, downloads) that compute only when open.

The plane and the games beside it (the delta pad, the random deltas) are one fragment
(:func:`show_play`): a click on the plane or the pad, a nudge or a draw reruns only
them (and writes the link), not the whole page; when an open tab shows the probe or
your delta too, the whole page runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from categories import FORMULAS, NAMES, Rung, accuracy_caveat, ladder
from drawing import Layer, Style, curves_spec, draw_plane, legend_entries, legend_html
from app_pages import cached
from app_pages.canvas import show_canvas, start_button
from app_pages.pictures import clickable, layered, plane_of, plane_spec
from app_pages.play import (PLANE_CLICK, show_pad, show_random_game, show_sweep,
                            sweep_frame_shown, take_clicks, yours_of)
from app_pages.reading import curves_with, profile_path
from app_pages.sections import Curves, show_attacks, show_downloads, show_probe
from app_pages.sidebar import DEFAULT, state_now, write_url
from app_pages.texts import (CHAIN_WHY, EXPLANATIONS, HOW_TO_READ, LINF_ARROWS, MEASURES, PAGE_CSS,
                             caveat_words, changes_words, model_words, norm_name)
from app_pages.urlstate import DRAWN, EPS_MAX, OVERLAYS, SECTIONS, UPLOAD
from app_pages.view import View, current_view

TABS = list(SECTIONS)
DASHED_EPS = 8          # the attack estimates over eps are computed at this many eps


def page() -> None:
    """The explore page (the app's default)."""
    take_clicks()           # a click on the plane or the pad, before the view is read
    if state_now().dataset == DRAWN:
        show_canvas()
    view = current_view()
    if view is None:
        st.stop()
    st.html(PAGE_CSS)
    rungs, verdict = ladder(view.reading.fractions, view.state.tau)
    show_title(view, verdict)
    show_ladder(view, rungs, verdict)
    # the pills over both columns: in the plane's column the fourth was cut off
    st.pills("overlays", list(OVERLAYS), key="overlays", selection_mode="multi",
             format_func=OVERLAYS.get, persist_state="session",
             help="D is dark, H (D's eps-neighbourhood) lighter, in D's true class colours")
    show_play(view)
    left, right = st.columns([3, 2], gap="medium")
    curves = show_curves(view, left, right)
    show_categories(view, rungs)
    read_tab, probe_tab, attack_tab, download_tab = st.tabs(TABS, key="section",
                                                           on_change="rerun")
    with read_tab:
        st.markdown(HOW_TO_READ)
    with probe_tab:
        if probe_tab.open:
            show_probe(view, plane_of(view, yours_of(view)))
    with attack_tab:
        if attack_tab.open:
            show_attacks(view, verdict)
    with download_tab:
        if download_tab.open:
            show_downloads(view, plane_of(view, yours_of(view)), curves, verdict)
    sweep_frame_shown(view.state.eps)


# the tabs that show the probe or your delta too: with one open, a click reruns the page
SHOWS_PLAY = (SECTIONS[1], SECTIONS[3])


@st.fragment
def show_play(view: View) -> None:
    """The plane (click it to probe a point) beside the delta pad and the random deltas:
    a fragment, so a click, a nudge or a draw reruns only this part of the page.

    In a rerun of the fragment alone, ``view`` is the one of the last full run: the
    click is applied here, and the view takes the probe and your delta it sets; any
    other change (a data set started from the plane's points), or an open tab that shows
    the probe or your delta, reruns the whole page instead.
    """
    take_clicks()                     # a no-op in a full run: the page took the click
    state = state_now()
    if state != view.state:
        same = dataclasses.replace(state, probe=view.state.probe, delta=view.state.delta)
        if same != view.state or state.section in SHOWS_PLAY:
            st.rerun(scope="app")
        view = view._replace(state=state)
    yours = yours_of(view)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        show_plane(view, yours)
    with right:
        # one game at a time: both stacked left a tall gap under the plane
        one, many = st.tabs(["one delta for all I", "random deltas"])
        with one:
            show_pad(view, yours)
        with many:
            show_random_game(view)
    write_url(state_now())            # the link, also when only the fragment ran


def title_of(view: View) -> str:
    """The data set's name as the page's title shows it: a preset with the sidebar's own
    number of points or noise says so (``pancakes, 300 points, noise 0.05``)."""
    state, task = view.state, view.task
    if task.name == state.dataset or state.dataset in (DRAWN, UPLOAD):
        return task.name
    changed = ([f"{state.points} points"] if state.points != DEFAULT.points else []) + (
        [f"noise {state.noise:g}"] if state.noise else [])
    return ", ".join([state.dataset, *changed])


def show_title(view: View, verdict) -> None:
    state, task = view.state, view.task
    caveat = accuracy_caveat(view.reading.clean_accuracy)
    st.title(f"{title_of(view)}: category {verdict}, {NAMES[verdict]}"
             + (f" ({caveat})" if caveat else ""))
    built = (f" Built for category {task.expected} at eps = {task.default_eps}."
             if task.expected else "")
    noise = f", noise {task.noise:g}" if task.noise else ""
    st.caption(f"{task.description}{built} Model: {model_words(state)}, "
               f"{state.steps} steps, seed {state.seed}; clean accuracy on "
               f"D {view.reading.clean_accuracy:.1%} ({len(view.x)} points{noise}, the "
               "fractions count the correct ones).")


def show_ladder(view: View, rungs: list[Rung], verdict) -> None:
    """The four fractions from category 4 down, and the verdict beside them."""
    state = view.state
    caveat = accuracy_caveat(view.reading.clean_accuracy)
    st.markdown(f"**The verdict ladder** at eps = {state.eps:g} ({norm_name(state.norm)}), "
                f"tau = {state.tau:g}: the verdict is the highest category whose fraction "
                "reaches tau" + (f", **{caveat}** (the points the model classifies correctly)."
                                 if caveat else "."))
    if caveat:
        st.warning(caveat_words(view.reading.clean_accuracy), icon=":material/warning:")
    # the verdict's column is wider: its pill holds the category's name ("universal
    # perturbations"), which a fifth of the page at 1000 px cannot hold unbroken
    columns = st.columns([1, 1, 1, 1, 1.5], gap="small")
    for column, rung in zip(columns, reversed(rungs)):
        # the heading above names eps: the label stays one line at 1000 px
        column.metric(f"{rung.category} · {rung.fraction}", f"{rung.value:.3f}",
                      "≥ tau" if rung.holds else "< tau", delta_arrow="off",
                      delta_color="normal" if rung.holds else "off", border=True)
    columns[4].metric("verdict: category", str(verdict),
                      NAMES[verdict] + (f", {caveat}" if caveat else ""), delta_color="off",
                      delta_arrow="off", border=True,
                      help="4 if random ≥ tau, else 3 if universal ≥ tau, else 2 if pointwise "
                           "≥ tau, else 1 if robust ≥ tau, else 1-2")
    st.caption(CHAIN_WHY)


def show_plane(view: View, yours) -> None:
    """The plane (click it to probe a point) and its legend."""
    state, task = view.state, view.task
    overlays = state.overlays
    # drawn once per everything it is drawn from (the sample of D: task, seed, points); the
    # probe and your delta's arrow are marks above the rest: a click on the plane renders
    # only its marks over the plane drawn before
    base = ("plane", view.model_key, view.task_key, state.seed, state.points, state.norm,
            state.eps, overlays, state.delta)

    def draw():
        plane = plane_of(view, yours)
        spec = plane_spec(view, plane, Style(legend=False))
        marks = plane.probed is not None or plane.yours is not None
        return layered(base, lambda: draw_plane(spec, layer=Layer.BASE),
                       (lambda: draw_plane(spec, layer=Layer.MARKS)) if marks else None, 90)

    clickable(cached.picture(base + (state.probe,), draw), PLANE_CLICK, task.bounds)
    st.session_state["_plane_points"] = view.x     # what a click snaps to (play._snapped)
    st.caption(f"The plane at eps = {state.eps:g} ({norm_name(state.norm)}): regions of f "
               "tinted by class, decision boundaries black, D dark and H lighter in D's true "
               "class colours. Click any point to probe it: its ball B_eps (dashed: the "
               "other norm's ball of the same eps), its minimal perturbation and rho "
               "(details in the tab \"Probe a point\")."
               + (f" {LINF_ARROWS}" if state.norm == "inf" else ""))
    st.html(legend_html(legend_entries(
        task.num_classes, minimal="arrows" in overlays, universal="universal" in overlays,
        random="random" in overlays, probe=state.probe is not None, yours=yours is not None)))
    st.toggle("snap a click to the nearest point of D", key="snap_to_d",
              help="a click on the plane probes the nearest point of D instead of the point "
                   "clicked")
    if state.dataset not in (DRAWN, UPLOAD):
        start_button(state.dataset)


def show_curves(view: View, left, right) -> Curves:
    """The four fractions over eps (exact, and the attacks' dashed on request) in ``left``,
    and where the verdict changes in ``right``."""
    state = view.state
    found = cached.changes(view.model_key, state.norm, state.tau, view.model.logits_fn,
                           view.x, view.y, view.profile,
                           profile_path(view.task, state.config(), state.norm))
    radii, curves = curves_with(view.profile, found.measured)
    changes = [(c.eps, c.before, c.after) for c in found.changes]
    # the attacks and the brackets over eps, each at the same DASHED_EPS radii on request
    eps_values = tuple(float(e) for e in
                       np.linspace(EPS_MAX / DASHED_EPS, EPS_MAX, DASHED_EPS).round(4))
    dashed = bands = None
    if left.toggle("attack estimates over eps (dashed)", key="dashed",
                 help="FGSM, PGD, DeepFool and the universal algorithms at 8 values of eps "
                      "(slow the first time, then cached)"):
        dashed = (np.array(eps_values),
                  cached.estimate_curves(view.model_key, state.norm, eps_values,
                                         view.model.logits_fn, view.x, view.y, view.key))
    if left.toggle("certified brackets over eps (bands)", key="bands",
                   help="the proven [lo, hi] of each fraction at 8 values of eps, as bands "
                        "under the curves (slow the first time, then cached)"):
        proven = cached.bracket_curves(view.model_key, state.norm, eps_values,
                                       view.model.logits_fn, view.x, view.y)
        bands = (np.array(proven.radii), proven._asdict())
    # eps and tau in a named dataset: an eps change sends the same spec with one new row,
    # which the browser swaps in place instead of drawing the chart anew
    left.vega_lite_chart(curves_spec(radii, curves, tau=state.tau, eps=state.eps,
                                     norm=state.norm, estimates=dashed, changes=changes,
                                     brackets=bands, marks="now"),
                         width="stretch")
    right.caption("The four fractions of D (y) over eps (exact; dashed: attack estimates; "
                  "bands: certified brackets, the true value proven inside), the tau line, and "
                  "where the verdict changes (dotted).")
    with right:
        show_sweep()
    right.markdown(changes_words(found, state.tau))
    return Curves(radii, curves, changes, dashed)


def show_categories(view: View, rungs: list[Rung]) -> None:
    """One bordered panel per category: whether it holds, its formula, its measure."""
    st.subheader("The four categories, from most to least robust")
    box = st.container(key="categories")     # one card a row on a narrow page (PAGE_CSS)
    grid = box.columns(2) + box.columns(2)
    for column, rung in zip(grid, rungs):
        with column.container(border=True):
            category = rung.category
            # Streamlit's own icon font: a text check mark falls back to a box in some fonts
            mark = (":green[:material/check_circle: holds]" if rung.holds
                    else ":red[:material/cancel: does not hold]")
            st.markdown(f"**Category {category}: {NAMES[category]}** — {mark} at "
                        f"tau = {view.state.tau:g}")
            st.latex(FORMULAS[category])
            st.latex(f"{MEASURES[category]} = {rung.value:.3f}")
            st.caption(EXPLANATIONS[category])
