"""Playing the quantifiers on the explore page: clicks on the plane and the delta pad.

- *for all I, exists delta*: a click anywhere on the plane probes that point (its ball,
  its minimal perturbation, rho, the boundaries its straight paths cross);
- *exists delta, for all I*: a click on the delta pad (B_eps drawn to scale) sets *your
  delta*; the plane shows every point of D moved by it, those it flips marked, and the
  score against the best delta; buttons nudge it by small steps or reveal the best;
- *for all delta*: deltas drawn at random on S_eps, one after another, each becoming your
  delta; the running share they flip converges to random(eps), and the points flipped by
  every delta drawn so far are counted.

Clicks arrive as pixels of the displayed image (``app_pages.pictures``' clickable image); each
picture's pixel -> point map (:func:`drawing.pixel_to_point` through the axes' box) is kept
in the session when the picture is drawn, and :func:`take_clicks` applies a new click at
the start of the next run, before the view is read, so the page answers in one run.

The pictures are PNG bytes drawn once per everything they are drawn from, the pad in two
layers (:mod:`app_pages.pictures`).
"""

from __future__ import annotations

import jax
import numpy as np
import streamlit as st

from drawing import (CANVAS_BOUNDS, FRACTION_COLORS, Layer, draw_delta_pad, pad_bounds, pixel_to_point,
                     project_to_ball)
from app_pages import cached
from app_pages.canvas import CANVAS_CLICK, apply_canvas_click
from app_pages.pictures import clickable, layered
from app_pages.session import request_eps, set_probe
from app_pages.sidebar import state_now
from app_pages.urlstate import EPS_MAX, EPS_STEP, PROBE_LIMIT

PLANE_CLICK, PAD_CLICK = "plane_click", "pad_click"
NUDGE_FRACTIONS = (20, 10, 5, 2)   # a nudge moves your delta by eps / this (chosen on the pad)
NUDGES = {"nudge_left": ("←", -1, 0), "nudge_up": ("↑", 0, 1), "nudge_down": ("↓", 0, -1),
          "nudge_right": ("→", 1, 0)}


def _new_click(key: str):
    """The component's click if it is one not applied yet, else None."""
    click = st.session_state.get(key)
    if not isinstance(click, dict) or not {"x", "y", "width", "height"} <= set(click):
        return None
    stamp = (click.get("unix_time"), click["x"], click["y"])
    if st.session_state.get(f"_{key}_seen") == stamp:
        return None
    st.session_state[f"_{key}_seen"] = stamp
    return click


def clicked_point(key: str) -> tuple[float, float] | None:
    """The point of a new click on the picture ``key`` (through the pixel -> point map
    its picture kept, :func:`drawing.pixel_to_point`), or None."""
    click, where = _new_click(key), st.session_state.get(f"_{key}_map")
    if click is None or where is None:
        return None
    return pixel_to_point(click["x"], click["y"], click["width"], click["height"], *where)


def _snapped(point) -> tuple[float, float]:
    """The click itself, or with *snap to D* on, the nearest point of D the clicked plane
    shows (kept in the session when the plane is drawn)."""
    x = st.session_state.get("_plane_points")
    if not st.session_state.get("snap_to_d") or x is None or not len(x):
        return point
    nearest = x[int(np.argmin(np.hypot(*(np.asarray(x) - point).T)))]
    return round(float(nearest[0]), 4), round(float(nearest[1]), 4)


def take_clicks() -> None:
    """Applies a new click on the plane (the probe) or on the pad (your delta), and brings
    your delta back into B_eps when eps or the norm shrank the ball."""
    session = st.session_state
    state = state_now()
    point = clicked_point(PLANE_CLICK)
    if point is not None and max(abs(point[0]), abs(point[1])) <= PROBE_LIMIT:
        set_probe(*_snapped(point))
    point = clicked_point(PAD_CLICK)
    if point is not None:
        session["delta"] = project_to_ball(point, state.norm, state.eps)
    point = clicked_point(CANVAS_CLICK)
    (x0, x1), (y0, y1) = CANVAS_BOUNDS
    if point is not None and x0 <= point[0] <= x1 and y0 <= point[1] <= y1:
        apply_canvas_click(*point)
    if session.get("delta") is not None:
        inside = project_to_ball(session["delta"], state.norm, state.eps)
        moved = float(np.max(np.abs(np.subtract(inside, session["delta"]))))
        if moved > 1e-3 * state.eps:      # not the 4-digit rounding of a delta on S_eps
            st.toast("Your delta was brought back into B_eps (eps or the norm changed).")
        session["delta"] = inside


