"""At full scale (``/scale``): which category is a real ImageNet model in?

The essay's question for a pretrained classifier, answered by the estimates of
``python -m imagenet categories`` (:mod:`imagenet.categories_cmd`): the photos, the
universal perturbation magnified, a few photos with their labels before and after it,
and the ladder and curve of the four estimated fractions, each with the direction of
its bound. A run is read from the app's cache (``<cache>/fullscale/``) or from
``runs/categories-*`` made by the command; the default one (EfficientNet-Lite0, linf) is
computed here on request, with a progress bar, and kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from app_pages.texts import norm_name
from drawing import draw_curves, figure_png
from store import cache_dir

DEFAULT_RUN = "efficientnet-lite0-linf"
DEFAULT_EPS = (1.0, 2.0, 4.0, 8.0, 10.0, 16.0)
BOUND = {"robust": "≤", "pointwise": "≥", "universal": "≥", "random": "≈"}
RUNG = ((4, "random"), (3, "universal"), (2, "pointwise"), (1, "robust"))


def run_folders() -> dict[str, Path]:
    """``{name: folder}`` of every run with a ``categories.json``: the app's own, then the
    command's default ``runs/categories-*`` of the folder the app runs in."""
    found = {}
    for folder in sorted(cache_dir("fullscale").glob("*/categories.json")):
        found[folder.parent.name] = folder.parent
    for folder in sorted(Path("runs").glob("categories-*/categories.json")):
        found.setdefault(folder.parent.name, folder.parent)
    return found


def compute_default() -> None:
    """EfficientNet-Lite0 on the bundled photos, linf, eps 1 to 16, into the app's cache."""
    from imagenet import build_splits, load_model
    from imagenet import measure_categories, write_categories

    out = cache_dir("fullscale", DEFAULT_RUN)
    out.mkdir(parents=True, exist_ok=True)
    shown = st.progress(0.0, text="Loading EfficientNet-Lite0 and the photos...")
    classifier = load_model("efficientnet-lite0")
    splits = build_splits(None, 16, 8, 0)

    def step(i, n):
        shown.progress(i / n, text=f"eps {i} of {n} measured")
    measured = measure_categories(classifier, splits, norm="inf", eps_values=DEFAULT_EPS,
                                  tau=0.8, seed=0, on_eps=step)
    measured.result.update(model="efficientnet-lite0", name=classifier.name, out=str(out))
    write_categories(out, measured)
    shown.empty()


def show_ladder(row: dict, tau: float) -> None:
    """The four estimates from category 4 down, each with its bound, and the verdict."""
    import pandas as pd

    lo, hi = row["random_interval"]
    bound = {"robust": "upper bound", "pointwise": "lower bound", "universal": "lower bound",
             "random": f"95% in [{lo:.3f}, {hi:.3f}]"}
    table = pd.DataFrame([{"category": c, "fraction": name,
                           "estimate": f"{BOUND[name]} {row[name]:.3f}", "bound": bound[name],
                           "≥ tau": "yes" if row[name] >= tau else "no"}
                          for c, name in RUNG])
    st.dataframe(table, hide_index=True)
    st.markdown(f"**Verdict of the estimates: category {row['verdict']}** "
                f"({row['verdict_name']}) at tau = {tau:g}.")
    st.caption(f"≥: a lower bound (a delta an attack finds is real; one it misses may exist); "
               f"≤: an upper bound; ≈: random is a Monte Carlo mean over "
               f"{row['random_deltas']} random deltas, each tried on every photo.")
    for caveat in row["caveats"]:
        st.warning(f"Not proven: {caveat}.")


def show_curve(result: dict, eps: float) -> None:
    """The four estimates over eps (at its own size, shrunk only on narrow screens)."""
    from imagenet import curve_arrays

    e, estimates, bands = curve_arrays(result)
    st.image(figure_png(draw_curves(e, {}, tau=result["tau"], eps=eps, norm=result["norm"],
                                    estimates=(e, estimates), bands=bands,
                                    size=(5.4, 4.2), legend="below")), width="content")
    st.caption("The four estimates over eps (dashed: every figure here is an attack's "
               "estimate; shaded: random's 95% interval; at eps 0 nothing moves).")


