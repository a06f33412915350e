"""The four presets side by side, the way the essay draws its four pictures."""

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import shared
from categories import appstate as A
from categories import planeview as V
from categories import plot as P
from categories.verdict import NAMES
from toymodels import PRESETS

s = shared.state_now()
norm_name = "l2" if s.norm == "2" else "l∞"
st.title("The four categories, one preset each")
config = s.config()
st.caption(f"The sidebar's model ({s.width}x{s.depth} {s.activation}, {s.steps} steps, seed "
           f"{s.seed}; by default the presets' own) trained on each preset, read at eps = "
           f"{s.eps:g} ({norm_name}) and tau = {s.tau:g}; the presets are built for eps = 0.15. "
           "D dark, H lighter, in D's true class colours; the black arrow is the universal "
           "perturbation, red arrows the minimal perturbations within eps.")

panels, rows = [], []
for name, task in PRESETS.items():
    model = shared.model_for(name, task, config)
    mk = shared.model_key_of(name, config)
    x, y, key = shared.sample(name, s.seed, task)
    prof = shared.profile(mk, s.norm, model.logits_fn, x, y,
                          A.profile_path(task, config, s.norm))
    rd = shared.reading(mk, s.norm, s.eps, model.logits_fn, x, prof)
    pred = shared.predictions(mk, model.logits_fn, x)
    regions = shared.regions(mk, model.logits_fn, task.bounds)
    sup = shared.support(name, task)
    rungs, verdict = A.ladder(rd.fractions, s.tau)
    layers = V.overlay_layers(model.logits_fn, x, pred, prof, rd, ("arrows", "universal"),
                              norm=s.norm, eps=s.eps, key=key, n_arrows=80)
    start, r, within = layers["minimal"]     # only the arrows that reach a boundary in eps
    layers["minimal"] = (start[within], r[within], within[within])
    panels.append(dict(
        regions=regions, bounds=task.bounds, num_classes=task.num_classes, support=sup.label,
        h=V.h_mask(sup, s.norm, s.eps), near=sup.near, x=x, y=y, pred=pred, eps=s.eps,
        norm=s.norm, boundaries=shared.boundaries(mk, regions, task.bounds),
        title=f"{task.expected}. {name}: verdict {verdict}",
        subtitle="\n".join("   ".join(f"{k} {rd.fractions[k]:.2f}" for k in pair)
                            for pair in (A.KEYS[:2], A.KEYS[2:])), **layers))
    rows.append({"preset": name, "built for": task.expected, "verdict": str(verdict),
                 "meaning": NAMES[verdict], **{k: rd.fractions[k] for k in A.KEYS},
                 "clean accuracy": rd.clean_accuracy})

st.image(P.figure_png(P.draw_overview(panels), dpi=100), width="stretch")
st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
    k: st.column_config.NumberColumn(format="%.3f") for k in A.KEYS + ("clean accuracy",)})
