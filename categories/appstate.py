"""What the Streamlit app computes, importable and testable without Streamlit.

The app (``app.py`` and ``app_pages/``) only lays out widgets and shows results; every
number and array it shows comes from here and from :mod:`categories.planeview` (the
plane's images, overlays and the probe):

- the view's state as it travels in the URL (:class:`ViewState`, :func:`state_from_query`,
  :func:`state_to_query`), validated value by value;
- the model: trained with progress, or reused from the ``.npz`` cache that
  :func:`categories.presets.load_or_train` shares (:func:`load_or_train_with_progress`);
- the sample of D (the report's key split, so the app's numbers are the CLI's);
- the fractions at one eps from a profile scanned once up to :data:`EPS_MAX`, the verdict
  ladder and where the verdict changes along eps;
- attacks against the exact values, and the ``.npz`` downloads.

Example:
    >>> state, warnings = state_from_query({"dataset": "bubbles", "eps": "9"})
    >>> state.dataset, state.eps, warnings
    ('bubbles', 0.15, ['eps=9 ignored: eps must be in (0, 0.4] (using 0.15)'])
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks.norms import parse_norm
from categories.exact2d import Fractions, Profile, exact_at, scan_profile
from categories.verdict import FRACTION_OF, NAMES, verdict
from toymodels import TASK_NAMES, TrainConfig
from toymodels.mlp import ACTIVATIONS

EPS_MAX = 0.4          # the eps slider's maximum: the profile is scanned once up to it
EPS_STEP = 0.005
N_POINTS = 1000        # the sample of D (the CLI report's size)
MAX_POINTS = 2000      # data-defined sets larger than this are subsampled
KEYS = ("robust", "pointwise", "universal", "random")

WIDTHS = (4, 8, 16, 32, 64, 128, 256)
DEPTHS = (1, 2, 3, 4, 5, 6)
STEPS = (50, 100, 200, 500, 1000, 1500, 2000, 3000, 5000)
OVERLAYS = {
    "arrows": "minimal perturbations",
    "balls": "eps-balls",
    "universal": "universal delta (before / after)",
    "random": "random deltas",
}
UPLOAD = "csv"         # the dataset name of an uploaded CSV (not reproducible from a link)

# Two or three plain sentences per category, in DESIGN.md's vocabulary.
EXPLANATIONS = {
    1: "No adversarial perturbations: the whole ball B_eps around a point of D stays in its "
       "own class region, so no change of size eps alters the answer. robust(eps) is the "
       "share of D farther than eps from every boundary (rho(I) > eps); in the picture, H "
       "lies inside regions of its own colour.",
    2: "Adversarial perturbations: every point I has its own small delta that crosses a "
       "boundary (rho(I) <= eps). The deltas may point every which way, like the arrows of "
       "the minimal perturbations, so one delta need not fool many points.",
    3: "Universal perturbations: one single delta, the same for every point, pushes most of "
       "D across a boundary. It exists when the boundaries near D are oriented alike; "
       "universal(eps) is the best share one delta of size at most eps fools.",
    4: "All perturbations are adversarial: D sits in small bubbles inside regions of another "
       "class, so a delta of size eps in any direction leaves the bubble. random(eps) is the "
       "share of points fooled by a delta drawn uniformly on the sphere S_eps.",
}
HOW_TO_READ = """
- **f** is the trained classifier; its **regions** are tinted by class and its **decision
  boundaries** drawn in black.
- **D** is the test distribution: its support is shaded dark in each point's *true* class
  colour, with the sampled points on it (crossed when f gets them wrong). The four
  fractions count the points f classifies correctly.
- **H** is the eps-neighbourhood of D (the human-recognisable inputs), shaded lighter in
  the colour of the nearest part of D. Where a region of another colour reaches into H, a
  small perturbation fools f.
- **B_eps** is the ball of radius eps (a disc in l2, a square in l∞), **S_eps** its
  boundary; **rho(I)** is a point's distance to the nearest boundary, and the minimal
  perturbation points there.
