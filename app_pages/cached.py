"""Every ``st.cache_*`` wrapper of the app: what a rerun must not compute again.

Trained models are kept per (task, TrainConfig) in a small LRU store (training shows a
progress bar, so it runs outside ``st.cache_*``); everything derived from a model is
cached with ``st.cache_resource`` keyed on hashable strings (the model's key, the norm,
eps), the model and the arrays passed as ``_``-prefixed (unhashed) arguments. Changing
eps or tau never retrains nor rescans: it only calls :func:`reading` (~0.05 s).

Importing it keeps JAX's compiled programs on disk (:func:`store.enable_compilation_cache`).
"""

from __future__ import annotations

import collections
import io
import threading

import jax
import numpy as np
import streamlit as st

from categories import (Certified, CertifiedCurve, Changes, Timeline, certified_curve,
                        certified_fractions, certify_sweep, fractions_over_training,
                        crossings_measure, dominant_measure, family_of, grid_hints,
                        locate_changes, measure_normals, retrain_measure, transfer_on,
                        transfer_summary)
from drawing import (FRAME_RES, GRID_RES, Recording, SupportMap, boundary_lines, labels_of, record_training,
                     probe as probe_point, probe_spec as probe_chart_spec, probe_window,
                     random_deltas as deltas_on_sphere, region_image, support_map)
from store import enable_compilation_cache
from toymodels import Model, load_csv, load_or_train
from toymodels import drawn_task as drawn_points_task
from app_pages.estimates import estimate_curves as attack_curves, estimates_at
from app_pages.texts import CSV_ROW_ADVICE, model_words
from app_pages.reading import (N_POINTS, Reading, curves_of, flips_of, flips_of_many,
                               load_measured, measured_path, read_at, sample_of_d, save_measured,
                               scan)

MODEL_SLOTS = 12
CERTIFY_SWEEP = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # the certificates' eps, as multiples of eps
_LOCK = threading.Lock()


enable_compilation_cache()     # a restarted app skips most compilation


# --- the task and the model -------------------------------------------------------------

@st.cache_resource(max_entries=16, show_spinner=False)
def csv_task(digest: str, name: str, rescale: bool, _data: bytes):
    """The task of an uploaded CSV, rescaled into the plane or kept as written (raises
    :class:`toymodels.DataError` if unusable)."""
    return load_csv(io.BytesIO(_data), name=name, row_advice=CSV_ROW_ADVICE, rescale=rescale)


@st.cache_resource(max_entries=16, show_spinner=False)
def drawn_task(digest: str, points: tuple):
    """The task of points drawn by hand (:func:`toymodels.drawn_task`), once a drawing."""
    return drawn_points_task(points)


@st.cache_resource(show_spinner=False)
def model_store() -> collections.OrderedDict:
    """The process-wide LRU store of trained models, ``{(task_key, config): Model}``."""
    return collections.OrderedDict()


def _recall(store: collections.OrderedDict, key):
    """The value of ``key`` in an LRU store (now the newest), or None."""
    with _LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    return None


def _remember(store: collections.OrderedDict, key, value, slots: int):
    """Puts ``value`` in an LRU store of ``slots`` entries, dropping the oldest; returns it."""
    with _LOCK:
        store[key] = value
        while len(store) > slots:
            store.popitem(last=False)
    return value


def model_for(task_key: str, task, config) -> Model:
    """The trained model of ``config`` on the task, training it with a progress bar once."""
    key = (task_key, config)
    model = _recall(model_store(), key)
    if model is not None:
        return model
    bar = st.progress(0.0, text=f"Training an MLP of {model_words(config)} on {task.name} "
                                f"({config.steps} steps)...")

    def progress(done, loss):
        bar.progress(min(float(done), 1.0),
                     text=f"Training on {task.name}: step {round(done * config.steps)} of "
                          f"{config.steps}, loss {loss:.3f}")

    try:
        model = load_or_train(task, config, progress=progress)
    finally:
        bar.empty()
    keep_model(key, model)
    return model


def keep_model(key, model: Model) -> None:
    """Puts ``model`` in the LRU store under ``(task_key, config)``, dropping the oldest."""
    _remember(model_store(), key, model, MODEL_SLOTS)


def model_key_of(task_key: str, config) -> str:
    """The hashable key of (task, config) every cached result of a model hangs on."""
    return f"{task_key}|{config}"


