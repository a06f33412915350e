"""Drawing the plane and the four fractions: arrays in, matplotlib ``Figure`` out.

Never imports Streamlit or pyplot: every function builds a
:class:`matplotlib.figure.Figure` (or draws into a given ``Axes``), so the app, the CLI
and the tests draw the same pictures, and no global figure state leaks between reruns.

The plane follows the essay's pictures: each classification region is tinted in its
class colour with the decision boundaries drawn in black; D is shaded in its *true*
class colour, ``H`` (D's eps-neighbourhood) in a lighter shade of it, so a region of
another colour reaching into H shows where the model fails near D.

Example:
    >>> import numpy as np
    >>> labels = np.zeros((50, 50), np.int32); labels[:, 25:] = 1
    >>> fig = draw_plane(PlaneSpec(Regions(labels, ((-1, 1), (-1, 1)), num_classes=2)))
    >>> len(figure_png(fig)) > 1000
    True
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib
from matplotlib import patheffects
import numpy as np
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from drawing.legend import (CLASS_COLORS, D_TINT, FOOLED, H_TINT, KEPT, RANDOM_FLIPS,
                            RANDOM_KEEPS, REGION_TINT, YOURS, class_rgb, legend_entries,
                            legend_handles, tint as _tint)
from drawing.plane_spec import Layer, PlaneSpec, Regions, Style

# one colour per fraction, on every page and in every download
FRACTION_COLORS = {"robust": "#2E7D32", "pointwise": "#EF6C00", "universal": "#C62828",
                   "random": "#6A1B9A"}
LEGEND_FONT = 10       # points, in the downloaded plane (the app's legend is HTML)
LEGEND_COLUMNS = 2
LEGEND_ROW = 0.24       # inches per legend row


def plane_rgb(regions, num_classes: int, *, support=None, h=None, near=None) -> np.ndarray:
    """The plane's colours: regions tinted, H lighter and D darker in D's true colours.

    Args:
      regions: ``i32[res, res]`` the classifier's label per cell (row = y, upwards).
      num_classes: number of classes.
      support: ``i32[res, res]`` D's true class per cell, -1 outside D.
      h: ``bool[res, res]`` H, the eps-neighbourhood of D; near: ``i32[res, res]`` the
        true class of the nearest cell of D (H's colour).

    Returns:
      ``f[res, res, 3]`` RGB in [0, 1].
    """
    rgb = class_rgb(num_classes)
    img = _tint(rgb[np.clip(regions, 0, num_classes - 1)], REGION_TINT)
    if h is not None and near is not None:
        hh = h & (near >= 0)
        img[hh] = _tint(rgb[near[hh]], H_TINT)
    if support is not None:
        d = support >= 0
        img[d] = _tint(rgb[support[d]], D_TINT)
    return img


def _ball(center, eps, norm):
    if norm == "inf":
        return Rectangle((center[0] - eps, center[1] - eps), 2 * eps, 2 * eps)
    return Circle(center, eps)


def _arrows(ax, start, delta, color, width=0.004, zorder=5, **kw):
    start, delta = np.asarray(start).reshape(-1, 2), np.asarray(delta).reshape(-1, 2)
    if len(start):
        ax.quiver(start[:, 0], start[:, 1], delta[:, 0], delta[:, 1], angles="xy",
                  scale_units="xy", scale=1, width=width, color=color, zorder=zorder, **kw)


def draw_plane(spec: PlaneSpec, *, layer: Layer = Layer.ALL, ax=None) -> Figure:
    """Draws the plane: regions, boundaries, D, H, the points and the chosen overlays.

    Args:
      spec: what the plane shows and how (:class:`drawing.PlaneSpec`).
      layer: which part to draw (:class:`drawing.Layer`): ``ALL``, the ``BASE`` under
        the marks (your delta's arrow, the probe) or the ``MARKS`` alone, transparent,
        the axes at the same place.
      ax: draw into this Axes (else a new Figure, sized by ``spec.style``).

    Returns:
      The ``Figure``.

    Example:
      >>> import numpy as np
      >>> labels = np.zeros((50, 50), np.int32); labels[:, 25:] = 1
      >>> spec = PlaneSpec(Regions(labels, ((-1, 1), (-1, 1)), num_classes=2),
      ...                  style=Style(title="two halves", legend=False))
      >>> draw_plane(spec).axes[0].get_title()
      'two halves'
    """
    Layer.checked(layer)
    style, entries = spec.style, _entries(spec)
    bottom = 0.2 + -(-len(entries) // LEGEND_COLUMNS) * LEGEND_ROW if style.legend else 0.0
    fig, ax = _canvas(style, bottom) if ax is None else (ax.figure, ax)
    if layer is Layer.MARKS:
        fig.patch.set_alpha(0.0)
        ax.set_axis_off()
        _top_marks(ax, spec)
        _limits(ax, spec.regions.bounds)
        return fig
    _ground(ax, spec.regions)
    _points(ax, spec)
    _overlays(ax, spec)
    if spec.overlays.universal is not None and spec.points is not None:
        _delta_arrow(ax, np.asarray(spec.points.x).mean(0),
                     np.asarray(spec.overlays.universal[0]), "k", "delta")
    if layer is Layer.ALL:
        _top_marks(ax, spec)
    _limits(ax, spec.regions.bounds)
    _frame(fig, ax, style, entries, bottom)
    return fig


def _limits(ax, bounds) -> None:
    (x0, x1), (y0, y1) = bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")


def _frame(fig, ax, style: Style, entries, bottom: float) -> None:
    """No ticks; the title over the plane, the subtitle under it, the legend in the
    figure's band of ``bottom`` inches under the plane."""
    ax.set_xticks([])
    ax.set_yticks([])
    if style.title:
        ax.set_title(style.title, fontsize=11)
    if style.subtitle:
        ax.set_xlabel(style.subtitle, fontsize=9)
    if style.legend:
        # the band under the plane is sized to the legend's rows, anchored at its top
        fig.legend(handles=legend_handles(entries), loc="upper center",
                   bbox_to_anchor=(0.5, (bottom - 0.08) / fig.get_figheight()),
                   ncol=LEGEND_COLUMNS, fontsize=LEGEND_FONT, frameon=False,
                   handlelength=1.6, columnspacing=1.2, borderaxespad=0)


def _canvas(style: Style, bottom: float):
    """A new figure and its axes. Fixed margins (no layout engine): the plane fills the
    figure, the title and the legend (``bottom`` inches) get fixed bands; this keeps a
    redraw cheap."""
    top = 0.4 if style.title else 0.0
    height = style.size + top + bottom
    fig = Figure(figsize=(style.size, height))
    ax = fig.add_axes((0.004, bottom / height, 0.992, style.size / height * 0.996))
    return fig, ax


def _ground(ax, regions: Regions) -> None:
    """The regions tinted, D and H shaded, and the decision boundaries in black."""
    labels = np.asarray(regions.labels)
    (x0, x1), (y0, y1) = regions.bounds
    img = plane_rgb(labels, regions.num_classes, support=regions.support, h=regions.h,
                    near=regions.near)
    ax.imshow(img, origin="lower", extent=(x0, x1, y0, y1), interpolation="nearest",
              zorder=0)
    if regions.boundaries is not None:
        ax.add_collection(LineCollection(regions.boundaries, colors="k", linewidths=1.1,
                                         zorder=2))
        return
    res = labels.shape[0]
    gx = x0 + (np.arange(res) + 0.5) * (x1 - x0) / res
    gy = y0 + (np.arange(res) + 0.5) * (y1 - y0) / res
    present = np.unique(labels)
    for c in present[:-1] if len(present) == 2 else present if len(present) > 2 else ():
        ax.contour(gx, gy, (labels == c).astype(np.float32), levels=[0.5], colors="k",
                   linewidths=1.1, zorder=2)


def _points(ax, spec: PlaneSpec) -> None:
    """D's points in their true colours, crossed where misclassified, under them the
    points moved by the universal delta and by yours."""
    if spec.points is None:
        return
    x, y, pred = np.asarray(spec.points.x), spec.points.y, spec.points.pred
    for moved_by, color in ((spec.overlays.universal, FOOLED), (spec.yours, YOURS)):
        if moved_by is not None:
            _moved(ax, x, moved_by, color)
    ps = spec.style.point_size
    ps = ps if ps is not None else max(2.0, min(10.0, 6000 / max(len(x), 1)))
    colors = class_rgb(spec.regions.num_classes)[np.asarray(y)] if y is not None else "k"
    ax.scatter(x[:, 0], x[:, 1], s=ps, c=colors, edgecolors="k", linewidths=0.25, zorder=4)
    if pred is not None and y is not None:
        wrong = np.asarray(pred) != np.asarray(y)
        if wrong.any():
            ax.scatter(x[wrong, 0], x[wrong, 1], s=3 * ps + 8, marker="x", c="k",
                       linewidths=0.8, zorder=4)


def _overlays(ax, spec: PlaneSpec) -> None:
    """The eps-balls, the minimal perturbations and the random deltas."""
    balls, minimal, random = spec.overlays.balls, spec.overlays.minimal, spec.overlays.random
    if balls is not None and spec.eps is not None and len(balls):
        ax.add_collection(PatchCollection(
            [_ball(c, spec.eps, spec.norm) for c in np.asarray(balls)],
            facecolor=(1, 1, 1, 0.12), edgecolor="#222222", linewidths=0.7, zorder=5))
    if minimal is not None:
        start, r, within = (np.asarray(a) for a in minimal)
        within = within.astype(bool)
        _arrows(ax, start[~within], r[~within], KEPT, width=0.0025)
        _arrows(ax, start[within], r[within], FOOLED, width=0.0035)
    if random is not None:
        start, d, flipped = (np.asarray(a) for a in random)
        flipped = flipped.astype(bool)
        _arrows(ax, start[~flipped], d[~flipped], RANDOM_KEEPS, width=0.003)
        _arrows(ax, start[flipped], d[flipped], RANDOM_FLIPS, width=0.003)


def _top_marks(ax, spec: PlaneSpec) -> None:
    """The marks above everything else (:attr:`Layer.MARKS`): your delta's arrow from
    D's centroid and the probed point."""
    if spec.yours is not None and spec.points is not None:
        _delta_arrow(ax, np.asarray(spec.points.x).mean(0), np.asarray(spec.yours[0]),
                     YOURS, "your delta")
    if spec.probe is not None:
        _draw_probe_marks(ax, spec.probe, spec.eps, spec.norm)


def _entries(spec: PlaneSpec):
    o = spec.overlays
    return legend_entries(spec.regions.num_classes, minimal=o.minimal is not None,
                          universal=o.universal is not None, random=o.random is not None,
                          probe=spec.probe is not None, yours=spec.yours is not None)


def _moved(ax, x, moved_by, color):
    """The points ``x + delta``: hollow, with a thick ``color`` edge where flipped."""
    delta, flipped = np.asarray(moved_by[0]), np.asarray(moved_by[1], bool)
    moved = np.asarray(x) + delta
    ax.scatter(moved[~flipped, 0], moved[~flipped, 1], s=14, facecolors="none",
               edgecolors=[matplotlib.colors.to_rgba("#444444", 0.5)], linewidths=0.7,
               zorder=3)
    ax.scatter(moved[flipped, 0], moved[flipped, 1], s=18, facecolors="none",
               edgecolors=color, linewidths=1.2, zorder=3)


def _delta_arrow(ax, anchor, delta, color, name):
    tip = anchor + delta
    ax.annotate("", xy=tip, xytext=anchor, zorder=7,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=3.2, mutation_scale=22,
                                shrinkA=0, shrinkB=0,
                                path_effects=[patheffects.withStroke(linewidth=6,
                                                                     foreground="w")]))
    ax.text(*tip, f"  {name}", fontsize=10, fontweight="bold", zorder=7, va="center",
            color=color, path_effects=[patheffects.withStroke(linewidth=3, foreground="w")])


def draw_legend(num_classes: int, *, minimal: bool = False, universal: bool = False,
                random: bool = False, probe: bool = False, yours: bool = False,
                width: float = 6.4) -> Figure:
    """The plane's legend alone, sized to its rows."""
    entries = legend_entries(num_classes, minimal=minimal, universal=universal,
                             random=random, probe=probe, yours=yours)
    rows = -(-len(entries) // LEGEND_COLUMNS)
    fig = Figure(figsize=(width, 0.15 + rows * LEGEND_ROW))
    fig.legend(handles=legend_handles(entries), loc="center", ncol=LEGEND_COLUMNS,
               fontsize=LEGEND_FONT, frameon=False, handlelength=1.6, columnspacing=1.2)
    return fig


def _draw_probe_marks(ax, probe, eps, norm):
    p = np.asarray(probe["point"], float)
    if eps is not None:
        b = _ball(p, eps, norm)
        b.set(facecolor=(1, 1, 0.6, 0.35), edgecolor="k", linewidth=1.3, zorder=8)
        ax.add_patch(b)
        # the other norm's ball of the same eps, dashed: the square reaches past the disc
        # at its corners, so a boundary can be within eps in l-inf and not in l2
        other = _ball(p, eps, "2" if str(norm) == "inf" else "inf")
        other.set(facecolor="none", edgecolor="#424242", linestyle="--", linewidth=1.0,
                  zorder=8)
        ax.add_patch(other)
    for name, (delta, _, _) in (probe.get("segments") or {}).items():
        d = np.asarray(delta)
        ax.plot([p[0], p[0] + d[0]], [p[1], p[1] + d[1]], color="k",
                linestyle="-" if name == "universal" else ":", linewidth=1.2, zorder=8)
    if np.isfinite(probe["rho"]):
        # the legend's colours of a minimal perturbation: red inside eps, grey beyond it
        inside = eps is None or probe["rho"] <= eps
        _arrows(ax, p, probe["r"], FOOLED if inside else KEPT, width=0.006, zorder=9)
    ax.scatter([p[0]], [p[1]], marker="*", s=220, c="yellow", edgecolors="k",
               linewidths=1.0, zorder=10)


def draw_curves(radii, curves: Mapping[str, np.ndarray], *, tau: float, eps: float,
                norm: str = "2", estimates: tuple | None = None,
                changes: Sequence[tuple] = (), size: tuple = (6.4, 3.6),
                bands: Mapping[str, tuple] | None = None, legend: str = "right") -> Figure:
    """The four fractions over eps, the tau line, and where the verdict changes.

    Args:
      radii: ``f[T]`` eps grid; curves: ``{"robust", "pointwise", "universal", "random"}``
        exact values on it (solid lines; ``{}`` at full scale, where only estimates exist).
      tau: the share drawn as a horizontal line; eps: the current eps (vertical line).
      estimates: ``(eps_values f[E], {name: f[E]})`` attack estimates (dashed).
      changes: ``[(eps, before, after)]`` verdict changes (dotted verticals).
      bands: ``{name: (lo f[E], hi f[E])}`` intervals of the estimates (shaded), e.g.
        random's 95% interval.
      legend: ``"right"`` of the axes, or ``"below"`` them (for a narrow figure).

    Returns:
      The ``Figure``.
    """
    fig = Figure(figsize=size)
    below = legend == "below"
    ax = fig.add_axes((0.12, 0.36, 0.84, 0.57) if below else (0.1, 0.14, 0.62, 0.78))
    r = np.concatenate([[0.0], np.asarray(radii, float)])
    if estimates is not None:
        for name, (lo, hi) in (bands or {}).items():
            ax.fill_between(estimates[0], lo, hi, color=FRACTION_COLORS[name], alpha=0.2,
                            linewidth=0, label=f"{name} (95% interval)")
    for name, c in curves.items():
        start = 1.0 if name == "robust" else 0.0
        ax.plot(r, np.concatenate([[start], np.asarray(c, float)]), color=FRACTION_COLORS[name],
                linewidth=4.0 if name == "pointwise" else 2.0, label=f"{name} (exact)")
    if estimates is not None:
        ev, est = estimates
        for name, c in est.items():
            ax.plot(ev, c, color=FRACTION_COLORS[name], linestyle="--", marker="o",
                    markersize=3.5, linewidth=1.3, label=f"{name} (attacks)")
    ax.axhline(tau, color="k", linewidth=1, linestyle="-.", label=f"tau = {tau:g}")
    # estimates alone (full scale): room beyond the last eps, so its marks are not cut
    right = r[-1] if curves else 1.04 * max(r[-1], float(np.max(estimates[0])))
    ax.axvline(eps, color="#333333", linewidth=1.2)
    # the label on the side of the line with room for it (past the axes it would be cut)
    near_end = eps > 0.7 * right
    ax.text(eps, 1.02, f"eps = {eps:g} " if near_end else f" eps = {eps:g}", fontsize=8,
            va="bottom", ha="right" if near_end else "left", transform=ax.get_xaxis_transform())
    for e, before, after in changes:
        ax.axvline(e, color="#777777", linewidth=0.9, linestyle=":")
        ax.text(e, 0.5, f"{before} → {after}", rotation=90, fontsize=8, color="#444444",
                ha="right", va="center", transform=ax.get_xaxis_transform())
    ax.set_xlim(0, right)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"eps (l{'∞' if norm == 'inf' else '2'} norm)")
    ax.set_ylabel("fraction of D")
    ax.grid(alpha=0.25)
    if below:
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)
    else:
        ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def draw_overview(panels: Sequence[PlaneSpec], size: float = 3.6,
                  columns: int | None = None) -> Figure:
    """Several planes side by side, the way the essay draws its four pictures.

    Args:
      panels: one :class:`drawing.PlaneSpec` per plane, its style's ``title`` over it and
        ``subtitle`` under it (its legend and point size are the overview's: none, 3).
      size: each plane's width in inches.
      columns: planes a row (None: all in one row).

    Returns:
      The ``Figure``.
    """
    n = len(panels)
    columns = n if columns is None else columns
    rows = -(-n // columns)
    fig = Figure(figsize=(size * columns, size * 1.22 * rows), layout="constrained")
    if rows > 1:      # room between a row's subtitles and the next row's titles
        fig.get_layout_engine().set(h_pad=0.3)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax, panel in zip(axes, panels):
        draw_plane(panel.with_style(legend=False, point_size=3), ax=ax)
    return fig


def figure_png(fig: Figure, dpi: int = 110, *, fast: bool = False) -> bytes:
    """The figure as PNG bytes (``fast``: light compression, for interactive redraws)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi,
                pil_kwargs={"compress_level": 1} if fast else None)
    return buf.getvalue()


__all__ = ["CLASS_COLORS", "FRACTION_COLORS", "class_rgb", "plane_rgb", "draw_plane",
           "draw_legend", "draw_curves", "draw_overview", "figure_png"]
