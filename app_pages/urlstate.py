"""The view's state as it travels in the URL: :class:`ViewState`, read from query
parameters value by value (a bad value keeps its default and says why) and written back.

Example:
    >>> state, warnings = state_from_query({"dataset": "bubbles", "eps": "9"})
    >>> state.dataset, state.eps, warnings
    ('bubbles', 0.15, ['eps=9 ignored: eps must be in (0, 0.4] (using 0.15)'])
    >>> state_to_query(state)["dataset"]
    'bubbles'
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from attacks import parse_norm
from categories import check_eps, check_seed
from toymodels import ACTIVATIONS, DEFAULT_POINTS, TASK_NAMES, TrainConfig

EPS_MAX = 0.4          # the eps slider's maximum: the profile is scanned once up to it
EPS_STEP = 0.005
POINTS = (50, 100, 200, 300, 500, 1000, 2000)   # the sample of D (training draws twice as many)
NOISES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)   # std of D's jitter, plane units
WIDTHS = (4, 8, 16, 32, 64, 128, 256)
DEPTHS = (1, 2, 3, 4, 5, 6)
STEPS = (50, 100, 200, 500, 1000, 1500, 2000, 3000, 5000)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
WEIGHT_DECAYS = (0.0, 0.0001, 0.001, 0.01, 0.1)
OVERLAYS = {
    "arrows": "minimal perturbations",
    "balls": "eps-balls",
    "universal": "universal delta (before / after)",
    "random": "random deltas",
}
HIDEABLE = {           # what a link may hide, for a lecture or an embedded view (?hide=...)
    "sidebar": "the sidebar (data set, model, eps, tau)",
    "nav": "the list of pages",
}
SECTIONS = ("How to read this page", "Probe a point", "Attacks vs exact", "Downloads")
UPLOAD = "csv"         # the dataset name of an uploaded CSV (not reproducible from a link)
DRAWN = "draw"         # the dataset name of points drawn by hand on the explore page
PROBE_LIMIT = 1.5      # a probed point lies in [-PROBE_LIMIT, PROBE_LIMIT]^2
MAX_DRAWN = 2000       # points a drawing holds (the most the sidebar's D has): a link carries them
_MODEL = TrainConfig()  # the one default model, which the presets train too


@dataclasses.dataclass(frozen=True)
class ViewState:
    """Everything a link reproduces: the data set, the model, and the reading of it."""

    dataset: str = "pancakes"
    points: int = DEFAULT_POINTS               # the sample of D (a preset's own: 1000)
    noise: float = 0.0                         # Gaussian jitter of D's points (a preset's own: 0)
    # the model: the one default of toymodels.TrainConfig
    width: int = _MODEL.width
    depth: int = _MODEL.depth
    activation: str = _MODEL.activation
    steps: int = _MODEL.steps
    seed: int = _MODEL.seed
    learning_rate: float = _MODEL.learning_rate
    batch_size: int = _MODEL.batch_size
    weight_decay: float = _MODEL.weight_decay
    norm: str = "2"
    eps: float = 0.15
    tau: float = 0.8
    overlays: tuple[str, ...] = ("arrows",)
    probe: tuple[float, float] | None = None
    delta: tuple[float, float] | None = None   # *your delta* on the delta pad
    hide: tuple[str, ...] = ()                 # parts of the page a link hides (HIDEABLE)
    section: str = SECTIONS[0]                 # the explore page's open tab
    dashed: bool = False                       # attack estimates over eps shown
    bands: bool = False                        # certified brackets over eps shown
    drawn: tuple = ()                          # points drawn by hand: (x, y, class, in_d)

    def config(self) -> TrainConfig:
        """The model's training configuration (by default the one default, TrainConfig())."""
        return TrainConfig(width=self.width, depth=self.depth, activation=self.activation,
                           steps=self.steps, seed=self.seed, learning_rate=self.learning_rate,
                           batch_size=self.batch_size, weight_decay=self.weight_decay)


FIELDS = tuple(f.name for f in dataclasses.fields(ViewState))  # the URL's parameter names


# One parser per field: a string from the URL in, the field's value out, ValueError
# (with a sentence for the warning) when the string is not a valid value.

def _choice(options):
    def parse(text):
        if text not in options:
            raise ValueError(f"choose one of {', '.join(map(str, options))}")
        return text
    return parse


def _int_in(options):
    def parse(text):
        number = int(text)
        if number not in options:
            raise ValueError(f"choose one of {', '.join(map(str, options))}")
        return number
    return parse


def _float_in(options):
    def parse(text):
        number = float(text)
        match = [o for o in options if abs(o - number) <= 1e-12 + 1e-9 * abs(o)]
        if not match:
            raise ValueError(f"choose one of {', '.join(f'{o:g}' for o in options)}")
        return match[0]
    return parse


def _seed(text):
    return check_seed(text)   # the command lines' rule


def _eps(text):
    # the command lines' rule, capped at the slider's maximum (the profile's reach)
    try:
        eps = check_eps(text, maximum=EPS_MAX)
    except ValueError:
        raise ValueError(f"eps must be in (0, {EPS_MAX}]") from None
    return round(eps, 4)


