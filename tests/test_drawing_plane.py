"""The drawing of the plane: drawing.planeview, drawing.plane, drawing.charts.

Closed-form classifiers (half-planes, stripes) give exact expectations for the probe and
the crossings; the drawings are checked on their pixels, the charts against the
Vega-Lite schema. (The app's state and readings are tests/test_app_state.py.)
"""

import io
import json
from html import escape

import altair as alt
import jax
import jax.numpy as jnp
import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from categories import exact_at, scan_profile
from drawing import Layer, Overlays, PlaneSpec, Points, Regions, Style
from drawing import charts as C
from drawing import legend as L
from drawing import pad as D
from drawing import plane as P
from drawing import planeview as V
from toymodels import get_task, sample_of_d


def _halfplane_logits(x):
    # class 0 below y = 0, class 1 above.
    return jnp.stack([-x[:, 1], x[:, 1]], 1)


def _stripes_logits(x):
    # class 1 where sin(20 y) > 0: horizontal boundaries at y = k pi / 20.
    s = jnp.sin(20.0 * x[:, 1])
    return jnp.stack([-s, s], 1)


HALF = jax.tree_util.Partial(_halfplane_logits)
STRIPES = jax.tree_util.Partial(_stripes_logits)
PLANE = ((-1.0, 1.0), (-1.0, 1.0))


# --- the plane as images -------------------------------------------------------------------

def test_support_map_and_h_follow_the_distance_to_d():
    task = get_task("margins")           # discs of radius 0.14 around (+-0.5, +-0.5)
    sup = V.support_map(task, res=200)
    cell = sup.cell

    def at(px, py):
        return int((py + 1) / cell), int((px + 1) / cell)

    assert sup.label[at(-0.5, 0.5)] == 0 and sup.label[at(0.5, 0.5)] == 1
    assert sup.label[at(0.5, -0.5)] == 0 and sup.label[at(0.0, 0.0)] == -1
    # (0.5, 0.0) lies 0.5 - 0.14 - radius(0.024) from the top-right disc's support
    d = 0.5 - 0.14 - 0.024
    assert abs(sup.dist2[at(0.5, 0.0)] - d) < 3 * cell
    assert sup.near[at(0.5, 0.0)] in (1, 0)
    h_small, h_big = V.h_mask(sup, "2", 0.1), V.h_mask(sup, "2", 0.3)
    assert (h_small <= h_big).all() and h_big.sum() > h_small.sum()
    assert (V.h_mask(sup, "2", 0.2) <= V.h_mask(sup, "inf", 0.2)).all()  # B_2 inside B_inf
    assert not h_small[at(0.5, 0.0)] and V.h_mask(sup, "2", d + 2 * cell)[at(0.5, 0.0)]


def test_boundary_lines_trace_the_label_change():
    regions = V.region_image(HALF, PLANE, res=100)
    assert (regions[:50] == 0).all() and (regions[50:] == 1).all()
    lines = V.boundary_lines(regions, PLANE)
    pts = np.concatenate(lines)
    np.testing.assert_allclose(pts[:, 1], 0.0, atol=0.011)
    assert pts[:, 0].min() < -0.98 and pts[:, 0].max() > 0.98


def test_plane_rgb_shades_regions_h_and_d_in_that_order():
    regions = np.array([[0, 1], [0, 1]])
    support = np.array([[0, -1], [-1, -1]])
    h = np.array([[True, True], [False, False]])
    near = np.array([[0, 0], [0, 0]])
    img = P.plane_rgb(regions, 2, support=support, h=h, near=near)
    rgb = P.class_rgb(2)
    np.testing.assert_allclose(img[0, 0], 1 - P.D_TINT * (1 - rgb[0]))      # D
    np.testing.assert_allclose(img[0, 1], 1 - P.H_TINT * (1 - rgb[0]))      # H of class 0
    np.testing.assert_allclose(img[1, 1], 1 - P.REGION_TINT * (1 - rgb[1]))  # region 1


