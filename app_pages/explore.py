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

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from categories import FORMULAS, KEYS, NAMES, Rung, accuracy_caveat, ladder
from drawing import (PROBE_REACH, curves_spec, draw_curves, draw_plane, figure_png,
                     legend_entries, legend_html, subset)
from toymodels import model_bytes
from app_pages import cached
from app_pages.downloads import perturbations_npz
from app_pages.estimates import attack_rows
from app_pages.sidebar import DEFAULT, state_now, write_url
from app_pages.pictures import Plane, clickable, layered, plane_of, plane_png
from app_pages.play import (PLANE_CLICK, show_canvas, show_pad, show_random_game, show_sweep,
                            start_button, sweep_frame_shown, take_clicks, yours_of)
from app_pages.reading import curves_with, profile_path
from app_pages.texts import (EXPLANATIONS, HOW_TO_READ, LINF_ARROWS, MEASURES, PAGE_CSS,
                             caveat_words, changes_words, model_words, norm_name)
from app_pages.urlstate import DRAWN, EPS_MAX, OVERLAYS, SECTIONS, UPLOAD
from app_pages.view import View, current_view

TABS = list(SECTIONS)
DASHED_EPS = 8          # the attack estimates over eps are computed at this many eps
PROBE_CHART_POINTS = 300


class Curves(NamedTuple):
    """The four fractions over eps, where the verdict changes, and the attack estimates."""

    radii: np.ndarray
    curves: dict
    changes: list
    dashed: tuple | None  # (eps values, {fraction: values}) when the toggle is on


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
        show_pad(view, yours)
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
        marks = plane.probed is not None or plane.yours is not None
        return layered(base, lambda: plane_png(view, plane, dpi=None, legend=False,
                                                layer="base"),
                       (lambda: plane_png(view, plane, dpi=None, legend=False,
                                          layer="marks")) if marks else None, 90)

    clickable(cached.picture(base + (state.probe,), draw), PLANE_CLICK, task.bounds)
    st.caption(f"The plane at eps = {state.eps:g} ({norm_name(state.norm)}): regions of f "
               "tinted by class, decision boundaries black, D dark and H lighter in D's true "
               "class colours. Click any point to probe it: its ball B_eps, its minimal "
               "perturbation and rho (details in the tab \"Probe a point\")."
               + (f" {LINF_ARROWS}" if state.norm == "inf" else ""))
    st.html(legend_html(legend_entries(
        task.num_classes, minimal="arrows" in overlays, universal="universal" in overlays,
        random="random" in overlays, probe=state.probe is not None, yours=yours is not None)))
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
    grid = st.columns(2) + st.columns(2)
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


def _set_probe_from_click() -> None:
    selection = st.session_state["probe_chart"]["selection"].get("click") or []
    if selection:
        st.session_state["probe_x"] = float(selection[0]["x"])
        st.session_state["probe_y"] = float(selection[0]["y"])


def show_probe(view: View, plane: Plane) -> None:
    """A clickable chart of the plane and the probed point's ball, rho and crossings.

    Stacked, not side by side: at 1000 px two columns clipped the chart, the typed
    coordinates and the table's last column.
    """
    task = view.task
    spec = cached.probe_spec(view.model_key, plane.regions, task.bounds, task.num_classes,
                             view.x[subset(len(view.x), PROBE_CHART_POINTS)])
    st.markdown("**Click the plane** (or type a point) to probe it.")
    st.vega_lite_chart(spec, key="probe_chart", on_select=_set_probe_from_click,
                       selection_mode="click", width="content")
    x_column, y_column = st.columns(2)
    x_column.number_input("probe x", min_value=-1.5, max_value=1.5, step=0.01, value=None,
                          key="probe_x", format="%.3f", persist_state="session")
    y_column.number_input("probe y", min_value=-1.5, max_value=1.5, step=0.01, value=None,
                          key="probe_y", format="%.3f", persist_state="session")
    if plane.probed is None:
        st.info("No point probed yet: click the chart or type x and y.")
    else:
        show_probed_point(view, plane.probed)


def show_probed_point(view: View, probed) -> None:
    state = view.state
    window_regions, window_bounds = cached.probe_magnified(
        view.model_key, state.norm, state.eps, state.probe, view.model.logits_fn, probed)
    picture, words = st.columns([1, 1], gap="medium")
    picture.image(figure_png(draw_plane(
        window_regions, window_bounds, num_classes=view.task.num_classes,
        probe=probed._asdict(), eps=state.eps, norm=state.norm, legend=False, size=4.0,
        title=f"around ({probed.point[0]:.3f}, {probed.point[1]:.3f})"), dpi=100), width=360)
    rho = f"{probed.rho:.4f}" if np.isfinite(probed.rho) else f"> {PROBE_REACH}"
    inside = "inside" if np.isfinite(probed.rho) and probed.rho <= state.eps else "outside"
    words.markdown(f"f(I) = class **{probed.label}**; rho(I) = **{rho}** (the nearest boundary "
                   f"is {inside} B_eps; red arrow: the minimal perturbation).")
    rows = [{"segment I → I + delta": name, "crossings": str(count),
             "f(I + delta)": f"class {end}",
             "label changed": "yes" if end != probed.label else "no"}
            for name, (_, count, end) in probed.segments.items()]
    rows.append({"segment I → I + delta": "random on S_eps (64 directions)",
                 "crossings": f"{probed.random_mean:.2f} on average",
                 "f(I + delta)": "-",
                 "label changed": f"{probed.random_changed:.0%} of them"})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Crossings: label changes along the straight segment from I to I + delta of "
               "size eps (dotted: the minimal perturbation's direction, solid: the universal "
               "delta). More than one means the path passes several boundaries.")


