"""*Draw your own D* on the explore page: a canvas where a click adds one point, sprays a
disc of points (the brush), stamps a bubble of one class inside a region of another, or
erases; undo, clear, and a start from any data set's points.

The drawing is ``st.session_state["drawn_points"]``, a list of ``(x, y, class, in_d)``:
``in_d`` 1 for a point of D (measured), 0 for a point of a region drawn around D (the
stamp's surrounding region: the model trains on it, the fractions do not count it, as a
preset's intended regions). It travels in the link (``drawn=``, :mod:`app_pages.urlstate`).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from drawing import CANVAS_BOUNDS, draw_canvas
from toymodels import TASK_NAMES
from app_pages import cached
from app_pages.pictures import clickable
from app_pages.session import drawn_points as drawing_now, last_good
from app_pages.sidebar import state_now
from app_pages.urlstate import DRAWN, MAX_DRAWN
from app_pages.view import MIN_DRAWN, named_task

CANVAS_CLICK = "canvas_click"
DRAW_CLASSES = 3       # the classes one may draw (more when a data set's points have more)
ERASE = -1             # the "class" of a click that erases the nearest point
ERASE_REACH = 0.08     # ... within this distance (plane units)
UNDO_DEPTH = 50        # changes of the drawing that undo can take back
TOOLS = {"point": "one point", "brush": "brush (a disc of points)",
         "stamp": "bubble stamp (D inside another class)"}
BUBBLE_CORE = 0.03     # the stamp: D within this radius of the click ...
BUBBLE_GAP = (0.1, 0.3)  # ... and the other class's region in this ring around it
STAMP_REGION = 80      # points of the region around a stamped bubble


def brush_points(x: float, y: float, cls: int, *, radius: float, count: int,
                 seed: int) -> list[tuple]:
    """``count`` points of D of class ``cls`` spread uniformly over the disc of
    ``radius`` around ``(x, y)``, inside the canvas; ``seed`` fixes them."""
    rng = np.random.default_rng(seed)
    return _disc(rng, (x, y), 0.0, radius, count, cls, 1)


def stamp_points(x: float, y: float, cls: int, *, count: int, seed: int) -> list[tuple]:
    """A bubble: ``count`` points of D of class ``cls`` within :data:`BUBBLE_CORE` of
    ``(x, y)``, and :data:`STAMP_REGION` points of another class (class 0, or class 1
    around a bubble of class 0) in the ring :data:`BUBBLE_GAP` around it, as a region
    (trained on, not part of D). Every delta longer than the bubble's reach then leaves
    it: the build of category 4."""
    rng = np.random.default_rng(seed)
    other = 1 if cls == 0 else 0
    return (_disc(rng, (x, y), 0.0, BUBBLE_CORE, count, cls, 1)
            + _disc(rng, (x, y), *BUBBLE_GAP, STAMP_REGION, other, 0))


def _disc(rng, centre, inner: float, outer: float, count: int, cls: int, in_d: int) -> list:
    """Points uniform over the ring ``inner <= r <= outer`` (a disc when inner is 0),
    rounded as the link writes them and kept inside the canvas."""
    r = np.sqrt(rng.uniform(inner ** 2, outer ** 2, count))
    a = rng.uniform(0.0, 2 * np.pi, count)
    (x0, x1), (y0, y1) = CANVAS_BOUNDS
    xs = np.clip(centre[0] + r * np.cos(a), x0, x1)
    ys = np.clip(centre[1] + r * np.sin(a), y0, y1)
    return [(round(float(u), 3), round(float(v), 3), int(cls), in_d) for u, v in zip(xs, ys)]


def apply_canvas_click(x: float, y: float) -> None:
    """What a click at ``(x, y)`` on the canvas does with the chosen tool and class."""
    session = st.session_state
    points = drawing_now()
    chosen = int(session.get("draw_class", 0))
    if chosen == ERASE:
        if points:
            gaps = np.hypot(*(np.array([p[:2] for p in points]) - (x, y)).T)
            if gaps.min() <= ERASE_REACH:
                at = int(gaps.argmin())
                _set_drawing(points[:at] + points[at + 1:])
        return
    tool, seed = session.get("draw_tool", "point"), state_now().seed * 100_003 + len(points)
    count = int(session.get("brush_count", 20))
    if tool == "brush":
        new = brush_points(x, y, chosen, radius=float(session.get("brush_radius", 0.1)),
                           count=count, seed=seed)
    elif tool == "stamp":
        new = stamp_points(x, y, chosen, count=count, seed=seed)
    else:
        new = [(round(x, 3), round(y, 3), chosen, 1)]
    if len(points) + len(new) > MAX_DRAWN:
        st.toast(f"A drawing holds at most {MAX_DRAWN} points: clear or erase some first.")
        return
    _set_drawing(points + new)


def _classes(points) -> int:
    return max([DRAW_CLASSES] + [p[2] + 1 for p in points])


def _set_drawing(points) -> None:
    """Replaces the drawn points, keeping the drawing before for undo."""
    session = st.session_state
    history = list(session.get("_drawn_history") or [])
    session["_drawn_history"] = [*history, list(session.get("drawn_points") or [])][-UNDO_DEPTH:]
    session["drawn_points"] = list(points)


def _undo() -> None:
    """Takes back the last change (a click of any tool, an erase, a clear, a start from a
    data set's points)."""
    session = st.session_state
    history = list(session.get("_drawn_history") or [])
    if history:
        session["drawn_points"], session["_drawn_history"] = history[-1], history[:-1]
    else:
        session["drawn_points"] = (session.get("drawn_points") or [])[:-1]


def _clear_points() -> None:
    _set_drawing([])


def _start_from(name_key: str | None = None) -> None:
    """Puts the points of a data set's sample of D on the canvas (the sidebar's number of
    points, noise and seed), for the drawing mode; ``name_key``: the session key of the
    data set's name (None: the sidebar's data set)."""
    session, state = st.session_state, state_now()
    name = session.get(name_key) if name_key else state.dataset
    task_key, task = named_task(name, state)
    x, y, _ = cached.sample(task_key, state.seed, task, state.points)
    _set_drawing([(round(float(a), 3), round(float(b), 3), int(c), 1)
                  for (a, b), c in zip(x, y)])
    session["draw_class"] = 0
    session["dataset"] = DRAWN             # the sidebar's data set: the drawing


def start_button(name: str) -> None:
    """*Draw on these points*: a button under a data set's plane that opens the drawing
    with its points."""
    st.button("draw on these points", key="draw_on_preset", on_click=_start_from,
              icon=":material/edit:",
              help=f"Open \"draw your own\" with these {name} points on the canvas (the "
                   "sidebar's number of points, noise and seed): add or erase points, and the "
                   "model retrains on the points alone (not on the preset's intended regions).")


def counts_line(points) -> str:
    """How many points of each class, D and region apart, and what training still needs."""
    classes = _classes(points)
    d = [sum(1 for p in points if p[2] == c and p[3]) for c in range(classes)]
    region = [sum(1 for p in points if p[2] == c and not p[3]) for c in range(classes)]
    words = ", ".join(f"class {c}: {n}" + (f" (+{r} region)" if r else "")
                      for c, (n, r) in enumerate(zip(d, region)) if n or r or c < 2)
    return f"{sum(d)} points of D: {words}."


def show_canvas() -> None:
    """*Draw your own D*: the canvas and its tools; the model trains on the drawing as
    soon as two classes have :data:`app_pages.view.MIN_DRAWN` points each."""
    points = drawing_now()
    classes = _classes(points)
    st.markdown("**Draw your own D.** Choose a class and a tool, then click the canvas: "
                "*one point* adds a point, the *brush* sprays a disc of points, the *bubble "
                "stamp* puts a small bubble of D inside a region of another class (class 0, "
                "or class 1 around class 0): the region shapes the model but is not part of "
                "D, so a few stamps build category 4. The model trains as soon as two "
                f"classes have {MIN_DRAWN} points each, and again at every change.")
    left, right = st.columns([3, 2], gap="medium")
    with left:
        fig = draw_canvas([p[:2] for p in points], [p[2] for p in points],
                          num_classes=classes, in_d=[p[3] for p in points])
        clickable(fig, CANVAS_CLICK, CANVAS_BOUNDS, dpi=90)
    with right:
        _tools(classes)
        st.caption(counts_line(points))
        undo, clear = st.columns(2, gap="small")
        undo.button("undo", key="draw_undo", on_click=_undo, icon=":material/undo:",
                    disabled=not points and not st.session_state.get("_drawn_history"),
                    width="stretch", help="take back the last change: a click of any tool, "
                                          "an erase, a clear, a start from a data set")
        clear.button("clear", key="draw_clear", on_click=_clear_points, width="stretch",
                     icon=":material/delete:", disabled=not points,
                     help="remove every point (undo brings them back)")
        _start_controls()


def _tools(classes: int) -> None:
    """The class (or erase), the tool, and the brush's size and count."""
    st.radio("class", [*range(classes), ERASE], key="draw_class", horizontal=True,
             format_func=lambda c: "erase" if c == ERASE else f"class {c}",
             help="a class: what the tool adds; erase: a click removes the nearest point "
                  f"(within {ERASE_REACH} of the click)")
    st.radio("tool", list(TOOLS), key="draw_tool", format_func=TOOLS.get,
             disabled=st.session_state.get("draw_class") == ERASE)
    tool = st.session_state.get("draw_tool", "point")
    if tool == "brush":
        st.select_slider("brush radius", (0.02, 0.05, 0.1, 0.15, 0.2, 0.3), value=0.1,
                         key="brush_radius", help="the disc the brush sprays, in plane units "
                                                  "(eps is 0.15 by default)")
    if tool in ("brush", "stamp"):
        st.select_slider("points a click", (5, 10, 20, 40, 80), value=20, key="brush_count",
                         help="points of D a click adds (the stamp's region around the bubble "
                              f"adds {STAMP_REGION} more, not part of D)")


def _start_controls() -> None:
    last = last_good("")[0]
    st.selectbox("start from the points of", TASK_NAMES, key="draw_from",
                 index=TASK_NAMES.index(last) if last in TASK_NAMES else 0,
                 help="a preset or classic set whose sample of D the button below puts "
                      "on the canvas")
    st.button("start from these points", key="draw_from_preset", on_click=_start_from,
              args=("draw_from",), width="stretch", icon=":material/scatter_plot:",
              help="Replace the canvas with this data set's sample of D (the sidebar's "
                   "number of points, noise and seed; undo brings your drawing back). The "
                   "model then trains on these points alone, as on a CSV, not on the "
                   "preset's intended regions.")
