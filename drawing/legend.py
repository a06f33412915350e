"""The plane's legend, one list of entries for both renderings: matplotlib handles (the
downloaded PNG) and HTML (the app, where it wraps to the column and stays readable).

Example:
    >>> entries = legend_entries(2, probe=True)
    >>> [e.label for e in entries][-1]
    'probed point'
    >>> "probe" in legend_html(entries)
    True
"""

from __future__ import annotations

import html
from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

CLASS_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860",
                "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")
REGION_TINT, H_TINT, D_TINT = 0.22, 0.5, 0.9
FOOLED = "#B00020"
KEPT = "#555555"
YOURS = "#00838F"      # your delta (the delta pad) and the points it moves
RANDOM_FLIPS, RANDOM_KEEPS = "#E65100", "#1565C0"


class Entry(NamedTuple):
    """One legend entry: ``kind`` is ``patch``, ``line``, ``cross``, ``star`` or ``ring``."""

    kind: str
    color: str
    label: str


def class_rgb(num_classes: int) -> np.ndarray:
    """``f[num_classes, 3]`` RGB colours of the classes (cycled past ten)."""
    return np.array([matplotlib.colors.to_rgb(CLASS_COLORS[k % len(CLASS_COLORS)])
                     for k in range(num_classes)])


def tint(rgb, a):
    """``rgb`` blended towards white: ``a = 1`` keeps it, ``a = 0`` is white."""
    return 1.0 - a * (1.0 - rgb)


def legend_entries(num_classes: int, *, minimal: bool = False, universal: bool = False,
                   random: bool = False, probe: bool = False,
                   yours: bool = False) -> list[Entry]:
    """The entries of the plane's legend for the overlays drawn."""
    rgb = class_rgb(num_classes)
    hexa = matplotlib.colors.to_hex
    out = [Entry("patch", hexa(tint(rgb[k], D_TINT)), f"D, class {k}")
           for k in range(min(num_classes, 4))]
    out += [Entry("patch", hexa(tint(rgb[0], H_TINT)), "H = D + B_eps (lighter)"),
            Entry("line", "#000000", "decision boundary"),
            Entry("cross", "#000000", "misclassified point")]
    if minimal:
        out += [Entry("line", FOOLED, "minimal perturbation, rho <= eps"),
                Entry("line", KEPT, "minimal perturbation, rho > eps")]
    if universal:
        out += [Entry("line", "#000000", "universal delta (best)"),
                Entry("ring", FOOLED, "I + universal delta, fooled")]
    if random:
        out += [Entry("line", RANDOM_FLIPS, "random delta, flips"),
                Entry("line", RANDOM_KEEPS, "random delta, no flip")]
    if yours:
        out += [Entry("line", YOURS, "your delta"),
                Entry("ring", YOURS, "I + your delta, flipped")]
    if probe:
        out.append(Entry("star", "#FFFF00", "probed point"))
    return out


def legend_handles(entries: list[Entry]) -> list:
    """Matplotlib handles of the entries (for ``fig.legend``)."""
    out = []
    for e in entries:
        if e.kind == "patch":
            out.append(Patch(facecolor=e.color, edgecolor="none", label=e.label))
        elif e.kind == "line":
            out.append(Line2D([], [], color=e.color, linewidth=2.5, label=e.label))
        elif e.kind == "cross":
            out.append(Line2D([], [], marker="x", color=e.color, linestyle="none",
                              label=e.label))
        elif e.kind == "ring":
            out.append(Line2D([], [], marker="o", markerfacecolor="none",
                              markeredgecolor=e.color, markeredgewidth=1.6, linestyle="none",
                              label=e.label))
        else:
            out.append(Line2D([], [], marker="*", markersize=12, markerfacecolor=e.color,
                              markeredgecolor="k", linestyle="none", label=e.label))
    return out


_SWATCH = {
    "patch": '<span style="display:inline-block;width:1.1em;height:0.8em;background:{c};'
             'vertical-align:-0.05em"></span>',
    "line": '<span style="display:inline-block;width:1.4em;height:0.22em;background:{c};'
            'vertical-align:0.25em"></span>',
    "cross": '<span style="color:{c};font-weight:bold">✕</span>',
    "ring": '<span style="display:inline-block;width:0.7em;height:0.7em;border:2px solid {c};'
            'border-radius:50%;vertical-align:-0.05em"></span>',
    "star": '<span style="color:{c};-webkit-text-stroke:1px #000;font-size:1.2em">★</span>',
}


def legend_html(entries: list[Entry]) -> str:
    """The entries as one wrapping line of HTML (swatch and label per entry)."""
    items = [f'<span style="white-space:nowrap;margin-right:1.1em">'
             f'{_SWATCH[e.kind].format(c=e.color)} {html.escape(e.label)}</span>'
             for e in entries]
    return ('<div class="plane-legend" style="line-height:1.7;font-size:0.9rem">'
            + " ".join(items) + "</div>")


__all__ = ["CLASS_COLORS", "FOOLED", "KEPT", "YOURS", "Entry", "class_rgb", "legend_entries",
           "legend_handles", "legend_html", "tint"]