# --- a training timeline ---------------------------------------------------------------------

TIMELINE_SLOTS = 6


@st.cache_resource(show_spinner=False)
def timeline_runs() -> collections.OrderedDict:
    """The process-wide LRU store of recorded training runs,
    ``{(task_key, config, snapshots): drawing.Recording}``."""
    return collections.OrderedDict()


def train_timeline(run_key, task, config, snapshots: int, show=None,
                   stop_at: float | None = None) -> Recording:
    """Trains ``config`` on the task afresh, recording ``snapshots`` snapshots and their
    frames, and keeps the run (and the trained model, for the other pages).

    Args:
      show: called after each snapshot with ``(snapshot, frame, history)``, where
        history holds the lists ``step``, ``loss``, ``accuracy`` and ``held_out`` so far.
      stop_at: stop once the accuracy on a fresh sample of D reaches it.
    """
    task_key = run_key[0]
    run = record_training(task, config, snapshots, support=support(task_key, task, FRAME_RES).label,
                          show=show, stop_at=stop_at)
    trained = _remember(timeline_runs(), run_key, run, TIMELINE_SLOTS).trained
    if not run.stopped:            # a run cut short is not the model of ``config``
        keep_model((task_key, config), Model(trained.logits_fn, config, trained.accuracy, False))
    return run


@st.cache_resource(show_spinner=False)
def _frame_pngs() -> dict:
    """``{id(run): (run, [PNG bytes or None] * S)}``: the frames of the recorded runs,
    encoded once each (a timeline tick then sends bytes, not an array to encode)."""
    return {}


def frame_png(run: Recording, index: int) -> bytes:
    """The PNG bytes of frame ``index`` of a recorded run (encoded on first use)."""
    from PIL import Image

    store = _frame_pngs()
    with _LOCK:
        entry = store.get(id(run))
        if entry is None or entry[0] is not run:
            kept = {id(r) for r in timeline_runs().values()}
            for gone in [k for k in store if k not in kept]:
                del store[gone]
            entry = store[id(run)] = (run, [None] * len(run.frames))
    pngs = entry[1]
    if pngs[index] is None:
        buf = io.BytesIO()
        Image.fromarray(np.asarray(run.frames[index])).save(buf, format="PNG")
        pngs[index] = buf.getvalue()
    return pngs[index]


@st.cache_resource(show_spinner=False)
def _timelines() -> collections.OrderedDict:
    """The process-wide LRU store of measured timelines (a store, not a cached function,
    so that measuring one can draw its progress on the page)."""
    return collections.OrderedDict()


def timeline(run_name: str, norm: str, eps: float, tau: float, task_key: str, seed: int, _task,
             _snapshots, n: int = N_POINTS, _progress=None) -> Timeline:
    """The four fractions of every snapshot at eps on the sample of D (``n`` points; each
    measured once; ``_progress`` is called with the share measured)."""
    key = (run_name, norm, eps, tau, task_key, seed, n)
    measured = _recall(_timelines(), key)
    if measured is None:
        x, y, _ = sample(task_key, seed, _task, n)
        measured = _remember(_timelines(), key, fractions_over_training(
            _snapshots, x, y, norm=norm, eps=eps, tau=tau, progress=_progress), 32)
    return measured


# --- D, the plane and the reading ----------------------------------------------------------

@st.cache_resource(max_entries=32, show_spinner=False)
def sample(task_key: str, seed: int, _task, n: int = N_POINTS):
    """The sample of D (``n`` points of a named task; a data-defined task's own points)."""
    return sample_of_d(_task, seed, n)


@st.cache_resource(max_entries=32, show_spinner=False)
def support(task_key: str, _task, res: int = GRID_RES) -> SupportMap:
    return support_map(_task, res)


@st.cache_resource(max_entries=128, show_spinner=False)
def picture(key: tuple, _draw) -> tuple[bytes, tuple]:
    """A clickable picture as ``(PNG bytes, axes box)``, drawn by ``_draw()`` once per
    ``key`` (everything it is drawn from): a view seen before sends bytes, not a figure."""
    return _draw()


@st.cache_resource(max_entries=32, show_spinner=False)
def regions(model_key: str, _logits_fn, bounds) -> np.ndarray:
    return region_image(_logits_fn, bounds)


