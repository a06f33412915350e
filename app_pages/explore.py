"""Explore: one model on one data set, each category as formula, picture and number."""

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import shared
from categories import appstate as A
from categories import planeview as V
from categories import charts as C
from categories import plot as P
from categories.verdict import FORMULAS, NAMES
from toymodels.store import model_bytes

v = shared.current_view()
if v is None:
    st.stop()
s, task, fr = v.state, v.task, v.reading.fractions
norm_name = "l2" if s.norm == "2" else "l∞"
rungs, verdict = A.ladder(fr, s.tau)

st.title(f"{task.name}: category {verdict}, {NAMES[verdict]}")
built = f" Built for category {task.expected} at eps = {task.default_eps}." if task.expected else ""
st.caption(f"{task.description}{built} Model {s.width}x{s.depth} {s.activation}, "
           f"{s.steps} steps, seed {s.seed}; clean accuracy on D "
           f"{v.reading.clean_accuracy:.1%} ({len(v.x)} points, the fractions count the correct ones).")

# --- the verdict ladder ---------------------------------------------------------------
st.markdown(f"**The verdict ladder** at eps = {s.eps:g} ({norm_name}), tau = {s.tau:g}: the "
            "verdict is the highest category whose fraction reaches tau.")
cols = st.columns(5)
for col, rung in zip(cols, reversed(rungs)):
    col.metric(f"{rung.category} · {rung.fraction}(eps)", f"{rung.value:.3f}",
               "≥ tau: holds" if rung.holds else "< tau", delta_arrow="off",
               delta_color="normal" if rung.holds else "off", border=True)
cols[4].metric("verdict: category", str(verdict), NAMES[verdict], delta_color="off",
               delta_arrow="off", border=True,
               help="4 if random ≥ tau, else 3 if universal ≥ tau, else 2 if pointwise ≥ tau, "
                    "else 1 if robust ≥ tau, else 1-2")

# --- the plane and the curves -----------------------------------------------------------
left, right = st.columns([1, 1], gap="medium")
with left:
    st.pills("overlays", list(A.OVERLAYS), key="overlays", selection_mode="multi",
             format_func=A.OVERLAYS.get, persist_state="session",
             help="D is dark, H (D's eps-neighbourhood) lighter, in D's true class colours")
    overlays = tuple(o for o in A.OVERLAYS if o in (st.session_state.get("overlays") or ()))
    sup = shared.support(v.task_key, task)
    regions = shared.regions(v.model_key, v.model.logits_fn, task.bounds)
    layers = V.overlay_layers(v.model.logits_fn, v.x, v.pred, v.profile, v.reading, overlays,
                              norm=s.norm, eps=s.eps, key=v.key)
    probed = None
    if s.probe is not None:
        probed = shared.probe(v.model_key, s.norm, s.eps, s.probe, v.model.logits_fn,
                              v.reading.universal_delta, v.key)
    fig = P.draw_plane(regions, task.bounds, num_classes=task.num_classes, support=sup.label,
                       h=V.h_mask(sup, s.norm, s.eps), near=sup.near, x=v.x, y=v.y,
                       pred=v.pred, eps=s.eps, norm=s.norm, legend=False,
                       boundaries=shared.boundaries(v.model_key, regions, task.bounds),
                       probe=probed[0]._asdict() if probed else None, **layers)
    png = P.figure_png(fig, dpi=90, fast=True)
    st.image(png, caption=f"The plane at eps = {s.eps:g} ({norm_name}): regions of f tinted by "
                          "class, decision boundaries black, D dark and H lighter in D's true "
                          "class colours.", width="stretch")
    st.image(shared.legend_png(task.num_classes, overlays, probed is not None), width="stretch")