def show_attacks(view: View, verdict) -> None:
    """Each attack's share of D fooled against the certified bracket of the fraction it
    estimates, and the exact values with their brackets."""
    state, exact = view.state, view.reading.fractions
    found = cached.estimates(view.model_key, state.norm, state.eps, view.model.logits_fn,
                             view.x, view.y, view.key)
    proven = cached.brackets(view.model_key, state.norm, state.eps, view.model.logits_fn,
                             view.x, view.y)
    st.markdown(
        f"At eps = {state.eps:g} ({norm_name(state.norm)}): each attack's share of D fooled, "
        "against the **certified bracket** [lo, hi] of the fraction it estimates: a proof "
        "that the true value lies inside (branch and bound over deltas with bound "
        "propagation through the network). Every flip an attack finds is real, so an attack "
        "can reach hi but never pass it (compared as counts of points): one that reaches hi "
        "is optimal, one above hi would be a bug. The Monte Carlo "
        "estimate of random is a statistic, not an attack: it is compared through its 95% "
        "confidence interval.")
    rows = attack_rows(found["by_attack"], exact, proven._asdict(), found["random_interval"],
                       counted=proven.n)
    bugs = [r["attack"] for r in rows if r["check"].startswith("ABOVE")]
    if bugs:
        st.error(f"{', '.join(bugs)} fooled more than the proven maximum: a bug, please report it.")
    table = pd.DataFrame(rows).drop(columns=["exact"])
    # a statistic falls short of nothing: its row says so in words, not "None"
    table["short"] = ["- (a statistic)" if row["short"] is None else f"{row['short']:.3f}"
                      for row in rows]
    # the exact values are in the table below: here what fits at 1000 px
    st.dataframe(table.rename(columns={
        "found": "attack finds", "short": "falls short by",
        "bracket": "certified [lo, hi]", "check": "against the bracket"}), hide_index=True,
        column_config={"attack finds": st.column_config.NumberColumn(format="%.3f", width="small"),
                       "falls short by": st.column_config.TextColumn(
                           width="small", help="exact (search) minus what the attack finds"),
                       "estimates": st.column_config.TextColumn(width="small"),
                       "against the bracket": st.column_config.TextColumn(width="large")})
    st.caption(
        "DeepFool walks to each point's nearest boundary by linearising the network; a point "
        "counts when the step it finds is within eps. Where boundaries curve (bubbles, wavy "
        "strips) the linear step misses or overshoots, so DeepFool can fall far short of "
        "pointwise; FGSM takes one step, PGD many with restarts.")
    st.dataframe(pd.DataFrame([
        {"fraction": k, "exact (search)": exact[k], "lo": getattr(proven, k).lo,
         "hi": getattr(proven, k).hi, "width": getattr(proven, k).width} for k in KEYS]),
        hide_index=True,
        column_config={k: st.column_config.NumberColumn(format="%.4f") for k in
                       ("exact (search)", "lo", "hi", "width")})
    st.caption("The page's exact values come from a search at a fixed resolution (fast enough "
               "to follow the eps slider); the certified brackets prove the true values. A "
               "width of 0 means the value is proven to the point.")
    estimated = found["fractions"]
    st.markdown("Estimated fractions (all attacks combined) vs exact: " + ", ".join(
        f"{k} {estimated[k]:.3f} / {exact[k]:.3f}" for k in KEYS)
        + f". Attack verdict: **{ladder(estimated, state.tau)[1]}**, exact verdict: "
          f"**{verdict}**.")


def show_downloads(view: View, plane: Plane, curves: Curves, verdict) -> None:
    """The plane and the curves as PNG, the perturbations and the model as .npz."""
    state, task = view.state, view.task
    random = cached.random_deltas(view.model_key, state.norm, state.eps, view.key, len(view.x))
    plane_column, curves_column, deltas_column, model_column = st.columns(4)
    plane_column.download_button(
        "the plane (PNG)",
        plane_png(view, plane, dpi=150,
                  title=f"{task.name}: category {verdict} at eps = {state.eps:g}"),
        file_name=f"{task.name}-eps{state.eps:g}.png", mime="image/png")
    curves_column.download_button("the curves (PNG)", figure_png(draw_curves(
        curves.radii, curves.curves, tau=state.tau, eps=state.eps, norm=state.norm,
        estimates=curves.dashed, changes=curves.changes), dpi=150),
        file_name=f"{task.name}-curves.png", mime="image/png")
    deltas_column.download_button("perturbations (.npz)", perturbations_npz(
        x=view.x, y=view.y, pred=view.pred, profile=view.profile, reading=view.reading,
        norm=state.norm, random=random, state=state, task_name=task.name),
        file_name=f"{task.name}-perturbations-eps{state.eps:g}.npz",
        mime="application/octet-stream")
    model_column.download_button("model parameters (.npz)", model_bytes(
        view.model, task_name=task.name, num_classes=task.num_classes),
        file_name=f"{task.name}-model.npz", mime="application/octet-stream")
    st.caption("The plane and the curves are PNG images; the perturbations and the model "
               "parameters are .npz files (numpy, no pickle): np.load(path) reads them.")