@st.cache_resource(max_entries=32, show_spinner=False)
def boundaries(model_key: str, _regions, bounds) -> list:
    return boundary_lines(_regions, bounds)


@st.cache_resource(max_entries=32, show_spinner=False)
def probe_spec(model_key: str, _regions, bounds, num_classes: int, _points) -> dict:
    return probe_chart_spec(_regions, bounds, num_classes, _points)


@st.cache_resource(max_entries=32, show_spinner=False)
def predictions(model_key: str, _logits_fn, _x) -> np.ndarray:
    return labels_of(_logits_fn, _x)


@st.cache_resource(max_entries=64, show_spinner="Scanning the plane around D...")
def profile(model_key: str, norm: str, _logits_fn, _x, _y, _path=None):
    return scan(_logits_fn, _x, _y, norm, _path)


@st.cache_resource(max_entries=1024, show_spinner=False)
def reading(model_key: str, norm: str, eps: float, _logits_fn, _x, _profile) -> Reading:
    """The four fractions at eps (~0.05 s on an idle machine; computed once per model,
    norm and eps)."""
    return read_at(_logits_fn, _x, _profile, norm, eps)


MEASURED_SLOTS = 64


@st.cache_resource(show_spinner=False)
def _measured() -> collections.OrderedDict:
    """``{(model_key, norm): {eps: fractions}}`` measured by the change search (LRU)."""
    return collections.OrderedDict()


@st.cache_resource(max_entries=256, show_spinner="Locating where the verdict changes...")
def changes(model_key: str, norm: str, tau: float, _logits_fn, _x, _y, _profile,
            _path=None) -> Changes:
    """Where the verdict changes along eps at tau, located to :data:`categories.PRECISION`
    by :func:`categories.locate_changes` with the ladder's reading; what it measures is
    kept beside the profile (``_path``), so a restart or another tau measures only what
    is new."""
    known = _recall(_measured(), (model_key, norm))
    if known is None:
        known = _remember(_measured(), (model_key, norm),
                          load_measured(measured_path(_path), _x, _y, norm), MEASURED_SLOTS)
    with _LOCK:
        before = dict(known)

    def measure(eps: float) -> dict:
        if eps in before:
            return before[eps]
        values = reading(model_key, norm, eps, _logits_fn, _x, _profile).fractions
        with _LOCK:
            known[eps] = values
        return values

    radii = np.asarray(_profile.radii)
    found = locate_changes(measure, tau, stop=float(radii[-1]),
                           hints=grid_hints(radii, curves_of(_profile), tau) + sorted(before))
    if len(found.measured) > len(before.keys() & found.measured.keys()):
        with _LOCK:
            kept = dict(known)
        save_measured(measured_path(_path), _x, _y, norm, kept)
    return found


def random_deltas(model_key: str, norm: str, eps: float, key, n: int) -> np.ndarray:
    """``f32[n, 2]`` on S_eps, cached by the key's words (the game and the download draw
    with their own keys, also when D has the game's 200 points)."""
    words = tuple(np.asarray(jax.random.key_data(key)).ravel().tolist())
    return _random_deltas(model_key, norm, eps, words, n, key)


@st.cache_resource(max_entries=256, show_spinner=False)
def _random_deltas(model_key, norm, eps, words, n, _key) -> np.ndarray:
    return deltas_on_sphere(_key, n, norm, eps)


@st.cache_resource(max_entries=256, show_spinner=False)
def probe(model_key: str, norm: str, eps: float, point: tuple, _logits_fn, _udelta, _key):
    """The :class:`drawing.Probe` of one point of the plane (a click on the plane)."""
    return probe_point(_logits_fn, point, norm, eps, _udelta, _key)


@st.cache_resource(max_entries=64, show_spinner=False)
def probe_magnified(model_key: str, norm: str, eps: float, point: tuple, _logits_fn, _probed):
    """``(window regions, window bounds)`` around a probed point (the probe tab)."""
    return probe_window(_logits_fn, _probed, eps)


@st.cache_resource(max_entries=256, show_spinner=False)
def random_flips(model_key: str, norm: str, eps: float, _logits_fn, _x, _pred, _correct, _pool,
                 drawn: int) -> tuple[np.ndarray, float]:
    """``(shares f[drawn], every)``: the share of D each of the first ``drawn`` deltas of
    the pool flips, and the share flipped by all of them."""
    return flips_of_many(_logits_fn, _x, _pred, _correct, _pool[:drawn])