- The **verdict ladder** reads the four fractions from category 4 down: 4 if random ≥ tau,
  else 3 if universal ≥ tau, else 2 if pointwise ≥ tau, else 1 if robust ≥ tau, else
  "1-2". Move eps and tau in the sidebar; the model is not retrained.
- **Probe a point**: click the plane to see a point's ball, its minimal perturbation and
  how many boundaries the straight path crosses. **Attacks vs exact**: how far FGSM, PGD,
  DeepFool and the universal algorithms fall short of the exact values.
"""

MEASURES = {
    1: r"\mathrm{robust}(\varepsilon) = P_I[\rho(I) > \varepsilon]",
    2: r"\mathrm{pointwise}(\varepsilon) = P_I[\rho(I) \le \varepsilon]",
    3: r"\mathrm{universal}(\varepsilon) = \max_{\delta \in B_\varepsilon} "
       r"P_I[f(I+\delta) \neq f(I)]",
    4: r"\mathrm{random}(\varepsilon) = P_{I,\ \delta \sim U(S_\varepsilon)}[f(I+\delta) \neq f(I)]",
}


# ---------------------------------------------------------------------------------------
# The view's state and the URL.

@dataclasses.dataclass(frozen=True)
class ViewState:
    """Everything a link reproduces: the data set, the model, and the reading of it."""

    dataset: str = "pancakes"
    width: int = 64
    depth: int = 3
    activation: str = "relu"
    steps: int = 2000
    seed: int = 0
    norm: str = "2"
    eps: float = 0.15
    tau: float = 0.8
    overlays: tuple[str, ...] = ("arrows",)
    probe: tuple[float, float] | None = None

    def config(self) -> TrainConfig:
        """The model's training configuration (learning rate and batch of the presets)."""
        return TrainConfig(width=self.width, depth=self.depth, activation=self.activation,
                           steps=self.steps, seed=self.seed)


def _choice(options):
    def parse(v):
        if v not in options:
            raise ValueError(f"choose one of {', '.join(map(str, options))}")
        return v
    return parse


def _int_in(options):
    def parse(v):
        i = int(v)
        if i not in options:
            raise ValueError(f"choose one of {', '.join(map(str, options))}")
        return i
    return parse


def _seed(v):
    i = int(v)
    if not 0 <= i < 2 ** 31:
        raise ValueError("the seed must be a whole number from 0 to 2147483647")
    return i


def _eps(v):
    e = float(v)
    if not (np.isfinite(e) and 0 < e <= EPS_MAX):
        raise ValueError(f"eps must be in (0, {EPS_MAX}]")
    return round(e, 4)


def _tau(v):
    t = float(v)
    if not 0 < t <= 1:
        raise ValueError("tau must be in (0, 1]")
    return round(t, 4)


def _overlays(v):
    names = tuple(s for s in (p.strip() for p in v.split(",")) if s)
    bad = [s for s in names if s not in OVERLAYS]
    if bad:
        raise ValueError(f"unknown overlay {bad[0]!r}: choose from {', '.join(OVERLAYS)}")
    return tuple(s for s in OVERLAYS if s in names)


def _probe(v):
    parts = v.split(",")
    if len(parts) != 2:
        raise ValueError("a probe is two numbers x,y")
    p = tuple(round(float(a), 4) for a in parts)
    if not all(np.isfinite(c) and abs(c) <= 1.5 for c in p):
        raise ValueError("the probe must lie in [-1.5, 1.5]^2")
    return p


def _dataset(v):
    if v == UPLOAD:
        raise ValueError("an uploaded CSV cannot travel in a link: upload it again")
    return _choice(TASK_NAMES)(v)


_PARSERS = {
    "dataset": _dataset, "width": _int_in(WIDTHS), "depth": _int_in(DEPTHS),
    "activation": _choice(tuple(ACTIVATIONS)), "steps": _int_in(STEPS), "seed": _seed,
    "norm": parse_norm, "eps": _eps, "tau": _tau, "overlays": _overlays, "probe": _probe,
}