def test_draw_plane_paints_each_region_in_its_class_colour():
    regions = V.region_image(HALF, PLANE, res=60)
    fig = P.draw_plane(PlaneSpec(Regions(regions, PLANE, 2,
                                         boundaries=V.boundary_lines(regions, PLANE)),
                                 style=Style(legend=False, size=3.0)))
    png = matplotlib.image.imread(io.BytesIO(P.figure_png(fig, dpi=100)), format="png")
    assert png.shape[:2] == (300, 300)
    rgb = P.class_rgb(2)
    np.testing.assert_allclose(png[60, 150, :3], 1 - P.REGION_TINT * (1 - rgb[1]), atol=0.01)
    np.testing.assert_allclose(png[240, 150, :3], 1 - P.REGION_TINT * (1 - rgb[0]), atol=0.01)
    assert png[148:153, 150, :3].min() < 0.2          # the black boundary at y = 0


def test_draw_plane_with_every_overlay_and_the_overview():
    task = get_task("pancakes")
    x, y, key = sample_of_d(task, 0, 200)
    prof = scan_profile(HALF, x, y, norm="2", eps_max=0.4)
    rd = exact_at(HALF, x, prof, norm="2", eps=0.15)
    pred = V.labels_of(HALF, x)
    overlays = ("arrows", "balls", "universal", "random")
    layers = V.overlay_layers(HALF, x, pred, prof, rd, overlays, norm="2", eps=0.15,
                              key=key, n_arrows=50, n_balls=5, n_random=20)
    assert all(getattr(layers, k) is not None for k in ("minimal", "balls", "universal",
                                                          "random"))
    start, r, within = layers.minimal
    np.testing.assert_allclose(np.abs(r[:, 1]), np.abs(start[:, 1]), atol=1e-3)  # to y = 0
    np.testing.assert_array_equal(within, np.abs(start[:, 1]) <= 0.15)
    assert len(layers.balls) == 5 and layers.random[1].shape == (20, 2)
    assert V.overlay_layers(HALF, x, pred, prof, rd, ("balls",), norm="2", eps=0.15,
                            key=key).minimal is None
    regions = V.region_image(HALF, PLANE, res=80)
    fig = P.draw_plane(PlaneSpec(Regions(regions, PLANE, 2), Points(x, y, pred), layers,
                                 probe={"point": np.zeros(2), "rho": 0.0, "r": np.zeros(2)},
                                 eps=0.15, norm="inf", style=Style(title="t")))
    assert fig.axes[0].get_title() == "t" and len(fig.legends) == 1
    over = P.draw_overview([PlaneSpec(Regions(regions, PLANE, 2), Points(x, y), style=Style(
        title=f"panel {i}", subtitle="s")) for i in range(4)])
    assert [a.get_title() for a in over.axes] == [f"panel {i}" for i in range(4)]
    assert [a.get_xlabel() for a in over.axes] == ["s"] * 4 and not over.legends
    grid = P.draw_overview([PlaneSpec(Regions(regions, PLANE, 2), style=Style(title=f"p{i}"))
                            for i in range(3)], columns=2)
    boxes = [a.get_position() for a in grid.axes]
    assert len(grid.axes) == 4 and not grid.axes[3].axison         # two by two, one left blank
    assert boxes[0].y0 == boxes[1].y0 > boxes[2].y0                # p0 p1 over p2
    assert len(P.figure_png(P.draw_legend(3, minimal=True, random=True))) > 1000


@pytest.mark.parametrize("rho, colour", [(0.1, L.FOOLED), (0.3, L.KEPT)])
def test_the_probes_arrow_takes_the_legends_colour_of_its_rho_against_eps(rho, colour):
    """The legend says red: rho <= eps, grey: rho > eps; the probe's arrow follows it."""
    regions = V.region_image(HALF, PLANE, res=40)
    probe = {"point": np.array([0.0, rho]), "rho": rho, "r": np.array([0.0, -rho])}
    fig = P.draw_plane(PlaneSpec(Regions(regions, PLANE, 2), probe=probe, eps=0.15,
                                 style=Style(legend=False)))
    arrows = [c for c in fig.axes[0].collections if type(c).__name__ == "Quiver"]
    assert len(arrows) == 1
    # both norms' balls of radius eps over the point: the norm's filled, the other dashed
    balls = {type(b).__name__: b for b in fig.axes[0].patches if type(b).__name__ in
             ("Circle", "Rectangle") and b.get_zorder() == 8}
    assert set(balls) == {"Circle", "Rectangle"}
    assert balls["Circle"].get_radius() == 0.15 and balls["Rectangle"].get_width() == 0.3
    assert balls["Rectangle"].get_linestyle() == "--" and balls["Circle"].get_fill()
    np.testing.assert_allclose(arrows[0].get_facecolor()[0], matplotlib.colors.to_rgba(colour))


