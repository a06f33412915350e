"""Figures of the boundary geometry: arrays in, matplotlib ``Figure`` out (no Streamlit).

Shared by the app's geometry page, the command line and the tests.

Example:
    >>> import numpy as np
    >>> fig = normals_figure(np.array([1.5, 1.6, 1.55]), [3.0, 0.1], [2.1, 1.9])
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from drawing.plane import FRACTION_COLORS

# the four fractions in the plane's colours (one colour per fraction on every page)
COLORS = {**FRACTION_COLORS, "certified": "#495057", "exact": "#1565C0", "attack": "#8D6E63"}


def normals_figure(angles, singular, random_singular, *, bins: int = 36,
                   title: str | None = None) -> Figure:
    """Polar histogram of the normals' angles and their spectrum against random vectors.

    Args:
      angles: ``f[m]`` the 2D normals' angles in radians; ``None`` in higher dimension
        (then only the spectrum is drawn).
      singular: the stacked normals' singular values, descending.
      random_singular: those of as many random unit vectors.
      bins: angular bins.
      title: optional figure title.

    Returns:
      A ``Figure`` with a polar histogram (2D) and the normalised spectra (the paper's curve).
    """
    s = np.asarray(singular, np.float64)
    rs = np.asarray(random_singular, np.float64)
    polar = angles is not None
    fig = Figure(figsize=(9 if polar else 5.5, 4), layout="constrained")
    if polar:
        ax = fig.add_subplot(1, 2, 1, projection="polar")
        edges = np.linspace(-np.pi, np.pi, bins + 1)
        h, _ = np.histogram(np.asarray(angles, np.float64), edges)
        share = h / max(h.sum(), 1)
        ax.bar(edges[:-1], share, width=np.diff(edges), align="edge", color="#1c7ed6",
               edgecolor="white", alpha=0.85)
        ax.set_title("normal directions n = r/|r|", fontsize=10)
        ax.set_yticklabels([])
    ax2 = fig.add_subplot(1, 2, 2) if polar else fig.add_subplot(1, 1, 1)
    k = np.arange(1, len(s) + 1)
    if len(s):
        ax2.plot(k, s / s[0], "o-", color="#37474F", label="normals")
    if len(rs):
        ax2.plot(np.arange(1, len(rs) + 1), rs / rs[0], "s--", color="#868e96",
                 label="random unit vectors")
    ratio = s[1] / s[0] if len(s) > 1 and s[0] > 0 else np.nan
    rratio = rs[1] / rs[0] if len(rs) > 1 and rs[0] > 0 else np.nan
    ax2.set_title(f"singular values / sigma_1  (sigma_2/sigma_1: {ratio:.3f} vs random "
                  f"{rratio:.3f})", fontsize=10)
    ax2.set_xlabel("index")
    ax2.set_ylim(0, 1.05)
    if len(s) <= 10:
        ax2.set_xticks(k)
    ax2.legend(loc="lower left", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def crossings_figure(histograms: dict, *, title: str | None = None) -> Figure:
    """Grouped bars: share of points whose segment crosses 0, 1, 2, ... boundaries.

    Args:
      histograms: ``{kind: [share of 0 crossings, share of 1, ...]}``.
    """
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    top = max((len(h) for h in histograms.values()), default=1)
    width = 0.8 / max(len(histograms), 1)
    colors = ["#8D6E63", "#1565C0", "#455A64", "#9E9D24"]   # kinds that are not a fraction
    for i, (kind, h) in enumerate(histograms.items()):
        h = np.pad(np.asarray(h, np.float64), (0, top - len(h)))
        ax.bar(np.arange(top) + (i - (len(histograms) - 1) / 2) * width, h, width,
               label=kind, color=COLORS.get(kind, colors[i % len(colors)]))
    ax.set_xticks(np.arange(top))
    ax.set_xlabel("boundaries crossed on the segment I -> I + delta")
    ax.set_ylabel("share of D")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title)
    return fig


def transfer_figure(names, matrix, *, title: str | None = None) -> Figure:
    """Heatmap of the transfer matrix: row = the perturbation's model, column = the model fooled."""
    m = np.asarray(matrix, np.float64)
    fig = Figure(figsize=(1.4 * len(names) + 3, 1.1 * len(names) + 1.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(m, vmin=0, vmax=1, cmap="Oranges")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center",
                    color="white" if m[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("model fooled")
    ax.set_ylabel("universal delta of")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fooling rate")
    if title:
        ax.set_title(title)
    return fig


def retrain_figure(before: dict, after: dict, *, eps: float, title: str | None = None) -> Figure:
    """The four exact curves over eps before (dashed) and after (solid) retraining.

    Args:
      before, after: ``{"radii": [...], "curves": {name: [...]}, "fractions": {name: v}}``
        (as :func:`categories.retrain.retrain_report` returns).
      eps: the radius marked on the curves.
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    for name in ("robust", "pointwise", "universal", "random"):
        ax.plot(before["radii"], before["curves"][name], "--", color=COLORS[name], alpha=0.7)
        ax.plot(after["radii"], after["curves"][name], "-", color=COLORS[name], label=name)
    ax.axvline(eps, color="black", lw=0.8, ls=":")
    ax.set_xlabel("eps")
    ax.set_ylabel("fraction of D")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("curves: before (dashed), after (solid)", fontsize=10)
    ax.legend(fontsize=8)
    ax2 = fig.add_subplot(1, 2, 2)
    names = ("robust", "pointwise", "universal", "random")
    _before_after_bars(ax2, names, before, after)
    ax2.set_ylim(0, 1.05)
    ax2.set_title(f"fractions at eps = {eps:g}", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def _before_after_bars(ax, names, before: dict, after: dict) -> None:
    """Bars of each fraction in its own colour, before (hatched, light) and after (solid)
    retraining; each legend swatch shows the very bars it names, all four colours."""
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    x = np.arange(len(names))
    colors = [COLORS[n] for n in names]
    ax.bar(x - 0.2, [before["fractions"][n] for n in names], 0.4, color=colors, alpha=0.35,
           hatch="//", edgecolor=colors)
    ax.bar(x + 0.2, [after["fractions"][n] for n in names], 0.4, color=colors)
    ax.set_xticks(x, names)
    light = tuple(Patch(facecolor=c, alpha=0.35, hatch="//", edgecolor=c) for c in colors)
    solid = tuple(Patch(facecolor=c) for c in colors)
    ax.legend([light, solid], [f"before (verdict {before.get('verdict', '?')})",
                               f"after (verdict {after.get('verdict', '?')})"],
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0)}, handlelength=4,
              fontsize=8)


def certify_figure(eps_values, certified, exact, attack=None, *, eps: float | None = None,
                   title: str | None = None) -> Figure:
    """Robust fraction over eps: certified (lower bound) <= exact <= attack (upper bound)."""
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    e = np.asarray(eps_values, np.float64)
    # certified under exact and wider, so it shows where the two are equal
    ax.plot(e, certified, "o-", color=COLORS["certified"], lw=5, ms=9, alpha=0.45, zorder=2,
            label="certified (bound propagation + splitting)")
    ax.plot(e, exact, "s-", color=COLORS["exact"], lw=1.6, ms=5, zorder=3, label="exact (2D scan)")
    if attack is not None:
        ax.plot(e, attack, "^--", color=COLORS["attack"], label="attacks (PGD, DeepFool)")
    if eps is not None:
        ax.axvline(eps, color="black", lw=0.8, ls=":")
    ax.set_xlabel("eps")
    ax.set_ylabel("robust fraction of D")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title)
    return fig


def dominant_figure(counts, transitions=None, *, class_names=None,
                    title: str | None = None) -> Figure:
    """Bars: where the universal perturbation sends the fooled points; and the
    transition table ``f(I) -> f(I + delta)`` when given."""
    counts = np.asarray(counts, np.int64)
    names = [str(c) for c in range(len(counts))] if class_names is None else list(class_names)
    fig = Figure(figsize=(9 if transitions is not None else 5, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 2 if transitions is not None else 1, 1)
    ax.bar(range(len(counts)), counts, color=COLORS["universal"])
    ax.set_xticks(range(len(counts)), names)
    ax.set_xlabel("class of f(I + delta)")
    ax.set_ylabel("fooled points")
    ax.set_title("dominant labels", fontsize=10)
    if transitions is not None:
        t = np.asarray(transitions, np.float64)
        ax2 = fig.add_subplot(1, 2, 2)
        share = t / np.maximum(t.sum(1, keepdims=True), 1)
        ax2.imshow(share, vmin=0, vmax=1, cmap="Blues")
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                ax2.text(j, i, f"{int(t[i, j])}", ha="center", va="center", fontsize=8,
                         color="white" if share[i, j] > 0.6 else "black")
        ax2.set_xticks(range(len(names)), names)
        ax2.set_yticks(range(len(names)), names)
        ax2.set_xlabel("f(I + delta)")
        ax2.set_ylabel("f(I)")
        ax2.set_title("transitions (correct points)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["normals_figure", "crossings_figure", "transfer_figure", "retrain_figure",
           "certify_figure", "dominant_figure"]