def _nudge(dx: int, dy: int, norm: str, eps: float) -> None:
    now = st.session_state.get("delta") or (0.0, 0.0)
    step = eps / (st.session_state.get("nudge_fraction") or NUDGE_FRACTIONS[0])
    st.session_state["delta"] = project_to_ball((now[0] + dx * step, now[1] + dy * step),
                                                norm, eps)


def _reveal() -> None:
    st.session_state["_reveal_best"] = True


def _clear() -> None:
    st.session_state["delta"] = None


def score_line(yours: float | None, best: float) -> str:
    """The game's score: your delta's share of D against the best delta's."""
    if yours is None:
        return (f"Click the pad to choose *your delta*; the best delta flips **{best:.1%}** "
                "of D (exact).")
    line = (f"Your delta flips **{yours:.1%}** of D; the best delta flips **{best:.1%}** "
            "(exact).")
    if yours > best + 1e-9:
        line += (" You beat the exact search: its grid over B_eps missed your delta, so the "
                 "exact value is a lower bound.")
    return line


def yours_of(view):
    """``(delta, flipped bool[n], share)`` of your delta, or None when none is chosen."""
    delta = view.state.delta
    if delta is None:
        return None
    flipped, share = cached.flips(view.model_key, tuple(delta), view.model.logits_fn, view.x,
                                  view.pred, np.asarray(view.profile.correct))
    return np.asarray(delta, np.float32), flipped, share


def show_pad(view, yours) -> None:
    """The delta pad, the score, the nudges and the reveal button."""
    state, reading = view.state, view.reading
    best = reading.fractions["universal"]
    revealed = bool(st.session_state.get("_reveal_best"))
    st.markdown("**Play: exists delta, for all I.** Click the ball B_eps to choose one "
                "delta for every point of D.")
    delta = None if yours is None else tuple(float(v) for v in yours[0])
    shown = tuple(float(v) for v in reading.universal_delta) if revealed else None
    share = best if revealed else None
    base = ("pad", state.norm, state.eps, shown, share)
    picture = cached.picture(base + (delta,), lambda: layered(
        base, lambda: draw_delta_pad(state.norm, state.eps, best=shown, best_share=share,
                                     layer=Layer.BASE),
        None if delta is None else lambda: draw_delta_pad(state.norm, state.eps, delta=delta,
                                                          layer=Layer.MARKS), 110))
    clickable(picture, PAD_CLICK, pad_bounds(state.eps))
    st.markdown(score_line(None if yours is None else yours[2], best))
    fraction = st.session_state.get("nudge_fraction") or NUDGE_FRACTIONS[0]
    for column, (key, (label, dx, dy)) in zip(st.columns(4, gap="small"), NUDGES.items()):
        column.button(label, key=key, on_click=_nudge, args=(dx, dy, state.norm, state.eps),
                      help=f"move your delta by eps/{fraction}", width="stretch")
    st.segmented_control("a nudge moves by", NUDGE_FRACTIONS, key="nudge_fraction",
                         default=NUDGE_FRACTIONS[0], format_func=lambda k: f"eps/{k}",
                         help="the step of the arrows: eps/2 reaches the rim in two clicks")
    st.button("reveal the best delta", key="reveal", on_click=_reveal, width="stretch",
              disabled=revealed)
    st.button("clear your delta", key="clear_delta", on_click=_clear, width="stretch",
              disabled=yours is None)
    if yours is not None:
        st.caption(f"your delta = ({yours[0][0]:.4f}, {yours[0][1]:.4f})")
    if revealed:
        d = reading.universal_delta
        st.caption(f"best delta = ({d[0]:.4f}, {d[1]:.4f}), the exact universal delta at "
                   f"eps = {state.eps:g}")


RANDOM_POOL = 200      # the random deltas a session can draw at one (model, norm, eps)


def _draw(n: int, pool, norm: str, eps: float) -> None:
    drawn = min(st.session_state.get("_random_drawn", 0) + n, len(pool))
    st.session_state["_random_drawn"] = drawn
    st.session_state["delta"] = project_to_ball(pool[drawn - 1], norm, eps)


def _forget_draws() -> None:
    st.session_state["_random_drawn"] = 0