@st.cache_resource(max_entries=512, show_spinner=False)
def flips(model_key: str, delta: tuple, _logits_fn, _x, _pred, _correct):
    """``(flipped bool[n], share)``: the points of D that one delta flips."""
    return flips_of(_logits_fn, _x, _pred, _correct, delta)


# --- attacks ---------------------------------------------------------------------------------

@st.cache_resource(max_entries=128, show_spinner="Running FGSM, PGD, DeepFool and the "
                                                  "universal algorithms...")
def estimates(model_key: str, norm: str, eps: float, _logits_fn, _x, _y, _key) -> dict:
    return estimates_at(_logits_fn, _x, _y, norm, eps, _key)


@st.cache_resource(max_entries=128, show_spinner="Proving the brackets (branch and bound over "
                                                  "deltas, bound propagation)...")
def brackets(model_key: str, norm: str, eps: float, _logits_fn, _x, _y) -> Certified:
    """The four fractions at eps as certified brackets (:func:`categories.certified_fractions`,
    true labels: the points f classifies correctly count, as on the rest of the page)."""
    return certified_fractions(_logits_fn, np.asarray(_x, np.float32), np.asarray(_y),
                               norm=norm, eps=float(eps))


@st.cache_resource(max_entries=16, show_spinner="Proving the brackets over eps (branch and bound "
                                                 "at each radius; slow the first time)...")
def bracket_curves(model_key: str, norm: str, eps_values: tuple, _logits_fn, _x,
                   _y) -> CertifiedCurve:
    """:func:`categories.certified_curve` at ``eps_values``: one bracket per radius."""
    return certified_curve(_logits_fn, np.asarray(_x, np.float32), np.asarray(_y), norm=norm,
                           radii=eps_values)


@st.cache_resource(max_entries=32, show_spinner="Running the attacks over eps...")
def estimate_curves(model_key: str, norm: str, eps_values: tuple, _logits_fn, _x, _y, _key):
    return attack_curves(_logits_fn, _x, _y, norm, eps_values, _key)


# --- the geometry of the boundaries: JSON-ready dicts of categories' measures ----------------

@st.cache_resource(show_spinner="Measuring the boundary normals...", max_entries=64)
def normals(model_key, norm, eps, _logits_fn, _x, _y, _key):
    return measure_normals(_logits_fn, _x, _y, key=_key, norm=norm, eps=eps)


@st.cache_resource(show_spinner="Counting boundary crossings...", max_entries=64)
def crossings(model_key, norm, eps, _logits_fn, _x, _y, _key):
    return crossings_measure(_logits_fn, _x, _y, norm=norm, eps=eps, key=_key)


@st.cache_resource(show_spinner="Training the family of models and transferring...",
                   max_entries=16)
def transfer(model_key, norm, eps, _task, _config, _logits_fn, _x, _y, _key):
    """This model and its family (:func:`categories.family_of`): the transfer matrix."""
    family = family_of(_config)
    first = next(iter(family))
    measured = transfer_on(_task, family, _x, _y, norm=norm, eps=eps, key=_key,
                           models={first: _logits_fn})
    return transfer_summary(measured)


@st.cache_resource(show_spinner="Fine-tuning on perturbations of D...", max_entries=32)
def retrain(model_key, norm, eps, tau, method, rounds, steps, _task, _logits_fn, _x, _y, _key):
    return retrain_measure(_task, _logits_fn, _x, _y, key=jax.random.fold_in(_key, 1),
                           method=method, norm=norm, eps=eps, tau=tau, rounds=rounds,
                           steps=steps)


@st.cache_resource(show_spinner="Certifying by bound propagation...", max_entries=64)
def certify(model_key, norm, eps, _logits_fn, _x, _y, _key):
    sweep = sorted({round(eps * f, 4) for f in CERTIFY_SWEEP})
    return certify_sweep(_logits_fn, _x, _y, norm=norm, eps_values=sweep, key=_key)


@st.cache_resource(show_spinner=False, max_entries=256)
def dominant(model_key, norm, eps, _logits_fn, _x, _y, _delta):
    return dominant_measure(_logits_fn, _x, _y, norm=norm, eps=eps, delta=_delta)
