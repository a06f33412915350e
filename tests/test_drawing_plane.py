"""The drawing of the plane: drawing.planeview, drawing.plane, drawing.charts.

Closed-form classifiers (half-planes, stripes) give exact expectations for the probe and
the crossings; the drawings are checked on their pixels, the charts against the
Vega-Lite schema. (The app's state and readings are tests/test_app_state.py.)
"""

import io
import json

import altair as alt
import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from categories import exact_at, scan_profile
from drawing import charts as C
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
    fig = P.draw_plane(regions, PLANE, num_classes=2, legend=False, size=3.0,
                       boundaries=V.boundary_lines(regions, PLANE))
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
    assert set(layers) == {"minimal", "balls", "universal", "random"}
    start, r, within = layers["minimal"]
    np.testing.assert_allclose(np.abs(r[:, 1]), np.abs(start[:, 1]), atol=1e-3)  # to y = 0
    np.testing.assert_array_equal(within, np.abs(start[:, 1]) <= 0.15)
    assert len(layers["balls"]) == 5 and layers["random"][1].shape == (20, 2)
    regions = V.region_image(HALF, PLANE, res=80)
    fig = P.draw_plane(regions, PLANE, num_classes=2, x=x, y=y, pred=pred, eps=0.15,
                       norm="inf", title="t", probe={"point": np.zeros(2), "rho": 0.0,
                                                     "r": np.zeros(2)}, **layers)
    assert fig.axes[0].get_title() == "t" and len(fig.legends) == 1
    over = P.draw_overview([dict(regions=regions, bounds=PLANE, num_classes=2, x=x, y=y,
                                 title=f"panel {i}", subtitle="s") for i in range(4)])
    assert [a.get_title() for a in over.axes] == [f"panel {i}" for i in range(4)]
    assert len(P.figure_png(P.draw_legend(3, minimal=True, random=True))) > 1000


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
    exact = spec["layer"][0]["data"]["values"]
    assert len(exact) == 4 * 9 and exact[0] == {"eps": 0.0, "fraction": 1.0, "curve": "robust"}
    texts = json.dumps(spec)
    assert "tau = 0.7" in texts and "eps = 0.2" in texts and "1 \\u2192 2" in texts
    regions = V.region_image(HALF, PLANE, res=60)
    probe = C.probe_spec(regions, PLANE, 2, np.zeros((5, 2)), step=6)
    alt.LayerChart.from_dict(probe)
    cells = probe["layer"][0]["data"]["values"]
    assert len(cells) == 100 and probe["layer"][0]["params"][0]["name"] == "click"
    assert {c["class"] for c in cells if c["y"] > 0} == {"1"}
