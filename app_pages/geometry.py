"""Why universal perturbations exist: boundary normals, crossings, transfer, retraining,
certificates and dominant labels, on the model the sidebar has chosen.

UI only: every number comes from ``categories`` (normals, crossings, transfer, retrain,
certify, dominant), every figure from ``categories.plot_geometry``. The data set, the
model, the norm, eps and the seed are the app's shared sidebar
(:func:`app_pages.shared.current_view`; run on its own, the page reads the same
session state with the app's defaults). The tabs run lazily (only the open one
computes); the two slow analyses, transfer (it trains three more models) and
retraining, wait for a button.
"""

from __future__ import annotations

import streamlit as st

from app_pages import shared

TABS = ("Normals", "Crossings", "Transfer", "Retraining", "Certificates", "Dominant labels")
SWEEP = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # the certificates' eps, as multiples of eps


# Cached computations: JSON-ready dicts keyed by the model's key, norm and eps; the
# model and the arrays are passed unhashed (``_`` prefix), as in app_pages.shared.

@st.cache_resource(show_spinner="Measuring the boundary normals...", max_entries=64)
def normals(model_key, norm, eps, _logits_fn, _x, _y, _key):
    from categories.normals import measure_normals

    return measure_normals(_logits_fn, _x, _y, key=_key, norm=norm, eps=eps)


@st.cache_resource(show_spinner="Counting boundary crossings...", max_entries=64)
def crossings(model_key, norm, eps, _logits_fn, _x, _y, _key):
    from categories.crossings import crossings_measure

    return crossings_measure(_logits_fn, _x, _y, norm=norm, eps=eps, key=_key)


@st.cache_resource(show_spinner="Training the family of models and transferring...",
                   max_entries=16)
def transfer(model_key, norm, eps, _task, _config, _logits_fn, _x, _y, _key):
    from categories.transfer import family_of, transfer_on, transfer_summary

    family = family_of(_config)
    first = next(iter(family))
    t = transfer_on(_task, family, _x, _y, norm=norm, eps=eps, key=_key,
                    models={first: _logits_fn})
    return transfer_summary(t)


@st.cache_resource(show_spinner="Fine-tuning on perturbations of D...", max_entries=32)
def retrain(model_key, norm, eps, tau, method, rounds, steps, _task, _logits_fn, _x, _y, _key):
    import jax

    from categories.retrain import retrain_measure

    return retrain_measure(_task, _logits_fn, _x, _y, key=jax.random.fold_in(_key, 1),
                           method=method, norm=norm, eps=eps, tau=tau, rounds=rounds,
                           steps=steps)


@st.cache_resource(show_spinner="Certifying by interval bound propagation...", max_entries=64)
def certify(model_key, norm, eps, _logits_fn, _x, _y, _key):
    from categories.certify import certify_sweep

    sweep = sorted({round(eps * f, 4) for f in SWEEP})
    return certify_sweep(_logits_fn, _x, _y, norm=norm, eps_values=sweep, key=_key)


@st.cache_resource(show_spinner=False, max_entries=256)
def dominant(model_key, norm, eps, _logits_fn, _x, _y, _delta):
    from categories.dominant import dominant_measure

    return dominant_measure(_logits_fn, _x, _y, norm=norm, eps=eps, delta=_delta)


# The tabs.

def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def show_normals(v):
    from categories.plot_geometry import normals_figure

    norm, eps = v.state.norm, v.state.eps
    r = normals(v.model_key, norm, eps, v.model.logits_fn, v.x, v.y, v.key)
    c = st.columns(3)
    c[0].metric("sigma_2 / sigma_1 of the normals", _fmt(r["sigma_ratio"]))
    c[1].metric("of as many random unit vectors", _fmt(r["random_sigma_ratio"]))
    c[2].metric("alignment |mean n|", _fmt(r["alignment"]))
    st.pyplot(normals_figure(r["angles"], r["singular"], r["random_singular"]))
    w = r["within_eps"]
    near = "-" if w["sigma_ratio"] is None else f"{w['sigma_ratio']:.3f}"
    st.caption(f"{r['count']} normals n = r/|r|_2 from the exact minimal l2 perturbations "
               f"of the correctly classified points of D; within eps = {eps:g} (l{norm}): "
               f"{w['count']} normals, ratio {near}. A ratio near 0 means the boundary "
               "orientations near D are correlated (one direction serves all: category 3); "
               "near the random ratio, they point every way (category 2). The ratio ignores "
               "the normals' signs; the alignment and the polar histogram show them.")


def show_crossings(v):
    from categories.plot_geometry import crossings_figure

    r = crossings(v.model_key, v.state.norm, v.state.eps, v.model.logits_fn, v.x, v.y, v.key)
    kinds = ("universal", "pointwise", "random")
    st.pyplot(crossings_figure({k: r[k]["histogram"] for k in kinds}))
    st.table({k: {"mean crossings": round(r[k]["mean"], 3), "max": r[k]["max"],
                  "label changed at the end": round(r[k]["end_changed"], 3)} for k in kinds})
    st.caption("Label changes along the segment from I to I + delta, |delta| = eps: the "
               "universal delta, each point's own minimal-perturbation direction, a random "
               "direction. An even count hides a round trip: the end label is the start's.")


