"""Pictures one clicks on: where a pixel of a drawn figure lies in the plane, and the
delta pad (the ball B_eps, to scale, on which one chooses *your delta*).

A click on a picture arrives as a pixel ``(px, py)`` of the displayed image (from its
top left) with the image's displayed size; :func:`pixel_to_point` maps it through the
axes' box (:func:`axes_box`, in fractions of the figure) to the axes' data coordinates,
whatever the scale the browser displays the image at.

Example:
    >>> box, bounds = (0.0, 0.0, 1.0, 1.0), ((-1.0, 1.0), (-1.0, 1.0))
    >>> pixel_to_point(150, 150, 300, 300, box, bounds)
    (0.0, 0.0)
    >>> project_to_ball((0.3, 0.4), "2", 0.1)
    (0.06, 0.08)
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from attacks import parse_norm
from drawing.legend import YOURS
from drawing.plane_spec import Layer

PAD_MARGIN = 1.3       # the pad shows [-PAD_MARGIN * eps, PAD_MARGIN * eps]^2


def figure_rgb(fig: Figure, dpi: int = 90) -> np.ndarray:
    """The figure rendered as ``u8[h, w, 3]`` (what a clickable image component shows)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def figure_rgba(fig: Figure, dpi: int = 90) -> np.ndarray:
    """The figure rendered as ``u8[h, w, 4]`` (a transparent layer: :func:`over`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def over(base: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """``layer`` (``u8[h, w, 4]``, straight alpha) composited over ``base`` (``u8[h, w,
    3]``): what drawing the layer's artists on the base would give, to a level or so."""
    alpha = layer[..., 3:].astype(np.float32) / 255.0
    out = layer[..., :3] * alpha + base * (1.0 - alpha)
    return (out + 0.5).astype(np.uint8)


def axes_box(fig: Figure, index: int = 0) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of the figure's axes ``index`` in fractions of the
    figure (after the equal aspect has shrunk it), as the saved PNG shows it."""
    ax = fig.axes[index]
    ax.apply_aspect()
    (left, bottom), (right, top) = ax.get_position().get_points()
    return float(left), float(bottom), float(right), float(top)


def pixel_to_point(px: float, py: float, width: float, height: float, box, bounds,
                   ) -> tuple[float, float]:
    """The data coordinates of the point ``(px, py)`` of an image displayed ``width x height``
    pixels (offsets from its top left edge, as a browser's click reports them), for axes
    at ``box`` (:func:`axes_box`) showing ``bounds = ((x0, x1), (y0, y1))``."""
    left, bottom, right, top = box
    (x0, x1), (y0, y1) = bounds
    fx = float(px) / float(width)
    fy = 1.0 - float(py) / float(height)          # pixels count down, the plane up
    x = x0 + (fx - left) / (right - left) * (x1 - x0)
    y = y0 + (fy - bottom) / (top - bottom) * (y1 - y0)
    return round(x, 4), round(y, 4)


def project_to_ball(delta, norm, eps: float) -> tuple[float, float]:
    """The nearest point of ``B_eps`` to ``delta`` (scaled in l2, clipped in linf)."""
    d = np.asarray(delta, np.float64)
    if parse_norm(norm) == "inf":
        d = np.clip(d, -eps, eps)
    else:
        size = float(np.hypot(*d))
        if size > eps:
            d = d * (eps / size)
    return round(float(d[0]), 4), round(float(d[1]), 4)


def pad_bounds(eps: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The square of delta-space the pad shows."""
    r = PAD_MARGIN * float(eps)
    return (-r, r), (-r, r)


def draw_delta_pad(norm, eps: float, *, delta=None, best=None, size: float = 3.2,
                   best_share: float | None = None, layer: Layer = Layer.ALL) -> Figure:
    """The delta pad: ``B_eps`` (a disc in l2, a square in linf) to scale, with ticks in
    units of delta, *your delta* (an arrow from 0) and, once revealed, the best delta.

    Args:
      norm: 2 or inf; eps: the radius.
      delta: ``(dx, dy)`` your delta, or None.
      best: the best (universal) delta to reveal, or None.
      size: the figure's side in inches.
      best_share: the best delta's share of D, written beside it.
      layer: ``Layer.ALL``; ``Layer.BASE``: all but your delta; ``Layer.MARKS``: your
        delta alone, on a transparent figure with the axes at the same place (``MARKS``
        over ``BASE``, :func:`over`, is ``ALL``: your delta is drawn above the rest).

    Returns:
      The ``Figure`` (its axes' box: :func:`axes_box`).
    """
    Layer.checked(layer)
    fig = Figure(figsize=(size, size))
    ax = fig.add_axes((0.2, 0.14, 0.76, 0.76))
    (r0, r1), _ = pad_bounds(eps)
    if layer is Layer.MARKS:
        fig.patch.set_alpha(0.0)
        ax.set_axis_off()
        _your_delta(ax, delta)
        ax.set_xlim(r0, r1)
        ax.set_ylim(r0, r1)
        ax.set_aspect("equal")
        return fig
    if layer is Layer.BASE:
        delta = None
    ball = (Rectangle((-eps, -eps), 2 * eps, 2 * eps) if parse_norm(norm) == "inf"
            else Circle((0, 0), eps))
    ball.set(facecolor="#FFF7C2", edgecolor="k", linewidth=1.4, zorder=1)
    ax.add_patch(ball)
    ax.axhline(0, color="#999999", linewidth=0.6, zorder=0)
    ax.axvline(0, color="#999999", linewidth=0.6, zorder=0)
    ax.set_title(f"B_eps: eps = {eps:g} (l{'∞' if parse_norm(norm) == 'inf' else '2'})",
                 fontsize=10, pad=3)
    if best is not None:
        b = np.asarray(best, float)
        ax.annotate("", xy=b, xytext=(0, 0), zorder=3,
                    arrowprops=dict(arrowstyle="-|>", color="k", lw=2, shrinkA=0, shrinkB=0))
        label = "best" if best_share is None else f"best: {best_share:.0%}"
        # written from the tip towards the centre: at a corner of the l-inf square the
        # label written outwards left the figure
        ax.text(*b, f" {label} ", fontsize=8, fontweight="bold", zorder=3,
                ha="right" if b[0] > 0 else "left", va="top" if b[1] > 0 else "bottom")
    _your_delta(ax, delta)
    ax.set_xlim(r0, r1)
    ax.set_ylim(r0, r1)
    ax.set_aspect("equal")
    ticks = [-eps, 0.0, eps]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=9)
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks], fontsize=9)
    ax.set_xlabel("delta x", fontsize=9, labelpad=1)
    ax.set_ylabel("delta y", fontsize=9, labelpad=1)
    return fig