def state_from_query(params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
    """Reads a :class:`ViewState` from URL query parameters.

    Args:
      params: ``{name: value}`` strings (unknown names are ignored).

    Returns:
      ``(state, warnings)``: a bad value keeps its default and adds a one-line warning.
    """
    default, values, warnings = ViewState(), {}, []
    for name, parse in _PARSERS.items():
        if name not in params:
            continue
        raw = params[name]
        raw = raw[-1] if isinstance(raw, (list, tuple)) else raw
        try:
            values[name] = parse(str(raw).strip())
        except (ValueError, TypeError) as e:
            msg = str(e) if not str(e).startswith(("invalid literal", "could not convert")) \
                else "not a number"
            warnings.append(f"{name}={raw} ignored: {msg} (using {_show(getattr(default, name))})")
    return dataclasses.replace(default, **values), warnings


def _show(v):
    if v is None:
        return "none"
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def state_to_query(state: ViewState) -> dict[str, str]:
    """The query parameters of ``state`` (an uploaded CSV is left out: it cannot be linked)."""
    q = {f.name: _show(getattr(state, f.name)) for f in dataclasses.fields(state)}
    if state.dataset == UPLOAD:
        del q["dataset"]
    if state.probe is None:
        del q["probe"]
    return q


# ---------------------------------------------------------------------------------------
# The model and the sample of D.

def enable_compilation_cache() -> str:
    """Keeps JAX's compiled programs on disk next to the model cache, so a restarted app
    skips most compilation; returns the folder."""
    from categories.presets import cache_dir

    folder = os.path.join(os.path.dirname(cache_dir()), "jax-compilation")
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def model_path(task, config: TrainConfig) -> str:
    """Where :func:`categories.presets.load_or_train` keeps ``config`` trained on ``task``."""
    from categories.presets import cache_dir

    digest = hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    return os.path.join(cache_dir(), f"{task.name}-{digest.hexdigest()[:16]}.npz")


class Model(NamedTuple):
    """A trained plane model, fresh or reused (both have ``logits_fn`` and ``config``)."""

    logits_fn: jax.tree_util.Partial
    config: TrainConfig
    accuracy: float | None      # on a fresh sample of D; None when reused from the cache
    reused: bool


def load_or_train_with_progress(task, config: TrainConfig,
                                progress: Callable[[float, float], None] | None = None) -> Model:
    """Reuses the cached ``.npz`` of ``config`` on a named task, else trains and saves it.

    Data-defined (CSV) tasks are trained afresh and not saved, like
    :func:`categories.presets.load_or_train`.

    Args:
      task: a :class:`toymodels.Task`.
      config: the training configuration.
      progress: ``(fraction_done, loss)`` callback while training.

    Returns:
      A :class:`Model`.

    Raises:
      toymodels.TrainingDiverged, ValueError: from training.
    """
    from toymodels import train
    from toymodels.store import load_model, save_model

    path = None if task.points is not None else model_path(task, config)
    if path is not None and os.path.exists(path):
        try:
            loaded = load_model(path)
            return Model(loaded.logits_fn, loaded.config, None, True)
        except ValueError:
            pass  # stale or foreign: train again and overwrite
    t = train(task, config, progress=progress)
    if path is not None:
        save_model(path, t, task_name=task.name, num_classes=task.num_classes)
    return Model(t.logits_fn, t.config, t.accuracy, False)


def sample_of_d(task, seed: int, n: int = N_POINTS) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    """The sample of D the app measures, with the key left for attacks.

    The key split is :func:`categories.report.report_task`'s (``k_data, k_attack =
    split(key(seed))``), so a preset's app numbers are the CLI report's. Data-defined
    tasks use their points, subsampled without replacement to :data:`MAX_POINTS`.

    Returns:
      ``(x f32[n, 2], y i32[n], k_attack)``.
    """
    k_data, k_attack = jax.random.split(jax.random.key(seed))
    if task.points is not None:
        x, y = (np.asarray(a) for a in task.points)
        if len(x) > MAX_POINTS:
            idx = np.sort(np.asarray(jax.random.permutation(k_data, len(x))[:MAX_POINTS]))
            x, y = x[idx], y[idx]
    else:
        x, y = (np.asarray(a) for a in task.sample(k_data, n))
    return x.astype(np.float32), y.astype(np.int32), k_attack


# ---------------------------------------------------------------------------------------
# Fractions, the verdict ladder, and its changes along eps.

def scan(logits_fn, x, y, norm, path: str | None = None) -> Profile:
    """The profile of the four curves over ``(0, EPS_MAX]`` (one scan per model and norm).

    Args:
      path: an ``.npz`` file keeping the profile across restarts (see
        :func:`profile_path`); it is reused only if it was scanned from the same points
        by the same version of :mod:`categories.exact2d`, else rescanned and rewritten.
    """
    stamp = _scan_stamp(x, y, norm)
    if path is not None and os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["stamp"]) == stamp:
                    return Profile(**{f: jnp.asarray(z[f]) for f in Profile._fields})
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign: scan again
    prof = scan_profile(logits_fn, x, y, norm=norm, eps_max=EPS_MAX)
    if path is not None:
        _write_npz(path, stamp=np.array(stamp),
                   **{f: np.asarray(getattr(prof, f)) for f in Profile._fields})
    return prof