# --- the probe ------------------------------------------------------------------------------

def test_probe_measures_rho_and_counts_crossings_on_stripes():
    # y = 0.01 lies 0.01 above the boundary y = 0; a segment of length 0.5 downwards
    # crosses y = 0, -pi/20, -2pi/20, -3pi/20 (= -0.471): four boundaries.
    pr = V.probe(STRIPES, (0.3, 0.01), "2", 0.5, np.array([0.0, 0.5], np.float32),
                 jax.random.key(0))
    assert pr.label == 1
    assert pr.rho == pytest.approx(0.01, abs=1e-3)
    np.testing.assert_allclose(pr.r, [0.0, -0.01], atol=1e-3)
    _, n_min, end_min = pr.segments["minimal direction"]
    _, n_uni, end_uni = pr.segments["universal"]
    assert n_min == 4 and end_min == 1          # four crossings: back in its own class
    # upwards from 0.01 to 0.51: boundaries at pi/20, 2pi/20, 3pi/20 (0.157, 0.314, 0.471)
    assert n_uni == 3 and end_uni == 0          # three: in the other class
    assert 0 < pr.random_mean <= 4
    win, bounds = V.probe_window(STRIPES, pr, 0.5, res=40)
    assert win.shape == (40, 40) and bounds[1][0] == pytest.approx(0.01 - 0.75)


# --- the charts -------------------------------------------------------------------------------

def test_curves_and_probe_specs_are_valid_vega_lite():
    radii = np.linspace(0.05, 0.4, 8)
    curves = {"robust": 1 - radii * 2, "pointwise": radii * 2, "universal": radii,
              "random": radii / 2}
    spec = C.curves_spec(radii, curves, tau=0.7, eps=0.2, norm="inf",
                         estimates=(radii[::2], {k: v[::2] for k, v in curves.items()}),
                         changes=[(0.2, 1, 2)])
    alt.LayerChart.from_dict(spec)                   # validates against the schema
    under, over = (spec["layer"][i]["data"]["values"] for i in (0, 1))
    # pointwise first and wider, so universal drawn over it leaves it visible
    assert {p["curve"] for p in under} == {"pointwise"} and len(under) == 9
    assert spec["layer"][0]["mark"]["strokeWidth"] > spec["layer"][1]["mark"]["strokeWidth"]
    assert len(over) == 3 * 9 and over[0] == {"eps": 0.0, "fraction": 1.0, "curve": "robust"}
    texts = json.dumps(spec)
    assert "tau = 0.7" in texts and "eps = 0.2" in texts and "1 \\u2192 2" in texts
    regions = V.region_image(HALF, PLANE, res=60)
    probe = C.probe_spec(regions, PLANE, 2, np.zeros((5, 2)), step=6)
    alt.LayerChart.from_dict(probe)
    cells = probe["layer"][0]["data"]["values"]
    assert len(cells) == 100 and probe["layer"][0]["params"][0]["name"] == "click"
    assert {c["class"] for c in cells if c["y"] > 0} == {"1"}


# --- clicks: pixel -> plane point, the legend inside the figure, the delta pad -----------------