with right:
    curves = A.curves_of(v.profile)
    radii = np.asarray(v.profile.radii)
    changes = A.verdict_changes(radii, curves, s.tau)
    dashed = None
    if st.toggle("attack estimates over eps (dashed)", key="dashed",
                 help="FGSM, PGD, DeepFool and the universal algorithms at 8 values of eps "
                      "(slow the first time, then cached)"):
        ev = tuple(float(e) for e in np.linspace(A.EPS_MAX / 8, A.EPS_MAX, 8).round(4))
        dashed = (np.array(ev), shared.estimate_curves(v.model_key, s.norm, ev,
                                                       v.model.logits_fn, v.x, v.y, v.key))
    st.vega_lite_chart(C.curves_spec(radii, curves, tau=s.tau, eps=s.eps, norm=s.norm,
                                     estimates=dashed, changes=changes), width="stretch")
    st.caption("The four fractions over eps (exact; dashed: attack estimates), the tau line, "
               "and where the verdict changes (dotted).")
    if changes:
        st.markdown("The verdict changes at " + "; ".join(
            f"eps ≈ {e:.3f} ({a} → {b})" for e, a, b in changes) + f" (tau = {s.tau:g}).")
    else:
        st.markdown(f"The verdict is {verdict} over the whole range (tau = {s.tau:g}).")

# --- the four categories ------------------------------------------------------------------
st.subheader("The four categories, from most to least robust")
grid = st.columns(2) + st.columns(2)
for col, rung in zip(grid, rungs):
    with col.container(border=True):
        c = rung.category
        # Streamlit's own icon font: a text check mark falls back to a box in some fonts
        mark = (":green[:material/check_circle: holds]" if rung.holds
                else ":red[:material/cancel: does not hold]")
        st.markdown(f"**Category {c}: {NAMES[c]}** — {mark} at tau = {s.tau:g}")
        st.latex(FORMULAS[c])
        st.latex(f"{A.MEASURES[c]} = {rung.value:.3f}")
        st.caption(A.EXPLANATIONS[c])

# --- probe, attacks, downloads ---------------------------------------------------------------
read_tab, probe_tab, attack_tab, download_tab = st.tabs(
    ["How to read this page", "Probe a point", "Attacks vs exact", "Downloads"],
    key="section", on_change="rerun")

with read_tab:
    st.markdown(A.HOW_TO_READ)

with probe_tab:
    if probe_tab.open:
        left, right = st.columns([1, 1])
        with left:
            spec = shared.probe_spec(v.model_key, regions, task.bounds, task.num_classes,
                                     v.x[V.subset(len(v.x), 300)])

            def on_click():
                sel = st.session_state["probe_chart"]["selection"].get("click") or []
                if sel:
                    st.session_state["probe_x"] = float(sel[0]["x"])
                    st.session_state["probe_y"] = float(sel[0]["y"])

            st.markdown("**Click the plane** (or type a point) to probe it.")
            st.vega_lite_chart(spec, key="probe_chart", on_select=on_click,
                               selection_mode="click", width="content")
            a, b = st.columns(2)
            a.number_input("probe x", min_value=-1.5, max_value=1.5, step=0.01, value=None,
                           key="probe_x", format="%.3f", persist_state="session")
            b.number_input("probe y", min_value=-1.5, max_value=1.5, step=0.01, value=None,
                           key="probe_y", format="%.3f", persist_state="session")
        with right:
            if probed is None:
                st.info("No point probed yet: click the chart or type x and y.")
            else:
                pr, (win, wb) = probed
                st.image(P.figure_png(P.draw_plane(
                    win, wb, num_classes=task.num_classes, probe=pr._asdict(), eps=s.eps,
                    norm=s.norm, legend=False, size=4.0,
                    title=f"around ({pr.point[0]:.3f}, {pr.point[1]:.3f})"), dpi=100))
                rho = f"{pr.rho:.4f}" if np.isfinite(pr.rho) else f"> {V.PROBE_REACH}"
                inside = "inside" if np.isfinite(pr.rho) and pr.rho <= s.eps else "outside"
                st.markdown(f"f(I) = class **{pr.label}**; rho(I) = **{rho}** "
                            f"(the nearest boundary is {inside} B_eps; red arrow: the minimal "
                            "perturbation).")
                rows = [{"segment I → I + delta": name, "crossings": str(n),
                         "f(I + delta)": f"class {end}",
                         "label changed": "yes" if end != pr.label else "no"}
                        for name, (_, n, end) in pr.segments.items()]
                rows.append({"segment I → I + delta": "random on S_eps (64 directions)",
                             "crossings": f"{pr.random_mean:.2f} on average",
                             "f(I + delta)": "-",
                             "label changed": f"{pr.random_changed:.0%} of them"})
                st.dataframe(pd.DataFrame(rows), hide_index=True)
                st.caption("Crossings: label changes along the straight segment from I to "
                           "I + delta of size eps (dotted: the minimal perturbation's direction, "
                           "solid: the universal delta). More than one means the path passes "
                           "several boundaries.")