def profile_path(task, config: TrainConfig, norm) -> str | None:
    """Where the profile of ``config`` on a named task is kept (None for data-defined sets)."""
    if task.points is not None:
        return None
    return model_path(task, config)[:-4] + f"-profile-l{parse_norm(norm)}.npz"


def _scan_stamp(x, y, norm) -> str:
    import categories.exact2d as exact2d

    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(x, np.float32)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(y, np.int32)).tobytes())
    with open(exact2d.__file__, "rb") as f:
        h.update(f.read())
    h.update(f"{parse_norm(norm)}|{EPS_MAX}".encode())
    return h.hexdigest()


def _write_npz(path: str, **arrays) -> None:
    """Writes an ``.npz`` atomically (a temporary file, then ``os.replace``)."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Reading(NamedTuple):
    """The four fractions at one eps, as plain numbers and arrays."""

    eps: float
    fractions: dict        # {"robust", "pointwise", "universal", "random": float}
    universal_delta: np.ndarray   # f32[2]
    universal_fooled: np.ndarray  # bool[n]
    clean_accuracy: float


def read_at(logits_fn, x, profile: Profile, norm, eps: float) -> Reading:
    """:func:`categories.exact2d.exact_at` as numbers (``eps <= EPS_MAX``)."""
    fr: Fractions = exact_at(logits_fn, x, profile, norm=norm, eps=float(eps))
    values = {k: float(np.clip(float(getattr(fr, k)), 0.0, 1.0)) for k in KEYS}
    return Reading(float(eps), values, np.asarray(fr.universal_delta, np.float32),
                   np.asarray(fr.universal_fooled, bool), float(fr.clean_accuracy))


class Rung(NamedTuple):
    """One category of the verdict ladder."""

    category: int
    name: str          # e.g. "universal perturbations"
    fraction: str      # e.g. "universal"
    value: float
    holds: bool        # value >= tau


def ladder(fractions: Mapping[str, float], tau: float) -> tuple[list[Rung], int | str]:
    """The four rungs (category 1 to 4) and the verdict at ``tau``."""
    rungs = [Rung(c, NAMES[c], FRACTION_OF[c], float(fractions[FRACTION_OF[c]]),
                  float(fractions[FRACTION_OF[c]]) >= tau) for c in (1, 2, 3, 4)]
    return rungs, verdict(fractions, tau)


def curves_of(profile: Profile) -> dict[str, np.ndarray]:
    """The profile's four curves over ``profile.radii`` as numpy arrays."""
    return {k: np.clip(np.asarray(getattr(profile, k), np.float64), 0, 1) for k in KEYS}


def verdict_changes(radii, curves: Mapping[str, np.ndarray], tau: float) -> list[tuple]:
    """Where the verdict changes along eps.

    Args:
      radii: ``f[T]`` the eps grid; curves: the four fractions on it.

    Returns:
      ``[(eps, verdict_before, verdict_after), ...]`` at the grid's first eps of each new
      verdict.
    """
    out, prev = [], None
    for k, e in enumerate(np.asarray(radii)):
        v = verdict({name: float(c[k]) for name, c in curves.items()}, tau)
        if prev is not None and v != prev:
            out.append((float(e), prev, v))
        prev = v
    return out


