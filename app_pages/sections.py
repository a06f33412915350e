"""The explore page's tabs below the four categories: probe a point, the attacks against
the exact values and their certified brackets, and the downloads; and :class:`Curves`,
what the curves section hands the downloads."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from categories import KEYS, ladder
from drawing import (PROBE_REACH, PlaneSpec, Regions, Style, draw_curves, draw_plane, figure_png,
                     subset)
from toymodels import model_bytes
from app_pages import cached
from app_pages.downloads import perturbations_npz
from app_pages.estimates import attack_rows
from app_pages.pictures import Plane, plane_spec
from app_pages.session import set_probe
from app_pages.texts import norm_name
from app_pages.view import View

PROBE_CHART_POINTS = 300


class Curves(NamedTuple):
    """The four fractions over eps, where the verdict changes, and the attack estimates."""

    radii: np.ndarray
    curves: dict
    changes: list
    dashed: tuple | None  # (eps values, {fraction: values}) when the toggle is on


def _set_probe_from_click() -> None:
    selection = st.session_state["probe_chart"]["selection"].get("click") or []
    if selection:
        set_probe(selection[0]["x"], selection[0]["y"])


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


def _other_norm_words(view: View, probed) -> str:
    """The same point's distance in the other norm, and why the two differ."""
    state = view.state
    other = "inf" if state.norm == "2" else "2"
    # the plane's own cached probe, in the other norm (only its rho is read here)
    far = cached.probe(view.model_key, other, state.eps, state.probe, view.model.logits_fn,
                       view.reading.universal_delta, view.key).rho
    far = f"{float(far):.4f}" if np.isfinite(far) else f"> {PROBE_REACH}"
    return (f"In {norm_name(other)} (its ball of the same eps dashed on the picture) the "
            f"nearest boundary is {far} away. The l∞ ball of radius "
            "eps is a square around the l2 disc of the same radius: its corners reach "
            "√2 times farther, so rho in l∞ is at most rho in l2, and at least 1/√2 of it "
            "(equal when the way out runs along an axis). So a preset can change category "
            "at a smaller eps in l∞ than in l2.")


def show_probed_point(view: View, probed) -> None:
    state = view.state
    window_regions, window_bounds = cached.probe_magnified(
        view.model_key, state.norm, state.eps, state.probe, view.model.logits_fn, probed)
    picture, words = st.columns([1, 1], gap="medium")
    window = PlaneSpec(Regions(window_regions, window_bounds, view.task.num_classes),
                       probe=probed._asdict(), eps=state.eps, norm=state.norm, style=Style(
                           legend=False, size=4.0,
                           title=f"around ({probed.point[0]:.3f}, {probed.point[1]:.3f})"))
    picture.image(figure_png(draw_plane(window), dpi=100), width=360)
    rho = f"{probed.rho:.4f}" if np.isfinite(probed.rho) else f"> {PROBE_REACH}"
    inside = "inside" if np.isfinite(probed.rho) and probed.rho <= state.eps else "outside"
    words.markdown(f"f(I) = class **{probed.label}**; rho(I) = **{rho}** (the nearest boundary "
                   f"is {inside} B_eps; the arrow is the minimal perturbation, red when it "
                   "fits in eps).")
    words.caption(_other_norm_words(view, probed))
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
    table["found"] = [f"{row['found']:.3f}" for row in rows]
    # a static table wraps its cells: a data grid hid its last columns at 1000 px
    st.table(table.rename(columns={
        "found": "attack finds", "short": "falls short by (exact minus found)",
        "bracket": "certified [lo, hi]", "check": "against the bracket"}).set_index("attack"))
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
        figure_png(draw_plane(plane_spec(view, plane, Style(
            title=f"{task.name}: category {verdict} at eps = {state.eps:g}"))), dpi=150),
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