with attack_tab:
    if attack_tab.open:
        est = shared.estimates(v.model_key, s.norm, s.eps, v.model.logits_fn, v.x, v.y, v.key)
        rows = A.attack_rows(est["by_attack"], fr)
        st.markdown(f"At eps = {s.eps:g} ({norm_name}): each attack's share of D fooled, "
                    "against the exact value of the fraction it estimates. Every flip an "
                    "attack finds is real, so attacks can only fall short.")
        st.dataframe(pd.DataFrame(rows).rename(columns={
            "attack": "attack", "estimates": "estimates", "found": "attack finds",
            "exact": "exact", "short": "falls short by"}), hide_index=True,
            column_config={k: st.column_config.NumberColumn(format="%.3f") for k in
                           ("attack finds", "exact", "falls short by")})
        ev = est["fractions"]
        st.markdown("Estimated fractions (all attacks combined) vs exact: " + ", ".join(
            f"{k} {ev[k]:.3f} / {fr[k]:.3f}" for k in A.KEYS)
            + f". Attack verdict: **{A.ladder(ev, s.tau)[1]}**, exact verdict: **{verdict}**.")

with download_tab:
    if download_tab.open:
        rnd = shared.random_deltas(v.model_key, s.norm, s.eps, v.key, len(v.x))
        c0, c1, c2, c3 = st.columns(4)
        c0.download_button("the plane (PNG)", P.figure_png(P.draw_plane(
            regions, task.bounds, num_classes=task.num_classes, support=sup.label,
            h=V.h_mask(sup, s.norm, s.eps), near=sup.near, x=v.x, y=v.y, pred=v.pred,
            eps=s.eps, norm=s.norm, title=f"{task.name}: category {verdict} at eps = {s.eps:g}",
            boundaries=shared.boundaries(v.model_key, regions, task.bounds),
            probe=probed[0]._asdict() if probed else None, **layers), dpi=150),
            file_name=f"{task.name}-eps{s.eps:g}.png", mime="image/png")
        c1.download_button("the curves (PNG)", P.figure_png(P.draw_curves(
            radii, curves, tau=s.tau, eps=s.eps, norm=s.norm, estimates=dashed,
            changes=changes), dpi=150), file_name=f"{task.name}-curves.png", mime="image/png")
        c2.download_button("perturbations (.npz)", A.perturbations_npz(
            x=v.x, y=v.y, pred=v.pred, profile=v.profile, reading=v.reading, norm=s.norm,
            random=rnd, state=s, task_name=task.name),
            file_name=f"{task.name}-perturbations-eps{s.eps:g}.npz",
            mime="application/octet-stream")
        c3.download_button("model parameters (.npz)", model_bytes(
            v.model, task_name=task.name, num_classes=task.num_classes),
            file_name=f"{task.name}-model.npz", mime="application/octet-stream")
        st.caption("All files are .npz (numpy, no pickle): np.load(path) reads them.")