def _tau(text):
    tau = float(text)
    if not 0 < tau <= 1:
        raise ValueError("tau must be in (0, 1]")
    return round(tau, 4)


def _names_in(options, refusal: str):
    """A parser of comma-separated names out of ``options``, returned in their order;
    ``refusal`` words the first unknown name (``{!r}``-formatted into it)."""
    def parse(text):
        names = tuple(s for s in (part.strip() for part in text.split(",")) if s)
        unknown = [s for s in names if s not in options]
        if unknown:
            raise ValueError(f"{refusal.format(unknown[0])}: choose from {', '.join(options)}")
        return tuple(s for s in options if s in names)
    return parse


_overlays = _names_in(OVERLAYS, "unknown overlay {!r}")
_hide = _names_in(HIDEABLE, "cannot hide {!r}")


def _flag(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("write 1 or 0")


def _pair(text, *, what: str, axes: str, bounded: str, limit: float) -> tuple[float, float]:
    """Two comma-separated numbers, rounded to 4 places, inside ``[-limit, limit]^2``."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{what} is two numbers {axes}")
    pair = tuple(round(float(part), 4) for part in parts)
    if not all(np.isfinite(c) and abs(c) <= limit for c in pair):
        raise ValueError(f"{bounded} must lie in [-{limit}, {limit}]^2")
    return pair


def _probe(text):
    return _pair(text, what="a probe", axes="x,y", bounded="the probe", limit=PROBE_LIMIT)


def _delta(text):
    return _pair(text, what="a delta", axes="dx,dy", bounded="a delta", limit=EPS_MAX)


def _dataset(text):
    if text == UPLOAD:
        raise ValueError("an uploaded CSV cannot travel in a link: upload it again")
    return _choice((*TASK_NAMES, DRAWN))(text)


def _drawn(text):
    """``x,y,class[,in_d];...``: points drawn by hand (in_d 0: a region around D)."""
    points = []
    for item in filter(None, text.split(";")):
        parts = item.split(",")
        if len(parts) not in (3, 4):
            raise ValueError("each drawn point is x,y,class or x,y,class,in_d")
        x, y = round(float(parts[0]), 3), round(float(parts[1]), 3)
        cls, in_d = int(parts[2]), int(parts[3]) if len(parts) == 4 else 1
        if not (abs(x) <= 1 and abs(y) <= 1 and 0 <= cls < 10 and in_d in (0, 1)):
            raise ValueError("a drawn point lies in [-1, 1]^2, of class 0-9, in_d 0 or 1")
        points.append((x, y, cls, in_d))
    if len(points) > MAX_DRAWN:
        raise ValueError(f"at most {MAX_DRAWN} drawn points")
    return tuple(points)


def drawn_text(points) -> str:
    """The link's words for drawn points (:func:`_drawn` reads them back)."""
    return ";".join(f"{p[0]:.3f},{p[1]:.3f},{p[2]}" + ("" if len(p) < 4 or p[3] else ",0")
                    for p in points)


_PARSERS = {
    "dataset": _dataset, "points": _int_in(POINTS), "noise": _float_in(NOISES), "width": _int_in(WIDTHS), "depth": _int_in(DEPTHS),
    "activation": _choice(tuple(ACTIVATIONS)), "steps": _int_in(STEPS), "seed": _seed,
    "learning_rate": _float_in(LEARNING_RATES), "batch_size": _int_in(BATCH_SIZES),
    "weight_decay": _float_in(WEIGHT_DECAYS),
    "norm": parse_norm, "eps": _eps, "tau": _tau, "overlays": _overlays, "probe": _probe,
    "delta": _delta, "hide": _hide, "section": _choice(SECTIONS), "dashed": _flag,
    "bands": _flag, "drawn": _drawn,
}


def state_from_query(params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
    """Reads a :class:`ViewState` from URL query parameters.

    Args:
      params: ``{name: value}`` strings (unknown names are ignored; a list of values
        counts by its last).

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
            why = str(e) if not str(e).startswith(("invalid literal", "could not convert")) \
                else "not a number"
            warnings.append(f"{name}={raw} ignored: {why} "
                            f"(using {_as_text(getattr(default, name))})")
    return dataclasses.replace(default, **values), warnings


def _as_text(value) -> str:
    if value is None:
        return "none"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def state_to_query(state: ViewState) -> dict[str, str]:
    """The query parameters of ``state`` (an uploaded CSV as ``dataset=csv``: its rows
    cannot travel in a link, and the link says so when opened)."""
    # an uploaded CSV stays named (dataset=csv), so the link reopens with a warning that
    # says to upload it again instead of silently showing another data set
    query = {name: _as_text(getattr(state, name)) for name in FIELDS}
    for name in ("probe", "delta"):
        if getattr(state, name) is None:
            del query[name]
    # the drawing travels while it is the data set shown (a long link otherwise for nothing)
    query["drawn"] = drawn_text(state.drawn) if state.dataset == DRAWN else ""
    for name in ("hide", "section", "dashed", "bands", "drawn"):   # left out at their defaults
        if getattr(state, name) == getattr(ViewState, name):
            del query[name]
    for name in ("dashed", "bands"):
        if name in query:
            query[name] = "1"
    return query
