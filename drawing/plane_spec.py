"""What one plane shows and how, for :func:`drawing.plane.draw_plane`: a frozen spec built
once by the caller, in small parts.

- :class:`Regions`: the ground: the classifier's label per cell, D and H, the boundaries;
- :class:`Points`: D's sample (true labels, predictions);
- :class:`Overlays`: minimal perturbations, eps-balls, the universal delta, random deltas
  (what :func:`drawing.planeview.overlay_layers` computes);
- :class:`Style`: how: title, subtitle, legend, size, marker size;
- :class:`PlaneSpec`: those, the probed point, your delta, and the eps and norm of balls;
- :class:`Layer`: which part :func:`drawing.plane.draw_plane` draws (all, the base, the
  marks above it).

The parts hold arrays, so they compare (and hash) by identity, not by value.

Example:
    >>> import numpy as np
    >>> labels = np.zeros((50, 50), np.int32); labels[:, 25:] = 1
    >>> spec = PlaneSpec(Regions(labels, ((-1, 1), (-1, 1)), num_classes=2),
    ...                  points=Points(np.zeros((1, 2)), y=np.array([1])), eps=0.1)
    >>> spec.with_style(title="two halves", legend=False).style
    Style(title='two halves', subtitle=None, legend=False, size=6.4, point_size=None)
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Mapping, Sequence

import numpy as np


class Layer(enum.Enum):
    """Which part of the plane :func:`drawing.plane.draw_plane` draws.

    ``ALL``: everything. ``BASE``: all but the marks drawn above everything else (your
    delta's arrow and the probe). ``MARKS``: only those, on a transparent figure with the
    axes at the same place, so that ``MARKS`` over ``BASE`` (:func:`drawing.over`) is
    ``ALL``, and a new probe redraws only its marks.
    """

    ALL = "all"
    BASE = "base"
    MARKS = "marks"

    @classmethod
    def checked(cls, layer) -> Layer:
        """``layer`` itself; a TypeError for anything but a :class:`Layer` (a string too:
        the modes are chosen by name, not by text)."""
        if not isinstance(layer, cls):
            raise TypeError(f"layer must be a drawing.Layer (ALL, BASE or MARKS), not {layer!r}")
        return layer


@dataclasses.dataclass(frozen=True, eq=False)
class Regions:
    """The ground of the plane: regions tinted by class, D and H, the boundaries in black.

    Args:
      labels: ``i32[res, res]`` the classifier's label per cell of the grid over
        ``bounds`` (row = y, upwards).
      bounds: ``((x0, x1), (y0, y1))``.
      num_classes: number of classes.
      support: ``i32[res, res]`` D's true class per cell, -1 outside D.
      h: ``bool[res, res]`` H, the eps-neighbourhood of D; near: ``i32[res, res]`` the
        true class of the nearest cell of D (H's colour). See :func:`drawing.plane_rgb`.
      boundaries: precomputed boundary polylines (``f[m, 2]`` each, e.g. from
        :func:`drawing.boundary_lines`); contoured from ``labels`` if None.
    """

    labels: np.ndarray
    bounds: tuple
    num_classes: int
    support: np.ndarray | None = None
    h: np.ndarray | None = None
    near: np.ndarray | None = None
    boundaries: Sequence[np.ndarray] | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Points:
    """D's points on the plane.

    Args:
      x: ``f[n, 2]`` the points.
      y: ``i[n]`` their true labels (their colours; black if None).
      pred: ``i[n]`` f(x): points with ``pred != y`` are crossed.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    pred: np.ndarray | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Overlays:
    """The overlays over D's points (each None: not drawn).

    Args:
      minimal: ``(start f[k, 2], r f[k, 2], within bool[k])``: minimal perturbations as
        arrows, dark red where ``rho <= eps``.
      balls: ``f[k, 2]`` centres of eps-balls (discs for l2, squares for linf).
      universal: ``(delta f[2], fooled bool[n])``: one arrow from D's centroid and the
        moved points ``x + delta`` (hollow, red edge where fooled).
      random: ``(start f[k, 2], delta f[k, 2], flipped bool[k])``: random deltas on S_eps.
    """

    minimal: tuple | None = None
    balls: np.ndarray | None = None
    universal: tuple | None = None
    random: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Style:
    """How the plane is shown.

    Args:
      title: the axes' title.
      subtitle: written under the plane (the x label: the panels of
        :func:`drawing.draw_overview`; a figure of its own has no band for it).
      legend: add a legend below the plane.
      size: the figure's width in inches (when :func:`drawing.draw_plane` makes it).
      point_size: marker area of D's points (default from their number).
    """

    title: str | None = None
    subtitle: str | None = None
    legend: bool = True
    size: float = 6.4
    point_size: float | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class PlaneSpec:
    """Everything one plane shows, and how: the argument of :func:`drawing.draw_plane`.

    Args:
      regions: the ground (:class:`Regions`).
      points: D's points (:class:`Points`), or None for none (then no moved points and no
        delta arrows either: they start from D).
      overlays: the overlays (:class:`Overlays`).
      probe: ``{"point", "rho", "r"}`` (and optional ``"segments"``: ``{name: (delta, _,
        _)}``): a star, its eps-ball, the other norm's dashed, and its minimal
        perturbation (e.g. ``drawing.Probe._asdict()``).
      yours: ``(delta f[2], flipped bool[n])``: *your delta* of the delta pad, drawn like
        the universal delta in its own colour.
      eps, norm: the radius and norm (``"2"`` or ``"inf"``) of the balls.
      style: how (:class:`Style`).
    """

    regions: Regions
    points: Points | None = None
    overlays: Overlays = Overlays()
    probe: Mapping | None = None
    yours: tuple | None = None
    eps: float | None = None
    norm: str = "2"
    style: Style = Style()

    def with_style(self, **changes) -> PlaneSpec:
        """The same plane with some of :class:`Style`'s fields changed."""
        return dataclasses.replace(self, style=dataclasses.replace(self.style, **changes))


__all__ = ["Layer", "Overlays", "PlaneSpec", "Points", "Regions", "Style"]
