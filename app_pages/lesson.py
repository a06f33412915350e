"""A guided lesson (``/lesson``): the essay in order, one step at a time, each step with
its picture and one thing to try on the other pages (which stay for free play)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import streamlit as st

from categories import FORMULAS, NAMES
from drawing import draw_overview, figure_png
from toymodels import PRESETS
from app_pages.explore import page as explore_page
from app_pages.geometry import page as geometry_page
from app_pages.overview import preset_legend, preset_panel
from app_pages.scale import page as scale_page, show_beside_presets
from app_pages.sidebar import state_now
from app_pages.texts import EXPLANATIONS, MEASURES
from app_pages.training import page as training_page
from app_pages.urlstate import state_to_query


class Step(NamedTuple):
    title: str
    text: str
    preset: str | None        # the preset drawn beside the text (None: no picture)
    category: int | None      # the category whose formula and measure are shown
    page: str                 # where to try it: a url_path of the router ("" = explore)
    query: dict               # the link's parameters
    try_this: str
    panels: tuple = ()        # ((preset, training steps or None: the sidebar's), ...) side by side
    why: str = ""             # what the panels show, under them


PRESET_OF = {p.expected: name for name, p in PRESETS.items()}

STEPS = (
    Step("A network is a function",
         "A classifier f maps an input (here a point of the plane, in the essay an image of "
         "d pixels) to one score per class and answers the class with the highest score. "
         "The inputs with the same answer form a **region**; where two scores tie runs a "
         "**decision boundary**. Every picture in this app shows the regions tinted by class "
         "and the boundaries in black.",
         PRESET_OF[1], None, "", {"dataset": PRESET_OF[1]},
         "Open *Explore a model* and click anywhere on the plane: the probe shows which "
         "region the point is in and how far the nearest boundary is (rho)."),
    Step("D, H and the rest of the space",
         "Almost all of R^d is noise. **D**, the test distribution, is a small part of it "
         "(shaded dark, in each point's *true* class colour); **H**, the inputs a human still "
         "recognises, is D grown by a ball B_eps of radius eps (shaded lighter). A model is "
         "robust when no region of another colour reaches into H.",
         PRESET_OF[1], None, "", {"dataset": PRESET_OF[1], "overlays": "balls"},
         "Move eps in the sidebar and watch H grow until another region reaches into it."),
    *(Step(f"Category {c}: {NAMES[c]}", EXPLANATIONS[c], PRESET_OF[c], c, "",
           {"dataset": PRESET_OF[c]}, try_this)
      for c, try_this in (
          (1, "On this preset, no arrow (a minimal perturbation) fits inside eps: the verdict "
              "ladder stops at category 1. Raise eps until it changes."),
          (2, "Click points of D on the plane: each has its own short way out, pointing "
              "its own way. Then try the delta pad: no single delta flips most of D."),
          (3, "Play the delta pad: one delta for all of D. Find one that flips most points, "
              "then reveal the best delta."),
          (4, "Draw random deltas: almost every one flips almost every point, so the running "
              "share stays near random(eps)."))),
    Step("The order of the quantifiers",
         "Categories 2 and 3 differ only in the order of two quantifiers: *for every I there "
         "exists a delta* (each point its own) against *there exists one delta for every I*. "
         "Universal perturbations exist when the boundaries near D are oriented alike: their "
         "normals are correlated, so one direction leaves many regions at once.",
         None, None, "geometry", {"dataset": PRESET_OF[3]},
         "Open *Geometry of the boundaries*: the Normals tab compares the spread of the "
         "boundary normals on pancakes with that on wrinkles.",
         ((PRESET_OF[3], None), (PRESET_OF[2], None)),
         "The red arrows are each point's shortest way out (its own delta). On pancakes they "
         "all point the same way, because every boundary near D runs alike: one delta of that "
         "direction serves every point (exists delta, for all I). On wrinkles they point "
         "every way: each point has a delta, no delta has most points."),
    Step("Training decides the category",
         "The category is not fixed by the data: it is where training leaves the boundaries. "
         "Watch a model train and see at which step it falls into its category; retraining "
         "on perturbed points moves it again.",
         None, None, "train", {"dataset": PRESET_OF[3]},
         "Open *Watch it train*, press Train and watch, then play the timeline.",
         ((PRESET_OF[3], 50), (PRESET_OF[3], None)),
         "The same network and data trained for 50 steps and for the sidebar's full count. "
         "After 50 steps the model is right on only part of D and its boundaries do not yet "
         "run just above each band, so the verdict is another; full training pulls them "
         "there, and the model falls into category 3."),
    Step("At full scale: a real ImageNet model",
         "The essay's argument ends at real image classifiers. There nothing can be computed "
         "exactly: attacks estimate each fraction and bound it from one side (a delta found "
         "is real, a delta not found proves nothing). Moosavi-Dezfooli et al. found "
         "pretrained models in category 3: one small perturbation fools most photos. The "
         "table puts a real model's estimates beside the four presets.",
         None, None, "scale", {},
         "Open *At full scale*: see the universal perturbation, the photos it fools and the "
         "ladder of the four estimates, eps by eps."),
)


def page() -> None:
    """The lesson page (``/lesson``)."""
    st.title("A lesson: the geometry of adversarial robustness")
    st.caption(f"{len(STEPS)} steps through the essay. Each has one thing to try on the other "
               "pages; come back here with the page list in the sidebar.")
    # the buttons below set the step through the session, so the widget takes its
    # first value from there too (a default beside a session value logs a warning)
    st.session_state.setdefault("lesson_step", 0)
    index = st.segmented_control("step", list(range(len(STEPS))), key="lesson_step",
                                 format_func=lambda i: str(i + 1),
                                 help="the steps of the lesson, in the essay's order")
    index = 0 if index is None else int(index)
    step = STEPS[index]
    st.subheader(f"{index + 1}. {step.title}")
    text, picture = st.columns([3, 2], gap="large")
    with text:
        st.markdown(step.text)
        if step.category is not None:
            st.latex(FORMULAS[step.category])
            st.latex(MEASURES[step.category])
        st.info(f"**Try this.** {step.try_this}", icon=":material/touch_app:")
        state = state_now()
        query = {**{k: v for k, v in _link_base(state).items()}, **step.query}
        st.page_link(_page_of(step.page), label="Try it", icon=":material/arrow_forward:",
                     query_params=query)
        back, forward = st.columns(2)
        back.button("← previous step", key="lesson_back", on_click=_go, args=(index - 1,),
                    disabled=index == 0, width="stretch")
        forward.button("next step →", key="lesson_next", on_click=_go, args=(index + 1,),
                       disabled=index == len(STEPS) - 1, width="stretch")
    if step.page == "scale":
        # below the text at full width: its seven columns did not fit the picture's column
        show_beside_presets(state_now())
    if step.panels:
        # below the text at full width: two planes in the picture's column were too small
        _show_panels(step)
    if step.preset is not None:
        with picture:
            state = dataclasses.replace(state_now(), dataset=step.preset)
            with st.spinner(f"Training the model on {step.preset}..."):
                panel, row = preset_panel(state, step.preset, PRESETS[step.preset])
            st.image(figure_png(draw_overview([panel], size=4.2), dpi=100), width="stretch")
            st.caption(f"{step.preset} at eps = {state.eps:g}: robust {row['robust']:.2f}, "
                       f"pointwise {row['pointwise']:.2f}, universal {row['universal']:.2f}, "
                       f"random {row['random']:.2f}; regions tinted by class.")
            st.html(preset_legend(PRESETS[step.preset].num_classes))


def _show_panels(step: Step) -> None:
    """The step's presets side by side (each at the sidebar's eps, a training-step count
    where one is given), and what they show."""
    state, panels = state_now(), []
    for name, steps in step.panels:
        read = state if steps is None else dataclasses.replace(state, steps=steps)
        with st.spinner(f"Training the model on {name}..."):
            panel, _ = preset_panel(dataclasses.replace(read, dataset=name), name, PRESETS[name])
        verdict = panel.style.title.split(": ", 1)[1]
        if any(s for _, s in step.panels):       # the same preset twice: the steps tell
            panel = panel.with_style(title=f"{name}, {read.steps} steps: {verdict}")
        panels.append(panel)
    st.image(figure_png(draw_overview(panels, size=3.6), dpi=100), width=760)
    st.caption(f"At eps = {state.eps:g}. {step.why}")
    st.html(preset_legend(max(PRESETS[name].num_classes for name, _ in step.panels)))


def _go(index: int) -> None:
    st.session_state["lesson_step"] = max(0, min(index, len(STEPS) - 1))


def _link_base(state) -> dict:
    """The sidebar's model and reading, so a link keeps what the learner chose."""
    query = state_to_query(state)
    return {k: query[k] for k in ("width", "depth", "activation", "steps", "seed", "norm", "eps",
                                  "tau") if k in query}


def _page_of(url_path: str):
    """The router's page at ``url_path`` (a ``st.Page`` registered by ``app.py``)."""
    target = {"": explore_page, "geometry": geometry_page, "train": training_page,
              "scale": scale_page}[url_path]
    return st.Page(target, url_path=url_path or "explore", default=not url_path)
