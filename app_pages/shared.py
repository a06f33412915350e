"""The app's shared controls and cached results (UI glue; compute is in categories.appstate).

Every page of the app reads the same sidebar (data set, model, norm, eps, tau) and the
same cached model, sample of D and profile through :func:`current_view`, so a page
added later (e.g. ``app_pages/geometry.py``) shows the model the user has chosen::

    from app_pages.shared import current_view
    v = current_view()          # None when no model could be made (an error is shown)
    if v is None:
        st.stop()
    v.model.logits_fn, v.x, v.y, v.state.norm, v.state.eps, v.reading.fractions, ...

Caching: trained models are kept per (task, TrainConfig) in a small LRU store (training
shows a progress bar, so it runs outside ``st.cache_*``); everything derived from a
model is cached with ``st.cache_resource`` keyed on hashable strings, the arrays passed
as ``_``-prefixed (unhashed) arguments. Changing eps or tau never retrains nor rescans:
it only calls :func:`categories.appstate.read_at` (~0.05 s).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import threading
from typing import NamedTuple

import numpy as np
import streamlit as st

from categories import appstate as A
from categories import planeview as V
from toymodels import PRESETS, TASK_NAMES, DataError, TrainingDiverged, get_task, load_csv
from toymodels.mlp import ACTIVATIONS

A.enable_compilation_cache()
DEFAULT = A.ViewState()
MODEL_SLOTS = 12
_LOCK = threading.Lock()

# widget keys are the ViewState's field names (and so the URL's parameter names)
FIELDS = [f.name for f in dataclasses.fields(A.ViewState)]


def _dataset_label(name: str) -> str:
    if name == A.UPLOAD:
        return "upload a CSV (x,y,label)"
    if name in PRESETS:
        return f"{name}  (built for category {PRESETS[name].expected})"
    return name


# ---------------------------------------------------------------------------------------
# State: URL -> widgets -> ViewState -> URL.

def _init_from_url() -> None:
    """On a session's first run, puts the URL's (validated) values into the widgets."""
    if st.session_state.get("_initialised"):
        return
    state, warnings = A.state_from_query(st.query_params.to_dict())
    for name in FIELDS:
        value = getattr(state, name)
        st.session_state[name] = list(value) if name == "overlays" else value
    if state.probe is not None:
        st.session_state["probe_x"], st.session_state["probe_y"] = state.probe
    st.session_state["_url_warnings"] = warnings
    st.session_state["_initialised"] = True


def state_now() -> A.ViewState:
    """The :class:`~categories.appstate.ViewState` of the widgets as they are now."""
    s = st.session_state
    values = {name: s[name] for name in FIELDS if name in s and name not in ("overlays", "probe")}
    overlays = tuple(o for o in A.OVERLAYS if o in (s.get("overlays") or ()))
    px, py = s.get("probe_x"), s.get("probe_y")
    probe = (float(px), float(py)) if px is not None and py is not None else None
    return dataclasses.replace(DEFAULT, **values, overlays=overlays, probe=probe)


def write_url(state: A.ViewState) -> None:
    """Writes ``state`` to the URL's query parameters (only ours, and only when changed;
    other pages' parameters are left alone)."""
    q = A.state_to_query(state)
    now = st.query_params.to_dict()
    for name in FIELDS:
        if name in q and now.get(name) != q[name]:
            st.query_params[name] = q[name]
        elif name not in q and name in now:
            del st.query_params[name]


