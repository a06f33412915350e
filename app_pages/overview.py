"""The four presets side by side, the way the essay draws its four pictures: the
sidebar's model trained on each preset, each read at the sidebar's eps and tau."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from categories import KEYS, NAMES, TRUSTED_ACCURACY, accuracy_caveat, ladder
from drawing import (PlaneSpec, Points, Regions, Style, draw_overview, figure_png, h_mask,
                     legend_entries, legend_html, overlay_layers)
from toymodels import PRESETS, task_variant
from app_pages import cached
from app_pages.reading import profile_path
from app_pages.sidebar import DEFAULT, state_now
from app_pages.texts import CAVEAT_WHY, LINF_ARROWS, model_words, norm_name
from app_pages.urlstate import ViewState

OVERLAYS = ("arrows", "universal")
N_ARROWS = 80


def page() -> None:
    """The presets page (``/presets``)."""
    state = state_now()
    st.title("The four categories, one preset each")
    st.caption(f"The sidebar's model ({model_words(state)}, "
               f"{state.steps} steps, seed {state.seed}; by default the presets' own) trained "
               f"on each preset, read at eps = {state.eps:g} ({norm_name(state.norm)}) and "
               f"tau = {state.tau:g}; the presets are built for eps = 0.15. D dark, H lighter, "
               "in D's true class colours; the black arrow is the best universal delta (not "
               "drawn where it fools no point), red arrows the minimal perturbations within eps."
               + (f" {LINF_ARROWS}" if state.norm == "inf" else "")
               + (f" D: {state.points} points, noise {state.noise:g} (the sidebar's; the "
                  "presets' own are 1000 and 0)."
                  if (state.points, state.noise) != (DEFAULT.points, DEFAULT.noise) else ""))
    panels, rows = zip(*(preset_panel(state, name, task) for name, task in PRESETS.items()))
    # two by two: four in a row left the numbers under each panel unreadable at 1000 px
    st.image(figure_png(draw_overview(list(panels), columns=2), dpi=100), width="stretch")
    st.html(preset_legend(max(task.num_classes for task in PRESETS.values())))
    show_caveat(rows)
    # a static table wraps its cells: a data grid hid the last columns at 1000 px
    shown = pd.DataFrame(list(rows))
    for k in KEYS + ("clean accuracy",):
        shown[k] = [f"{v:.3f}" for v in shown[k]]
    st.table(shown.set_index("preset"))


def show_caveat(rows) -> None:
    """A warning naming the presets whose model classifies too little of D correctly for
    their verdict to speak for D (:data:`categories.TRUSTED_ACCURACY`)."""
    low = [r for r in rows if r["clean accuracy"] < TRUSTED_ACCURACY]
    if not low:
        return
    names = ", ".join(f"{r['preset']} ({accuracy_caveat(r['clean accuracy'])})" for r in low)
    st.warning(f"Verdict{'s' if len(low) > 1 else ''} on part of D only: {names}. "
               f"{CAVEAT_WHY} Below {TRUSTED_ACCURACY:.0%} clean accuracy a verdict speaks for "
               "that part of D alone: train the model longer or larger (sidebar) before "
               "trusting it.", icon=":material/warning:")


def preset_legend(num_classes: int) -> str:
    """The legend of the preset planes (HTML): D, H, boundaries, the minimal perturbations
    within eps, the universal delta and the points it moves and flips."""
    entries = [e for e in legend_entries(num_classes, minimal=True, universal=True)
               if e.label != "minimal perturbation, rho > eps"]
    return legend_html(entries) + ('<div style="font-size:0.85rem;color:#555">Grey rings: '
                                   'I + universal delta where it does not flip I.</div>')


def preset_panel(state: ViewState, name: str, task) -> tuple[PlaneSpec, dict]:
    """One preset read at the state's eps: its panel (a plane of
    :func:`drawing.draw_overview`) and its row of the table."""
    config = state.config()
    task = task_variant(task, points=state.points, noise=state.noise)   # the sidebar's D
    model = cached.model_for(task.name, task, config)
    model_key = cached.model_key_of(task.name, config)
    x, y, key = cached.sample(task.name, state.seed, task, state.points)
    profile = cached.profile(model_key, state.norm, model.logits_fn, x, y,
                             profile_path(task, config, state.norm))
    reading = cached.reading(model_key, state.norm, state.eps, model.logits_fn, x, profile)
    pred = cached.predictions(model_key, model.logits_fn, x)
    regions = cached.regions(model_key, model.logits_fn, task.bounds)
    support = cached.support(task.name, task)
    _, verdict = ladder(reading.fractions, state.tau)
    caveat = accuracy_caveat(reading.clean_accuracy)
    overlays = overlay_layers(model.logits_fn, x, pred, profile, reading, OVERLAYS,
                              norm=state.norm, eps=state.eps, key=key, n_arrows=N_ARROWS)
    start, r, within = overlays.minimal     # only the arrows that reach a boundary in eps
    fools = reading.fractions["universal"] > 0   # a delta that fools nothing: no arrow, no rings
    overlays = dataclasses.replace(overlays, minimal=(start[within], r[within], within[within]),
                                   universal=overlays.universal if fools else None)
    ground = Regions(regions, task.bounds, task.num_classes, support=support.label,
                     h=h_mask(support, state.norm, state.eps), near=support.near,
                     boundaries=cached.boundaries(model_key, regions, task.bounds))
    style = Style(title=f"{task.expected}. {name}: verdict {verdict}\n{NAMES[verdict]}"
                        + (f"\n{caveat}" if caveat else ""),
                  subtitle="\n".join("   ".join(f"{k} {reading.fractions[k]:.2f}" for k in pair)
                                     for pair in (KEYS[:2], KEYS[2:])))
    panel = PlaneSpec(ground, Points(x, y, pred), overlays, eps=state.eps, norm=state.norm,
                      style=style)
    row = {"preset": name, "built for": task.expected,
           "verdict": str(verdict) + (f" ({caveat})" if caveat else ""),
           **{k: reading.fractions[k] for k in KEYS},
           "clean accuracy": reading.clean_accuracy}
    return panel, row
