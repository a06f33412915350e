"""Why universal perturbations exist: boundary normals, crossings, transfer, retraining,
certificates and dominant labels, on the model the sidebar has chosen.

UI only: every number comes from ``categories`` (through the caches of
:mod:`app_pages.cached`), every figure from ``drawing``. The data set, the model, the
norm, eps and the seed are the app's shared sidebar (:func:`app_pages.view.current_view`;
run on its own, the page reads the same session state with the app's defaults). The tabs
run lazily (only the open one computes); the two slow analyses, transfer (it trains three
more models) and retraining, wait for a button.
"""

from __future__ import annotations

import streamlit as st

from categories import METHODS
from drawing import (certify_figure, crossings_figure, dominant_figure, normals_figure,
                     retrain_figure, transfer_figure)
from app_pages import cached
from app_pages.texts import model_words
from app_pages.view import View, current_view

TABS = ("Normals", "Crossings", "Transfer", "Retraining", "Certificates", "Dominant labels")
CROSSING_KINDS = ("universal", "pointwise", "random")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def show_normals(view: View) -> None:
    norm, eps = view.state.norm, view.state.eps
    r = cached.normals(view.model_key, norm, eps, view.model.logits_fn, view.x, view.y,
                       view.key)
    columns = st.columns(3)
    # short labels (the page at 1000 px cuts long ones); the help says the rest
    columns[0].metric("normals: σ₂/σ₁", _fmt(r["sigma_ratio"]),
                      help="the ratio of the second to the first singular value of the "
                           "boundary normals: near 0, they share one direction")
    columns[1].metric("random: σ₂/σ₁", _fmt(r["random_sigma_ratio"]),
                      help="the same ratio for as many random unit vectors: what no shared "
                           "direction gives")
    columns[2].metric("alignment |mean n|", _fmt(r["alignment"]),
                      help="the length of the normals' mean: 1 when they all point one way "
                           "(signs count here, not in the ratio)")
    st.pyplot(normals_figure(r["angles"], r["singular"], r["random_singular"]))
    within = r["within_eps"]
    near = "-" if within["sigma_ratio"] is None else f"{within['sigma_ratio']:.3f}"
    st.caption(f"{r['count']} normals n = r/|r|_2 from the exact minimal l2 perturbations "
               f"of the correctly classified points of D; within eps = {eps:g} (l{norm}): "
               f"{within['count']} normals, ratio {near}. A ratio near 0 means the boundary "
               "orientations near D are correlated (one direction serves all: category 3); "
               "near the random ratio, they point every way (category 2). The ratio ignores "
               "the normals' signs; the alignment and the polar histogram show them.")


def crossings_table(r: dict) -> dict:
    """The crossings table: ``{kind: {"mean crossings", "max", "label changed at the end"}}``
    for the universal delta, each point's minimal direction and a random direction."""
    return {k: {"mean crossings": round(r[k]["mean"], 3), "max": r[k]["max"],
                "label changed at the end": round(r[k]["end_changed"], 3)}
            for k in CROSSING_KINDS}


def show_crossings(view: View) -> None:
    r = cached.crossings(view.model_key, view.state.norm, view.state.eps, view.model.logits_fn,
                         view.x, view.y, view.key)
    st.pyplot(crossings_figure({k: r[k]["histogram"] for k in CROSSING_KINDS}))
    st.table(crossings_table(r))
    st.caption("Label changes along the segment from I to I + delta, |delta| = eps: the "
               "universal delta, each point's own minimal-perturbation direction, a random "
               "direction. An even count hides a round trip: the end label is the start's.")


def show_transfer(view: View) -> None:
    st.write("This model and three more trained on the same data set (the next seed, half "
             "the width, another activation): each one's exact universal perturbation at eps "
             "applied to every model.")
    params = (view.model_key, view.state.norm, view.state.eps)
    if st.button("Train the models and compute the matrix", key="geo_transfer_run"):
        st.session_state.geo_transfer = params
    if st.session_state.get("geo_transfer") != params:
        st.info("Press the button (training the family takes up to a minute the first time).")
        return
    r = cached.transfer(*params, view.task, view.model.config, view.model.logits_fn, view.x,
                        view.y, view.key)
    st.pyplot(transfer_figure(r["names"], r["matrix"]))
    st.caption(f"Diagonal: each model's own universal fraction. Mean off the diagonal: "
               f"{r['off_diagonal_mean']:.3f}: when it is high, one perturbation fools most points "
               "of most models, universal across inputs and across networks at once ('doubly "
               "universal', Moosavi-Dezfooli et al.).")
    st.caption("Why a delta transfers: each model's boundaries near D are where the data put "
               "them, so models trained on the same D share the direction their normals point "
               "(see the Normals tab: on pancakes they all point up). A delta along that shared "
               "direction leaves every model's regions at once. On wrinkles the normals point "
               "every way inside each model, so no delta transfers: compare the two presets "
               "with the sidebar's data set.")


def retrain_table(r: dict) -> dict:
    """The retraining table: ``{"before"|"after": {fraction: value, "clean accuracy"}}``."""
    return {side: {**{k: round(f, 3) for k, f in r[side]["fractions"].items()},
                   "clean accuracy": round(r[side]["clean_accuracy"], 3)}
            for side in ("before", "after")}