def show_transfer(v):
    from categories.plot_geometry import transfer_figure

    st.write("This model and three more trained on the same data set (the next seed, half "
             "the width, another activation): each one's exact universal perturbation at eps "
             "applied to every model.")
    params = (v.model_key, v.state.norm, v.state.eps)
    if st.button("Train the models and compute the matrix", key="geo_transfer_run"):
        st.session_state.geo_transfer = params
    if st.session_state.get("geo_transfer") != params:
        st.info("Press the button (training the family takes up to a minute the first time).")
        return
    r = transfer(*params, v.task, v.model.config, v.model.logits_fn, v.x, v.y, v.key)
    st.pyplot(transfer_figure(r["names"], r["matrix"]))
    st.caption(f"Diagonal: each model's own universal fraction. Mean off the diagonal: "
               f"{r['off_diagonal_mean']:.3f} (a 'doubly universal' perturbation transfers).")


def show_retraining(v):
    from categories.plot_geometry import retrain_figure
    from categories.retrain import METHODS

    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("perturbations", METHODS, index=1, key="geo_retrain_method")
    rounds = int(c2.number_input("rounds", 1, 10, 3, key="geo_retrain_rounds"))
    steps = int(c3.number_input("steps per round", 10, 2000, 200, step=50,
                                key="geo_retrain_steps"))
    eps = v.state.eps
    params = (v.model_key, v.state.norm, eps, v.state.tau, method, rounds, steps)
    if st.button("Run retraining", key="geo_retrain_run"):
        st.session_state.geo_retrain = params
    if st.session_state.get("geo_retrain") != params:
        st.info("Press the button to fine-tune the model on perturbed points of D (true labels).")
        return
    r = retrain(*params, v.task, v.model.logits_fn, v.x, v.y, v.key)
    b, a = r["before"], r["after"]
    c = st.columns(2)
    c[0].metric("verdict before", str(b["verdict"]))
    c[1].metric("verdict after", str(a["verdict"]),
                delta=None if a["verdict"] == b["verdict"] else "changed", delta_color="off")
    st.pyplot(retrain_figure(b, a, eps=eps))
    st.table({side: {**{k: round(f, 3) for k, f in r[side]["fractions"].items()},
                     "clean accuracy": round(r[side]["clean_accuracy"], 3)}
              for side in ("before", "after")})
    st.caption("Accuracy on each round's fresh perturbations before its fine-tuning: "
               + ", ".join(f"{a:.3f}" for a in r["history"]["perturbed_accuracy"]))


def show_certificates(v):
    from categories.plot_geometry import certify_figure

    eps = v.state.eps
    r = certify(v.model_key, v.state.norm, eps, v.model.logits_fn, v.x, v.y, v.key)
    i = r["eps"].index(round(eps, 4)) if round(eps, 4) in r["eps"] else len(r["eps"]) // 2
    c = st.columns(3)
    c[0].metric("certified robust", f"{r['certified_robust'][i]:.3f}")
    c[1].metric("exact robust", f"{r['exact_robust'][i]:.3f}")
    c[2].metric("attack robust", f"{r['attack_robust'][i]:.3f}")
    st.pyplot(certify_figure(r["eps"], r["certified_robust"], r["exact_robust"],
                             r["attack_robust"], eps=eps))
    st.caption("Interval bound propagation through the MLP with input splitting certifies a "
               "lower bound; the attacks give an upper bound: certified <= exact <= attack.")


def show_dominant(v):
    from categories.plot_geometry import dominant_figure

    eps = v.state.eps
    r = dominant(v.model_key, v.state.norm, eps, v.model.logits_fn, v.x, v.y,
                 v.reading.universal_delta)
    st.pyplot(dominant_figure(r["counts"], r["transitions"]))
    if r["dominant"] is None:
        st.caption(f"The universal perturbation fools no point at eps = {eps:g}.")
    else:
        st.caption(f"The universal delta ({r['universal_delta'][0]:+.3f}, "
                   f"{r['universal_delta'][1]:+.3f}) fools {r['fooled']} of {r['correct']} "
                   f"points; {100 * r['dominant_share']:.0f}% land in class {r['dominant']}.")


SHOW = dict(zip(TABS, (show_normals, show_crossings, show_transfer, show_retraining,
                       show_certificates, show_dominant)))


def page():
    st.title("Geometry of the boundaries")
    st.write("Why universal perturbations exist: how the decision boundaries near D are "
             "oriented, how many of them the segment to a perturbation crosses, whether "
             "perturbations transfer between models, what retraining changes, and what can "
             "be certified. The model, norm and eps are the sidebar's.")
    v = shared.current_view()
    if v is None:
        st.stop()
    s = v.state
    st.caption(f"{v.task.name}: {s.width}x{s.depth} {s.activation} MLP, {s.steps} steps, "
               f"seed {s.seed}; norm l{s.norm}, eps = {s.eps:g}, {len(v.x)} points of D.")
    tabs = st.tabs(TABS, key="geo_tab", on_change="rerun")
    for label, tab in zip(TABS, tabs):
        if not tab.open:
            continue
        with tab:
            try:
                SHOW[label](v)
            except (ValueError, RuntimeError) as e:  # a model that cannot be measured
                st.error(str(e).splitlines()[0] if str(e) else "cannot measure this model")


page()