def show_photos(folder: Path, result: dict) -> None:
    """The universal perturbation, magnified, and held-out photos before and after it."""
    eps = result["curve"][-1]["eps"]
    with np.load(folder / "examples.npz") as ex:
        before, after = ex["before"], ex["after"]
        names = list(zip(ex["name_before"], ex["name_after"]))
    st.markdown(f"**The universal perturbation of eps = {eps:g}** (magnified to the full range: "
                "its true size is at most eps per pixel, out of 255) and held-out photos "
                "before and after it, with the model's labels:")
    columns = st.columns([1.2] + [1] * len(before))
    columns[0].image(str(folder / "perturbation.png"), caption="the perturbation",
                     width="stretch")
    for column, b, a, (nb, na) in zip(columns[1:], before, after, names):
        column.image(b, caption=f"before: {nb}", width="stretch")
        column.image(a, caption=f"after: {na}" + (" (unchanged)" if nb == na else ""),
                     width="stretch")


def page() -> None:
    st.header("At full scale: which category is a real ImageNet model in?")
    st.caption("This page reads its own runs; the sidebar's data set and model are the 2D "
               "ones of the other pages.")
    st.markdown(
        "The same attacks as on the plane, on a pretrained image classifier. Here nothing "
        "can be proven: each fraction is an **estimate** that bounds the true one from one "
        "side. Moosavi-Dezfooli et al. (2017) found real models in category 3 "
        "(*universal perturbations*); the essay expects none in category 4.")
    runs = run_folders()
    if DEFAULT_RUN not in runs and st.button(
            "Measure EfficientNet-Lite0 now (l∞, eps 1 to 16 on 24 bundled photos; several "
            "minutes on a 2-core CPU, then kept)", key="scale_compute"):
        compute_default()
        runs = run_folders()
    if not runs:
        st.info("No run yet: press the button, or run `python -m imagenet categories --eps "
                "1,2,4,8,10,16` in the app's folder (its runs/ folder is read here).")
        return
    name = st.selectbox("run", list(runs), key="scale_run")
    folder = runs[name]
    result = json.loads((folder / "categories.json").read_text())
    eps_values = [r["eps"] for r in result["curve"]]
    eps = st.select_slider("eps (pixel units, 0-255 scale)", eps_values,
                           value=eps_values[-1] if 10.0 not in eps_values else 10.0,
                           key="scale_eps")
    row = result["curve"][eps_values.index(eps)]
    acc = result["clean_accuracy"]
    st.markdown(f"**{result['model']}**, {result['val']} held-out photos ({result['counted']} "
                f"counted), {norm_name(result['norm'])}, tau = "
                f"{result['tau']:g}; clean accuracy "
                f"{'unknown (no labelled photo)' if acc is None else f'{acc:.0%}'}.")
    show_ladder(row, result["tau"])
    show_curve(result, eps)
    show_photos(folder, result)


def show_beside_presets(state) -> None:
    """The four presets' exact fractions beside a real model's estimates (the lesson's end)."""
    import dataclasses

    import pandas as pd

    from app_pages.overview import preset_panel
    from toymodels import PRESETS

    rows = []
    for name, task in PRESETS.items():
        with st.spinner(f"Training the model on {name}..."):
            _, row = preset_panel(dataclasses.replace(state, dataset=name), name, task)
        rows.append({"model": name, "measured": "exact (2D)",
                     **{k: f"{float(row[k]):.3f}" for k in BOUND}, "verdict": str(row["verdict"])})
    runs = run_folders()
    if runs:
        name = DEFAULT_RUN if DEFAULT_RUN in runs else next(iter(runs))
        result = json.loads((runs[name] / "categories.json").read_text())
        curve = result["curve"]
        r = next((r for r in curve if r["eps"] == 10.0), curve[-1])
        rows.append({"model": result["model"],
                     "measured": f"estimated (ImageNet, eps {r['eps']:g}/255)",
                     **{k: f"{BOUND[k]} {r[k]:.3f}" for k in BOUND}, "verdict": str(r["verdict"])})
    # a static table: it wraps to the page's width, where a dataframe hid the last columns
    st.table(pd.DataFrame(rows).set_index("model"))
    st.caption(f"The presets at the sidebar's eps = {state.eps:g}, exact; the real model's "
               "figures are attack estimates (≥ a lower bound, ≤ an upper bound, ≈ a Monte "
               "Carlo mean)"
               + ("." if runs else "; measure one on the *At full scale* page first."))