def show_retraining(view: View) -> None:
    method_column, rounds_column, steps_column = st.columns(3)
    method = method_column.selectbox("perturbations", METHODS, index=1, key="geo_retrain_method")
    rounds = int(rounds_column.number_input("rounds", 1, 10, 3, key="geo_retrain_rounds"))
    steps = int(steps_column.number_input("steps per round", 10, 2000, 200, step=50,
                                          key="geo_retrain_steps"))
    eps = view.state.eps
    params = (view.model_key, view.state.norm, eps, view.state.tau, method, rounds, steps)
    if st.button("Run retraining", key="geo_retrain_run"):
        st.session_state.geo_retrain = params
    if st.session_state.get("geo_retrain") != params:
        st.info("Press the button to fine-tune the model on perturbed points of D (true labels).")
        return
    r = cached.retrain(*params, view.task, view.model.logits_fn, view.x, view.y, view.key)
    before, after = r["before"], r["after"]
    columns = st.columns(2)
    columns[0].metric("verdict before", str(before["verdict"]))
    columns[1].metric("verdict after", str(after["verdict"]),
                      delta=None if after["verdict"] == before["verdict"] else "changed",
                      delta_color="off")
    st.pyplot(retrain_figure(before, after, eps=eps))
    st.table(retrain_table(r))
    st.caption("Accuracy on each round's fresh perturbations before its fine-tuning: "
               + ", ".join(f"{a:.3f}" for a in r["history"]["perturbed_accuracy"]))
    st.caption("Why the category often stays: fine-tuning moves the boundaries only near the "
               "perturbed points it sees, a little at a time, while D stays where it is. On "
               "pancakes each band of D still sits just below a boundary that runs along the "
               "same direction, so one upward delta still crosses most of them: universal "
               "perturbations survive retraining unless the boundaries move farther than eps "
               "from D or stop running alike.")


def show_certificates(view: View) -> None:
    eps = view.state.eps
    r = cached.certify(view.model_key, view.state.norm, eps, view.model.logits_fn, view.x,
                       view.y, view.key)
    i = r["eps"].index(round(eps, 4)) if round(eps, 4) in r["eps"] else len(r["eps"]) // 2
    columns = st.columns(3)
    columns[0].metric("certified robust", f"{r['certified_robust'][i]:.3f}")
    columns[1].metric("exact robust", f"{r['exact_robust'][i]:.3f}")
    columns[2].metric("attack robust", f"{r['attack_robust'][i]:.3f}")
    st.pyplot(certify_figure(r["eps"], r["certified_robust"], r["exact_robust"],
                             r["attack_robust"], eps=eps))
    st.caption("Certified: bound propagation (bounds on every neuron over a box of the "
               "ball, layer by layer, linear in the input between two lines at each "
               "activation) with input splitting (the ball cut into smaller boxes until each "
               "is proven not to flip the point, or a point inside one flips it) proves a "
               "lower bound on robust; the attacks give an upper bound: certified <= exact "
               "<= attack. Where certified equals exact, its wide grey line shows under the "
               "exact one.")


def show_dominant(view: View) -> None:
    eps = view.state.eps
    r = cached.dominant(view.model_key, view.state.norm, eps, view.model.logits_fn, view.x,
                        view.y, view.reading.universal_delta)
    st.pyplot(dominant_figure(r["counts"], r["transitions"]))
    if r["dominant"] is None:
        st.caption(f"The universal perturbation fools no point at eps = {eps:g}.")
    else:
        st.caption(f"The universal delta ({r['universal_delta'][0]:+.3f}, "
                   f"{r['universal_delta'][1]:+.3f}) fools {r['fooled']} of {r['correct']} "
                   f"points; {100 * r['dominant_share']:.0f}% land in class {r['dominant']}.")


SHOW = dict(zip(TABS, (show_normals, show_crossings, show_transfer, show_retraining,
                       show_certificates, show_dominant)))


def page() -> None:
    """The geometry page (``/geometry``): one tab per analysis, only the open one runs."""
    st.title("Geometry of the boundaries")
    st.write("Why universal perturbations exist: how the decision boundaries near D are "
             "oriented, how many of them the segment to a perturbation crosses, whether "
             "perturbations transfer between models, what retraining changes, and what can "
             "be certified. The model, norm and eps are the sidebar's.")
    view = current_view()
    if view is None:
        st.stop()
    state = view.state
    st.caption(f"{view.task.name}: an MLP of {model_words(state)}, "
               f"{state.steps} steps, seed {state.seed}; norm l{state.norm}, eps = "
               f"{state.eps:g}, {len(view.x)} points of D.")
    tabs = st.tabs(TABS, key="geo_tab", on_change="rerun")
    for label, tab in zip(TABS, tabs):
        if not tab.open:
            continue
        with tab:
            try:
                SHOW[label](view)
            except (ValueError, RuntimeError) as e:  # a model that cannot be measured
                st.error(str(e).splitlines()[0] if str(e) else "cannot measure this model")