def sidebar() -> A.ViewState:
    """Draws the controls (URL values on first run) and returns the state they set."""
    _init_from_url()
    sb = st.sidebar
    sb.header("Data set D")
    sb.selectbox("dataset", TASK_NAMES + (A.UPLOAD,), key="dataset",
                 format_func=_dataset_label,
                 help="The four presets are built to land in categories 1-4 at eps = 0.15.")
    if st.session_state["dataset"] == A.UPLOAD:
        sb.file_uploader("CSV with x,y,label rows", type=["csv", "txt"], key="csv_file")
    sb.header("Model")
    c1, c2 = sb.columns(2)
    c1.selectbox("width", A.WIDTHS, key="width", help="units per hidden layer")
    c2.selectbox("depth", A.DEPTHS, key="depth", help="hidden layers")
    c1.selectbox("activation", tuple(ACTIVATIONS), key="activation")
    c2.selectbox("training steps", A.STEPS, key="steps")
    sb.number_input("seed", min_value=0, max_value=2 ** 31 - 1, step=1, key="seed",
                    help="one seed: the model's training and the sample of D")
    sb.header("Reading")
    sb.radio("norm", ("2", "inf"), key="norm", horizontal=True,
             format_func=lambda n: "l2" if n == "2" else "l∞",
             help="B_eps is a disc (l2) or a square (l∞)")
    sb.slider("eps (radius of B_eps)", min_value=A.EPS_STEP, max_value=A.EPS_MAX,
              step=A.EPS_STEP, key="eps", format="%.3f",
              help="changing eps never retrains or rescans")
    sb.slider("tau (the 'almost all' share)", min_value=0.05, max_value=1.0, step=0.01,
              key="tau")
    return state_now()


def show_url_warnings() -> None:
    """Shows (once) the URL values that were ignored."""
    for w in st.session_state.pop("_url_warnings", []):
        st.warning(f"Link: {w}")


# ---------------------------------------------------------------------------------------
# The task (a named set or an uploaded CSV).

@st.cache_resource(max_entries=16, show_spinner=False)
def _csv_task(digest: str, name: str, _data: bytes):
    return load_csv(io.BytesIO(_data), name=name)


def current_task(state: A.ViewState):
    """``(task_key, task)`` of the state; an unusable CSV shows st.error and falls back.

    The fallback is the last data set that worked in this session (else ``pancakes``).
    """
    fallback = st.session_state.get("_last_good", DEFAULT.dataset)
    if state.dataset != A.UPLOAD:
        st.session_state["_last_good"] = state.dataset
        return state.dataset, get_task(state.dataset)
    upload = st.session_state.get("csv_file")
    if upload is None:
        st.info(f"Upload a CSV of x,y,label rows in the sidebar; showing {fallback} meanwhile.")
        return fallback, get_task(fallback)
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        task = _csv_task(digest, upload.name, data)
    except DataError as e:
        st.error(f"{upload.name}: {e}")
        st.info(f"Showing {fallback} until the CSV is fixed.")
        return fallback, get_task(fallback)
    return f"csv:{digest}", task


# ---------------------------------------------------------------------------------------
# Cached results.

@st.cache_resource(show_spinner=False)
def _model_store() -> collections.OrderedDict:
    return collections.OrderedDict()


def model_for(task_key: str, task, config) -> A.Model:
    """The trained model of ``config`` on the task, training it with a progress bar once."""
    store, key = _model_store(), (task_key, config)
    with _LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    bar = st.progress(0.0, text=f"Training a {config.depth}x{config.width} {config.activation} "
                                f"MLP on {task.name} ({config.steps} steps)...")

    def progress(frac, loss):
        bar.progress(min(float(frac), 1.0),
                     text=f"Training on {task.name}: step {round(frac * config.steps)} of "
                          f"{config.steps}, loss {loss:.3f}")

    try:
        model = A.load_or_train_with_progress(task, config, progress)
    finally:
        bar.empty()
    with _LOCK:
        store[key] = model
        while len(store) > MODEL_SLOTS:
            store.popitem(last=False)
    return model


@st.cache_resource(max_entries=32, show_spinner=False)
def sample(task_key: str, seed: int, _task):
    return A.sample_of_d(_task, seed)


@st.cache_resource(max_entries=32, show_spinner=False)
def support(task_key: str, _task) -> V.SupportMap:
    return V.support_map(_task)


@st.cache_resource(max_entries=32, show_spinner=False)
def regions(model_key: str, _logits_fn, bounds) -> np.ndarray:
    return V.region_image(_logits_fn, bounds)


@st.cache_resource(max_entries=32, show_spinner=False)
def boundaries(model_key: str, _regions, bounds) -> list:
    return V.boundary_lines(_regions, bounds)