@pytest.mark.parametrize("legend,title", [(False, None), (True, "a title")])
def test_a_pixel_of_the_drawn_plane_maps_back_to_its_point(legend, title):
    regions = np.zeros((60, 60), np.int32)
    target = np.array([[0.37, -0.61]])
    fig = P.draw_plane(PlaneSpec(Regions(regions, PLANE, 2), Points(target, np.array([1])),
                                 style=Style(point_size=30, legend=legend, title=title)))
    box = D.axes_box(fig)
    rgb = D.figure_rgb(fig, dpi=90)
    height, width = rgb.shape[:2]
    # the point's marker is the only orange in the axes: its centre of mass is the point
    orange = np.array(matplotlib.colors.to_rgb(P.CLASS_COLORS[1])) * 255
    plane = np.zeros(rgb.shape[:2], bool)
    plane[int((1 - box[3]) * height):int((1 - box[1]) * height),
          int(box[0] * width):int(box[2] * width)] = True
    rows, cols = np.nonzero((np.abs(rgb.astype(float) - orange).sum(-1) < 20) & plane)
    assert len(rows) > 4
    # the image shown at another size (the browser stretches it): the map scales with it
    for scale in (1.0, 0.7, 1.9):
        px, py = (cols.mean() + 0.5) * scale, (rows.mean() + 0.5) * scale
        x, y = D.pixel_to_point(px, py, width * scale, height * scale, box, PLANE)
        assert (x, y) == pytest.approx((0.37, -0.61), abs=2.5 / 576 * 2)
    # the corners of the axes box are the corners of the plane
    left, bottom, right, top = box
    assert D.pixel_to_point(left * width, (1 - top) * height, width, height, box, PLANE) == \
        pytest.approx((-1, 1))
    assert D.pixel_to_point(right * 100, (1 - bottom) * 100, 100, 100, box, PLANE) == \
        pytest.approx((1, -1))


def test_the_downloaded_plane_legend_lies_inside_the_figure_and_is_readable():
    regions = np.zeros((60, 60), np.int32)
    x = np.array([[0.1, 0.2], [0.3, -0.2]])
    overlays = Overlays(minimal=(x, x * 0.1, np.array([True, False])),
                        universal=(np.array([0.1, 0.0]), np.array([True, False])),
                        random=(x, x * 0.1, np.array([True, False])))
    fig = P.draw_plane(PlaneSpec(
        Regions(regions, PLANE, 3), Points(x, np.array([0, 1])), overlays,
        probe={"point": (0.0, 0.0), "rho": 0.1, "r": (0.1, 0.0)},
        yours=(np.array([0.0, 0.1]), np.array([False, True])), eps=0.1,
        style=Style(title="all overlays")))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    renderer = FigureCanvasAgg(fig).get_renderer()
    legend = fig.legends[0]
    frame = fig.bbox
    inside = legend.get_window_extent(renderer)
    assert inside.x0 >= frame.x0 and inside.x1 <= frame.x1
    assert inside.y0 >= frame.y0 and inside.y1 <= fig.axes[0].get_window_extent(renderer).y0
    assert legend.get_texts()[0].get_fontsize() >= 10
    labels = [t.get_text() for t in legend.get_texts()]
    assert "your delta" in labels and "probed point" in labels


def test_the_legend_html_names_every_entry():
    entries = L.legend_entries(2, minimal=True, universal=True, random=True, probe=True,
                               yours=True)
    html = L.legend_html(entries)
    assert all(escape(e.label) in html for e in entries)
    assert len(L.legend_handles(entries)) == len(entries)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_the_delta_pad_draws_b_eps_to_scale_and_maps_its_clicks(norm):
    eps = 0.15
    fig = D.draw_delta_pad(norm, eps, delta=(0.05, -0.02), best=(0.1, 0.1), best_share=0.5)
    box, bounds = D.axes_box(fig), D.pad_bounds(eps)
    rgb = D.figure_rgb(fig, dpi=80)
    height, width = rgb.shape[:2]
    # the ball's fill (#FFF7C2) spans 2 eps of the pad's 2.6 eps across the middle row
    row = int(round((1 - (box[1] + box[3]) / 2) * height))
    fill = np.nonzero((np.abs(rgb[row].astype(int) - [255, 247, 194]).sum(-1) < 12))[0]
    x_lo, _ = D.pixel_to_point(fill.min(), row, width, height, box, bounds)
    x_hi, _ = D.pixel_to_point(fill.max() + 1, row, width, height, box, bounds)
    assert x_lo == pytest.approx(-eps, abs=0.01) and x_hi == pytest.approx(eps, abs=0.01)
    assert D.project_to_ball((0.3, 0.4), norm, eps) == (
        (0.09, 0.12) if norm == "2" else (0.15, 0.15))
    assert D.project_to_ball((0.01, -0.02), norm, eps) == (0.01, -0.02)


