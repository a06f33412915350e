"""The geometry figures draw the arrays they are given."""

import numpy as np
from matplotlib.figure import Figure

from drawing import geometry as P


def test_normals_figure_polar_histogram_and_spectrum():
    angles = np.array([1.5, 1.6, 1.55, -1.5])
    fig = P.normals_figure(angles, [3.0, 0.3], [2.1, 1.9])
    polar, spec = fig.axes
    assert polar.name == "polar" and sum(p.get_height() for p in polar.patches) == 1.0
    normals, rnd = spec.get_lines()
    np.testing.assert_allclose(normals.get_ydata(), [1.0, 0.1])
    np.testing.assert_allclose(rnd.get_ydata(), [1.0, 1.9 / 2.1])
    assert "0.100" in spec.get_title() and "0.905" in spec.get_title()
    # at scale (no angles): the spectrum curve alone
    fig = P.normals_figure(None, np.linspace(5, 1, 48), np.linspace(2, 1.5, 48))
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()[0].get_xdata()) == 48


def test_bars_heatmaps_and_curves():
    fig = P.crossings_figure({"universal": [0.0, 1.0], "random": [0.7, 0.2, 0.1]})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [0.0, 1.0, 0.0, 0.7, 0.2, 0.1]
    m = np.array([[1.0, 0.25], [0.5, 0.75]])
    fig = P.transfer_figure(["a", "b"], m)
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.25", "0.50", "0.75", "1.00"]
    side = {"radii": [0.1, 0.2], "curves": {k: [0.1, 0.2] for k in P.COLORS},
            "fractions": {k: 0.5 for k in P.COLORS}, "verdict": 2}
    fig = P.retrain_figure(side, side, eps=0.15)
    assert len(fig.axes[0].get_lines()) == 9   # 4 before, 4 after, the eps marker
    _legend_shows_the_bars_colours(fig.axes[1])
    fig = P.certify_figure([0.1, 0.2], [0.9, 0.1], [1.0, 0.2], [1.0, 0.3], eps=0.1)
    assert [list(line.get_ydata()) for line in fig.axes[0].get_lines()[:3]] == [
        [0.9, 0.1], [1.0, 0.2], [1.0, 0.3]]
    fig = P.dominant_figure([3, 0, 5], [[2, 0, 3], [3, 1, 2], [0, 0, 4]])
    assert [p.get_height() for p in fig.axes[0].patches] == [3, 0, 5]
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def _legend_shows_the_bars_colours(ax):
    """Each legend entry of the retraining bars is drawn in the colours of the bars it
    names (four fractions before, four after): no swatch of a colour no bar has."""
    import matplotlib.colors

    bars = ax.patches
    assert len(bars) == 8
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["before (verdict 2)", "after (verdict 2)"]
    areas = [a for a in legend.findobj(lambda o: type(o).__name__ == "DrawingArea")]
    assert len(areas) == 2
    for side, area, alpha in zip((bars[:4], bars[4:]), areas, ("59", "ff")):
        swatches = [matplotlib.colors.to_hex(p.get_facecolor(), keep_alpha=True)
                    for p in area.get_children()]
        drawn = [matplotlib.colors.to_hex(p.get_facecolor(), keep_alpha=True) for p in side]
        assert swatches == drawn
        assert drawn == [matplotlib.colors.to_hex(P.COLORS[n], keep_alpha=False)
                         + alpha
                         for n in ("robust", "pointwise", "universal", "random")]