def _your_delta(ax, delta) -> None:
    if delta is not None:
        d = np.asarray(delta, float)
        ax.annotate("", xy=d, xytext=(0, 0), zorder=4,
                    arrowprops=dict(arrowstyle="-|>", color=YOURS, lw=2.4, shrinkA=0,
                                    shrinkB=0))
        ax.scatter([d[0]], [d[1]], s=50, color=YOURS, edgecolors="k", zorder=5)


CANVAS_BOUNDS = ((-1.0, 1.0), (-1.0, 1.0))   # where one draws D (a CSV's own scaling)


def draw_canvas(points, labels, *, num_classes: int = 3, size: float = 4.2,
                in_d=None) -> Figure:
    """An empty plane to draw D on: the points added so far in their class colours.

    Args:
      points: ``f[n, 2]`` in :data:`CANVAS_BOUNDS`; labels: ``i[n]`` their classes.
      in_d: ``bool[n]``, False for the points of a region drawn around D (trained on,
        not measured): drawn small and pale (None: all of D).
      num_classes: the classes one may draw (their colours).
      size: the figure's side in inches.

    Returns:
      The ``Figure`` (its axes' box: :func:`axes_box`).
    """
    from drawing.legend import class_rgb

    fig = Figure(figsize=(size, size))
    ax = fig.add_axes((0.1, 0.07, 0.86, 0.83))
    rgb = class_rgb(num_classes)
    points, labels = np.asarray(points, float).reshape(-1, 2), np.asarray(labels, int)
    # a few drawn points large, a data set's hundreds smaller (the same ink in all)
    area = 36.0 * min(1.0, np.sqrt(120 / max(len(points), 1)))
    in_d = np.ones(len(points), bool) if in_d is None else np.asarray(in_d, bool)
    for k in range(num_classes):
        mine = points[(labels == k) & in_d]
        ax.scatter(mine[:, 0], mine[:, 1], s=max(area, 5.0), color=rgb[k], edgecolors="k",
                   linewidths=0.6 if area >= 12 else 0.3, label=f"class {k}", zorder=3)
        region = points[(labels == k) & ~in_d]
        if len(region):
            ax.scatter(region[:, 0], region[:, 1], s=6.0, color=rgb[k], alpha=0.45,
                       linewidths=0, label=f"class {k} region (not D)", zorder=2)
    (x0, x1), (y0, y1) = CANVAS_BOUNDS
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.grid(color="#DDDDDD", linewidth=0.6, zorder=0)
    ax.tick_params(labelsize=8)
    if len(points):            # above the canvas: inside, it would hide points
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=num_classes, fontsize=8,
                  frameon=False, handletextpad=0.2, columnspacing=1.2, borderaxespad=0.2)
    return fig


__all__ = ["CANVAS_BOUNDS", "PAD_MARGIN", "axes_box", "draw_canvas", "draw_delta_pad", "figure_rgb",
           "figure_rgba", "over", "pad_bounds", "pixel_to_point",
           "project_to_ball"]
