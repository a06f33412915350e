"""The view every page reads: the sidebar's task, model, sample of D, profile and reading
at eps, from the caches of :mod:`app_pages.cached`::

    from app_pages.view import current_view
    view = current_view()       # None when no model could be made (an error is shown)
    if view is None:
        st.stop()
    view.model.logits_fn, view.x, view.y, view.state.eps, view.reading.fractions, ...
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
import streamlit as st

from categories import Profile
from toymodels import DataError, Model, Task, TrainingDiverged, get_task, task_variant
from app_pages import cached
from app_pages.reading import Reading, profile_path
from app_pages.session import drawn_points, last_good, set_last_good
from app_pages.sidebar import DEFAULT, state_now
from app_pages.urlstate import DRAWN, UPLOAD, ViewState, drawn_text


class View(NamedTuple):
    state: ViewState
    task_key: str
    task: Task
    model: Model
    model_key: str      # hashable key of (task, config): every cached result hangs on it
    x: np.ndarray
    y: np.ndarray
    key: object         # jax.random.key left for the attacks
    pred: np.ndarray
    profile: Profile    # up to EPS_MAX
    reading: Reading    # the four fractions at eps


def current_task(state: ViewState) -> tuple[str, Task]:
    """``(task_key, task)`` of the state; an unusable CSV shows st.error and falls back.

    The fallback is the last data set that worked in this session, an uploaded CSV
    included (else ``pancakes``).
    """
    fallback_key, fallback = last_good(DEFAULT.dataset)
    if state.dataset == DRAWN:
        return drawn_task(fallback_key, fallback)
    if state.dataset != UPLOAD:
        set_last_good(state.dataset)
        return named_task(state.dataset, state)
    if fallback is None:
        fallback_key, fallback = named_task(fallback_key, state)
    upload = st.session_state.get("csv_file")
    if upload is None:
        st.info(f"Upload a CSV of x,y,label rows in the sidebar; showing {fallback.name} meanwhile.")
        return fallback_key, fallback
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    rescale = bool(st.session_state.get("csv_rescale", True))
    digest += "" if rescale else "-kept"          # the two readings are two tasks
    try:
        task = cached.csv_task(digest, upload.name, rescale, data)
        if not rescale:
            _inside_the_plane(task.points[0])
    except DataError as e:
        st.error(f"{upload.name}: {e}")
        st.info(f"Showing {fallback.name} until the CSV is fixed.")
        return fallback_key, fallback
    set_last_good(f"csv:{digest}", task)
    return f"csv:{digest}", task


def _inside_the_plane(x) -> None:
    """Raises a :class:`toymodels.DataError` that says what to do when points kept as
    written leave the plane the app draws and measures."""
    outside = int((np.abs(x) > 1).any(1).sum())
    if outside:
        raise DataError(f"{outside} of {len(x)} points lie outside the plane [-1, 1]² (x from "
                        f"{x[:, 0].min():.3g} to {x[:, 0].max():.3g}, y from {x[:, 1].min():.3g} "
                        f"to {x[:, 1].max():.3g}): move them inside or turn on \"rescale into "
                        "the plane\" in the sidebar")


def named_task(name: str, state: ViewState) -> tuple[str, Task]:
    """``(task_key, task)`` of a preset or classic set with the state's number of points
    and noise (:func:`toymodels.task_variant`: the task itself at the preset's own values;
    the key names them, so a change retrains and rescans)."""
    task = task_variant(get_task(name), points=state.points, noise=state.noise)
    return task.name, task


MIN_DRAWN = 4          # points per class before a model is trained on a drawing


def drawn_task(fallback_key: str, fallback) -> tuple[str, Task]:
    """The task of the points drawn so far (:func:`app_pages.canvas.show_canvas`), kept
    where they were drawn; until two classes have :data:`MIN_DRAWN` points each (D and
    the regions drawn around it together, as the model trains on both) and D has one,
    the fallback."""
    points = drawn_points()
    labels = [p[2] for p in points]
    counts = {c: labels.count(c) for c in set(labels)}
    if len([n for n in counts.values() if n >= MIN_DRAWN]) < 2 or not any(p[3] for p in points):
        if fallback is None:
            fallback_key, fallback = named_task(fallback_key, state_now())
        now = ", ".join(f"class {c}: {n}" for c, n in sorted(counts.items())) or "none yet"
        st.info(f"Draw at least {MIN_DRAWN} points in each of two classes on the canvas above "
                f"(now {now}); showing {fallback.name} meanwhile.")
        return fallback_key, fallback
    digest = hashlib.sha256(drawn_text(points).encode()).hexdigest()[:16]
    return f"drawn:{digest}", cached.drawn_task(digest, tuple(points))


def current_view() -> View | None:
    """The view of the current controls: model, sample of D, profile and reading.

    Returns:
      ``None`` (after an st.error) when no model can be trained for these controls.
    """
    state = state_now()
    task_key, task = current_task(state)
    config = state.config()
    try:
        model = cached.model_for(task_key, task, config)
    except (TrainingDiverged, ValueError) as e:
        st.error(f"Cannot train this model: {e}")
        return None
    model_key = cached.model_key_of(task_key, config)
    x, y, key = cached.sample(task_key, state.seed, task, state.points)
    profile = cached.profile(model_key, state.norm, model.logits_fn, x, y,
                             profile_path(task, config, state.norm))
    reading = cached.reading(model_key, state.norm, state.eps, model.logits_fn, x, profile)
    pred = cached.predictions(model_key, model.logits_fn, x)
    return View(state, task_key, task, model, model_key, x, y, key, pred, profile, reading)