def test_the_curves_carry_certified_bands_under_them():
    from drawing import curves_spec

    radii = np.linspace(0.05, 0.4, 8)
    curves = {k: np.linspace(0, 1, 8) for k in ("robust", "pointwise", "universal", "random")}
    brackets = (radii[::2], {k: [(0.1, 0.2)] * 4 for k in curves})
    plain = curves_spec(radii, curves, tau=0.8, eps=0.15)
    banded = curves_spec(radii, curves, tau=0.8, eps=0.15, brackets=brackets)
    assert len(banded["layer"]) == len(plain["layer"]) + 2
    area = banded["layer"][0]
    assert area["mark"]["type"] == "area" and area["encoding"]["y2"] == {"field": "hi"}
    assert len(area["data"]["values"]) == 16 and area["data"]["values"][0]["hi"] == 0.2


def test_the_timeline_shades_the_snapshots_right_on_too_little_of_d():
    steps = np.array([10, 20, 30, 50])
    fractions = {k: np.linspace(0, 1, 4) for k in ("robust", "pointwise", "universal", "random")}
    spec = C.timeline_spec(steps, fractions, tau=0.8, step=20, settled=30,
                           doubtful=np.array([True, True, False, True]),
                           doubtful_label="< 90% of D right")
    alt.LayerChart.from_dict(spec)                    # validates against the schema
    bands = spec["layer"][0]["data"]["values"]
    # each shaded snapshot reaches halfway to its neighbours; the others stay clear
    # (halfway on the log scale: the geometric mean)
    assert [(b["x0"], b["x1"]) for b in bands] == pytest.approx(
        [(10, 200 ** 0.5), (200 ** 0.5, 600 ** 0.5), (1500 ** 0.5, 50)])
    # one label, on the first band (a text mark over rows without one draws "undefined")
    labels = [layer["data"]["values"] for layer in spec["layer"]
              if layer["mark"]["type"] == "text"
              and layer["encoding"]["text"] == {"field": "label"} and "x0" in json.dumps(layer)]
    assert labels and all(rows == [{"x0": 10.0, "x1": 200 ** 0.5, "label": "< 90% of D right"}]
                          for rows in labels)
    plain = C.timeline_spec(steps, fractions, tau=0.8, step=20, settled=30)
    assert len(spec["layer"]) == len(plain["layer"]) + 3      # the bands, the label on a halo
    assert C.timeline_spec(steps, fractions, tau=0.8, step=20, settled=30,
                           doubtful=np.zeros(4, bool))["layer"] == plain["layer"]


def test_the_timeline_writes_the_verdict_where_it_changes_on_a_log_axis():
    steps = np.array([1, 2, 5, 13, 29])
    fractions = {k: np.linspace(0, 1, 5) for k in ("robust", "pointwise", "universal", "random")}
    spec = C.timeline_spec(steps, fractions, tau=0.8, step=5, settled=13,
                           verdicts=("1-2", "1-2", 2, 3, 3))
    alt.LayerChart.from_dict(spec)
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    written = [layer["data"]["values"] for layer in spec["layer"]
               if layer["mark"]["type"] == "text" and layer["encoding"]["text"] == {"field": "verdict"}]
    assert written and all(rows == [{"step": 1, "verdict": "category 1-2"},
                                    {"step": 5, "verdict": "category 2"},
                                    {"step": 13, "verdict": "category 3"}] for rows in written)