def show_random_game(view) -> None:
    """*For all delta*: draw deltas on S_eps one by one; the running share they flip
    against random(eps), and the points that every delta drawn so far flips."""
    state = view.state
    signature = (view.model_key, state.norm, state.eps)
    if st.session_state.get("_random_sig") != signature:     # another model or ball
        st.session_state["_random_sig"], st.session_state["_random_drawn"] = signature, 0
    pool = cached.random_deltas(view.model_key, state.norm, state.eps,
                                jax.random.fold_in(view.key, 11), RANDOM_POOL)
    drawn = int(st.session_state.get("_random_drawn", 0))
    st.markdown("**Play: for all delta.** Draw deltas at random on S_eps (the sphere of "
                "radius eps); each becomes your delta, moving all of D on the plane.")
    one, ten = st.columns(2, gap="small")
    forget = st
    one.button("draw 1", key="draw_one", on_click=_draw, args=(1, pool, state.norm, state.eps), width="stretch",
               disabled=drawn >= len(pool), help="draw one delta uniformly on S_eps")
    ten.button("draw 10", key="draw_ten", on_click=_draw, args=(10, pool, state.norm, state.eps), width="stretch",
               disabled=drawn >= len(pool))
    forget.button("start over", key="draw_reset", on_click=_forget_draws, width="stretch",
                  disabled=drawn == 0)
    exact = view.reading.fractions["random"]
    if drawn == 0:
        st.caption(f"random(eps) = {exact:.1%} (exact): the share of D a delta drawn on S_eps "
                   "flips, on average over the deltas.")
        return
    shares, every = cached.random_flips(view.model_key, state.norm, state.eps,
                                        view.model.logits_fn, view.x, view.pred,
                                        np.asarray(view.profile.correct), pool, drawn)
    running = np.cumsum(shares) / np.arange(1, drawn + 1)
    st.markdown(f"**{drawn}** deltas drawn: on average each flips **{running[-1]:.1%}** of D; "
                f"random(eps) = **{exact:.1%}** (exact, the average over all of S_eps). "
                f"Flipped by every delta drawn so far: **{every:.1%}** of D.")
    if drawn > 1:
        st.vega_lite_chart(_running_spec(running, exact), width="stretch")


def _running_spec(running, exact: float) -> dict:
    color = FRACTION_COLORS["random"]
    rows = [{"draws": i + 1, "share": round(float(v), 4)} for i, v in enumerate(running)]
    return {"height": 150, "layer": [
        {"data": {"values": rows},
         "mark": {"type": "line", "color": color, "point": {"color": color}},
         "encoding": {"x": {"field": "draws", "type": "quantitative", "title": "deltas drawn"},
                      "y": {"field": "share", "type": "quantitative", "title": "mean share",
                            "scale": {"domain": [0, 1]}, "axis": {"tickCount": 5}}}},
        {"data": {"values": [{"exact": float(exact)}]},
         "mark": {"type": "rule", "color": color, "strokeDash": [6, 3]},
         "encoding": {"y": {"field": "exact", "type": "quantitative"}}}]}


SWEEP_EVERY = 0.8      # seconds between frames of the eps sweep
SWEEP_FRAMES = 24      # frames from the smallest eps to EPS_MAX


def _toggle_sweep() -> None:
    session = st.session_state
    if session.get("_sweeping"):
        session["_sweeping"] = False
        return
    session["_sweeping"] = True
    session.pop("_sweep_rerun", None)
    if float(session.get("eps", 0.0)) >= EPS_MAX - 1e-9:    # from the start again
        request_eps(EPS_STEP)


def _sweep_tick() -> None:
    """One frame of the sweep: the next eps, applied by the next full run (the sidebar's
    slider takes it before it is drawn), until EPS_MAX."""
    session = st.session_state
    if not session.get("_sweeping"):
        return
    # a fragment also runs inside the full run its own tick caused: that run only shows
    # the frame; the next frame waits for the timer
    if session.pop("_sweep_rerun", False):
        return
    # a slow frame is still being drawn: a rerun now would cut it off after the sidebar's
    # slider took the new eps, leaving the page below at the old one
    if session.get("_sweep_shown") != session.get("eps"):
        return
    session["_sweep_rerun"] = True
    step = EPS_MAX / SWEEP_FRAMES
    now = float(session.get("eps", EPS_STEP))
    nxt = min(EPS_MAX, round(round((now + step) / EPS_STEP) * EPS_STEP, 4))
    if nxt >= EPS_MAX - 1e-9:
        session["_sweeping"] = False
    request_eps(nxt)
    st.rerun(scope="app")


def sweep_frame_shown(eps: float) -> None:
    """Marks the page drawn to its end at ``eps``: the sweep's next frame may come."""
    st.session_state["_sweep_shown"] = eps


def show_sweep() -> None:
    """*Animate eps*: a play button that sweeps eps up to its maximum; the plane, the
    ladder and the curves follow, frame by frame."""
    sweeping = bool(st.session_state.get("_sweeping"))
    st.button("⏸ stop the eps sweep" if sweeping else "▶ sweep eps", key="eps_sweep",
              on_click=_toggle_sweep, help=f"grow eps step by step up to {EPS_MAX} (the "
              "model is not retrained); press again to stop")
    if sweeping:
        st.fragment(_sweep_tick, run_every=SWEEP_EVERY)()