@st.cache_resource(max_entries=64, show_spinner=False)
def legend_png(num_classes: int, overlays: tuple, probe: bool) -> bytes:
    from categories.plot import draw_legend, figure_png

    return figure_png(draw_legend(num_classes, minimal="arrows" in overlays,
                                  universal="universal" in overlays, random="random" in overlays,
                                  probe=probe), dpi=100)


@st.cache_resource(max_entries=32, show_spinner=False)
def probe_spec(model_key: str, _regions, bounds, num_classes: int, _points) -> dict:
    from categories.charts import probe_spec as spec

    return spec(_regions, bounds, num_classes, _points)


@st.cache_resource(max_entries=32, show_spinner=False)
def predictions(model_key: str, _logits_fn, _x) -> np.ndarray:
    return V.labels_of(_logits_fn, _x)


@st.cache_resource(max_entries=64, show_spinner="Scanning the plane around D...")
def profile(model_key: str, norm: str, _logits_fn, _x, _y, _path=None):
    return A.scan(_logits_fn, _x, _y, norm, _path)


@st.cache_resource(max_entries=1024, show_spinner=False)
def reading(model_key: str, norm: str, eps: float, _logits_fn, _x, _profile) -> A.Reading:
    """The four fractions at eps (~0.05 s on an idle machine; computed once per model,
    norm and eps)."""
    return A.read_at(_logits_fn, _x, _profile, norm, eps)


@st.cache_resource(max_entries=256, show_spinner=False)
def random_deltas(model_key: str, norm: str, eps: float, _key, n: int) -> np.ndarray:
    return V.random_deltas(_key, n, norm, eps)


@st.cache_resource(max_entries=128, show_spinner="Running FGSM, PGD, DeepFool and the "
                                                  "universal algorithms...")
def estimates(model_key: str, norm: str, eps: float, _logits_fn, _x, _y, _key) -> dict:
    return A.estimates_at(_logits_fn, _x, _y, norm, eps, _key)


@st.cache_resource(max_entries=32, show_spinner="Running the attacks over eps...")
def estimate_curves(model_key: str, norm: str, eps_values: tuple, _logits_fn, _x, _y, _key):
    return A.estimate_curves(_logits_fn, _x, _y, norm, eps_values, _key)


@st.cache_resource(max_entries=256, show_spinner="Probing the point...")
def probe(model_key: str, norm: str, eps: float, point: tuple, _logits_fn, _udelta, _key):
    pr = V.probe(_logits_fn, point, norm, eps, _udelta, _key)
    return pr, V.probe_window(_logits_fn, pr, eps)


# ---------------------------------------------------------------------------------------
# The view every page reads.

class View(NamedTuple):
    state: A.ViewState
    task_key: str
    task: object
    model: A.Model
    model_key: str      # hashable key of (task, config): every cached result hangs on it
    x: np.ndarray
    y: np.ndarray
    key: object         # jax.random.key left for the attacks
    pred: np.ndarray
    profile: object     # categories.exact2d.Profile up to EPS_MAX
    reading: A.Reading  # the four fractions at eps


def model_key_of(task_key: str, config) -> str:
    return f"{task_key}|{config}"


def current_view() -> View | None:
    """The view of the current controls: model, sample of D, profile and reading.

    Returns:
      ``None`` (after an st.error) when no model can be trained for these controls.
    """
    state = state_now()
    task_key, task = current_task(state)
    config = state.config()
    try:
        model = model_for(task_key, task, config)
    except (TrainingDiverged, ValueError) as e:
        st.error(f"Cannot train this model: {e}")
        return None
    mk = model_key_of(task_key, config)
    x, y, key = sample(task_key, state.seed, task)
    prof = profile(mk, state.norm, model.logits_fn, x, y,
                   A.profile_path(task, config, state.norm))
    rd = reading(mk, state.norm, state.eps, model.logits_fn, x, prof)
    pred = predictions(mk, model.logits_fn, x)
    return View(state, task_key, task, model, mk, x, y, key, pred, prof, rd)