@pytest.mark.parametrize("corner", [(1, 1), (-1, 1), (1, -1), (-1, -1)])
def test_the_pads_best_label_stays_inside_the_figure_at_every_corner(corner):
    eps = 0.15
    fig = D.draw_delta_pad("inf", eps, best=(corner[0] * eps, corner[1] * eps), best_share=1.0)
    fig.canvas.draw()
    text = [t for t in fig.axes[0].texts if "best: 100%" in t.get_text()]
    assert len(text) == 1
    box, frame = text[0].get_window_extent(), fig.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def test_the_timelines_verdict_labels_do_not_crowd_where_it_flickers():
    steps = np.array([1, 2, 3, 5, 8, 13, 22, 36, 60, 100, 120, 140, 160, 180, 200])
    verdicts = (1, 1, 1, 1, "1-2", 1, "1-2", "1-2", 2, 1, 2, 1, 2, 1, 2)
    fractions = {k: np.linspace(0, 1, len(steps)) for k in ("robust", "pointwise", "universal", "random")}
    spec = C.timeline_spec(steps, fractions, tau=0.8, step=5, verdicts=verdicts)
    rules = [layer["data"]["values"] for layer in spec["layer"]
             if layer["mark"]["type"] == "rule" and layer["data"].get("values", [{}])
             and "verdict" in layer["data"]["values"][0]][0]
    labels = [layer["data"]["values"] for layer in spec["layer"]
              if layer["mark"]["type"] == "text" and layer["encoding"]["text"] == {"field": "verdict"}][0]
    assert len(rules) == 1 + sum(a != b for a, b in zip(verdicts, verdicts[1:]))   # every change
    logs = np.log([row["step"] for row in labels])
    assert labels[0]["step"] == 1 and (np.diff(logs) >= 0.18 * np.log(200) - 1e-12).all()


def test_the_marks_layer_over_the_base_layer_is_the_whole_plane():
    """``Layer.MARKS`` (your delta's arrow, the probe) over ``Layer.BASE`` gives
    ``Layer.ALL``, at the same axes box; a layer named by a string is refused."""
    regions = np.zeros((60, 60), np.int32)
    regions[30:] = 1
    x = np.array([[0.1, 0.2], [0.3, -0.2], [-0.4, 0.5]])
    spec = PlaneSpec(Regions(regions, PLANE, 2), Points(x, np.array([0, 1, 1])),
                     probe={"point": (-0.5, -0.5), "rho": 0.1, "r": (0.0, 0.1)},
                     yours=(np.array([0.0, 0.3]), np.array([False, True, False])), eps=0.1,
                     style=Style(legend=False, size=3.0))
    whole, base, marks = (P.draw_plane(spec, layer=layer) for layer in Layer)
    assert D.axes_box(whole) == D.axes_box(base) == D.axes_box(marks)
    texts = [[t.get_text() for t in fig.axes[0].texts if t.get_text()]
             for fig in (whole, base, marks)]
    assert texts == [["  your delta"], [], ["  your delta"]]
    rgb, top = D.figure_rgb(whole, 80).astype(int), D.over(D.figure_rgb(base, 80),
                                                          D.figure_rgba(marks, 80))
    assert (D.figure_rgb(base, 80) != rgb).any()                 # the marks are visible
    assert np.abs(top.astype(int) - rgb).mean() < 0.1 and np.abs(top.astype(int) - rgb).max() <= 4
    with pytest.raises(TypeError, match="drawing.Layer"):
        P.draw_plane(spec, layer="base")


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_the_pads_marks_layer_over_its_base_layer_is_the_whole_pad(norm):
    """The delta pad's layers as the plane's: your delta (``Layer.MARKS``) over the ball,
    ticks and best delta (``Layer.BASE``) gives ``Layer.ALL``; a string layer is refused."""
    eps, delta = 0.2, (0.12, -0.05)
    whole, base, marks = (D.draw_delta_pad(norm, eps, delta=delta, best=(0.1, 0.1),
                                           best_share=0.5, layer=layer) for layer in Layer)
    assert D.axes_box(whole) == D.axes_box(base) == D.axes_box(marks)
    rgb = D.figure_rgb(whole, 80).astype(int)
    top = D.over(D.figure_rgb(base, 80), D.figure_rgba(marks, 80)).astype(int)
    assert (D.figure_rgb(base, 80) != rgb).any()                 # your delta is visible
    assert np.abs(top - rgb).mean() < 0.1 and np.abs(top - rgb).max() <= 4
    with pytest.raises(TypeError, match="drawing.Layer"):
        D.draw_delta_pad(norm, eps, layer="marks")