# ---------------------------------------------------------------------------------------
# Attacks against the exact values.

ATTACK_FRACTION = {"fgsm": "pointwise", "pgd": "pointwise", "deepfool": "pointwise",
                   "universal (DeepFool)": "universal", "universal (SGD)": "universal",
                   "random": "random"}


def estimates_at(logits_fn, x, y, norm, eps: float, key) -> dict:
    """The attack estimates at eps (:func:`categories.estimate.estimate_fractions`).

    Returns:
      ``{"fractions": {robust..random}, "by_attack": {name: share},
      "universal_delta": f32[2]}`` as plain numbers.
    """
    from categories.estimate import estimate_fractions

    est = estimate_fractions(logits_fn, jnp.asarray(x), jnp.asarray(y), norm=norm,
                             eps=float(eps), key=key)
    return {"fractions": {k: float(getattr(est, k)) for k in KEYS},
            "by_attack": {k: float(v) for k, v in est.by_attack.items()},
            "universal_delta": np.asarray(est.universal_delta, np.float32)}


def attack_rows(by_attack: Mapping[str, float], exact: Mapping[str, float]) -> list[dict]:
    """One row per attack: the fraction it estimates, its value, the exact value, the gap.

    Every attack's flip is a witness, so ``found <= exact`` up to the exact values'
    resolution; ``short`` is how far the attack falls short.
    """
    rows = []
    for name, found in by_attack.items():
        frac = ATTACK_FRACTION.get(name, "pointwise")
        rows.append({"attack": name, "estimates": frac, "found": float(found),
                     "exact": float(exact[frac]), "short": float(exact[frac]) - float(found)})
    return rows


def estimate_curves(logits_fn, x, y, norm, eps_values, key) -> dict[str, np.ndarray]:
    """Attack estimates of the four fractions at each eps of ``eps_values`` (dashed curves)."""
    rows = [estimates_at(logits_fn, x, y, norm, e, key)["fractions"] for e in eps_values]
    return {k: np.array([r[k] for r in rows]) for k in KEYS}


# ---------------------------------------------------------------------------------------
# Downloads.

def perturbations_npz(*, x, y, pred, profile: Profile, reading: Reading, norm, random,
                      state: ViewState, task_name: str) -> bytes:
    """The perturbations of the view as ``.npz`` bytes (no pickle).

    Arrays: ``x``, ``y``, ``pred``, ``rho`` (inf beyond EPS_MAX), ``minimal`` (per-point
    minimal perturbation), ``universal_delta``, ``universal_fooled``, ``random_delta``
    (one delta on S_eps per point), ``radii`` and the four curves, and ``meta`` (JSON of
    the state, the task, the norm, eps and the four fractions).
    """
    meta = {"state": dataclasses.asdict(state), "task": task_name, "norm": parse_norm(norm),
            "eps": reading.eps, "fractions": reading.fractions,
            "clean_accuracy": reading.clean_accuracy}
    buf = io.BytesIO()
    curves = curves_of(profile)
    np.savez(buf, x=np.asarray(x), y=np.asarray(y), pred=np.asarray(pred),
             rho=np.asarray(profile.rho), minimal=np.asarray(profile.r),
             universal_delta=reading.universal_delta, universal_fooled=reading.universal_fooled,
             random_delta=np.asarray(random), radii=np.asarray(profile.radii),
             **{f"curve_{k}": v for k, v in curves.items()}, meta=np.array(json.dumps(meta)))
    return buf.getvalue()


__all__ = ["EPS_MAX", "EPS_STEP", "N_POINTS", "OVERLAYS", "EXPLANATIONS", "MEASURES",
           "HOW_TO_READ", "ViewState", "state_from_query", "state_to_query", "Model",
           "enable_compilation_cache", "load_or_train_with_progress", "model_path",
           "sample_of_d", "scan", "profile_path", "Reading", "read_at", "Rung", "ladder",
           "curves_of", "verdict_changes", "estimates_at", "attack_rows", "estimate_curves",
           "perturbations_npz"]
