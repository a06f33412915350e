"""Every picture: the plane, the curves, the geometry figures, as matplotlib ``Figure``s
or Vega-Lite specs. Arrays in, pictures out; never Streamlit, never global pyplot, so the
app, the command line and the tests draw the same pictures.

- :mod:`drawing.plane`: the plane (regions, D, H, overlays), its legend, the curves over
  eps, the four presets side by side, PNG bytes of a figure;
- :mod:`drawing.plane_spec`: what one plane shows and how (:class:`PlaneSpec` and its
  parts), and which :class:`Layer` of it to draw;
- :mod:`drawing.legend`: the plane's legend (matplotlib handles and HTML) and colours;
- :mod:`drawing.pad`: pictures one clicks on (pixel to plane point) and the delta pad;
- :mod:`drawing.planeview`: the arrays the plane is drawn from (regions over a grid,
  D's support, overlays, the probe of one point);
- :mod:`drawing.charts`: the app's client-side charts as Vega-Lite specs;
- :mod:`drawing.frames`: frames of a training timeline as RGB arrays;
- :mod:`drawing.geometry`: figures of the boundary geometry (normals, crossings,
  transfer, retraining, certificates, dominant labels).

Example:
    >>> import numpy as np
    >>> from drawing import PlaneSpec, Regions, draw_plane
    >>> labels = np.zeros((50, 50), np.int32); labels[:, 25:] = 1
    >>> len(draw_plane(PlaneSpec(Regions(labels, ((-1, 1), (-1, 1)), num_classes=2))).axes)
    1
"""

from drawing.charts import curves_spec, loss_spec, probe_spec, timeline_spec
from drawing.frames import DEFAULT_SNAPSHOTS, FRAME_RES, Recording, boundary_cells, frame_rgb, record_training
from drawing.geometry import (certify_figure, crossings_figure, dominant_figure, normals_figure,
                              retrain_figure, transfer_figure)
from drawing.legend import YOURS, legend_entries, legend_html
from drawing.pad import (CANVAS_BOUNDS, axes_box, draw_canvas, draw_delta_pad, figure_rgb,
                         figure_rgba, over, pad_bounds, pixel_to_point, project_to_ball)
from drawing.plane import (CLASS_COLORS, FOOLED, FRACTION_COLORS, KEPT, class_rgb, draw_curves,
                           draw_legend, draw_overview, draw_plane, figure_png, plane_rgb)
from drawing.plane_spec import Layer, Overlays, PlaneSpec, Points, Regions, Style
from drawing.planeview import (GRID_RES, PROBE_REACH, Probe, SupportMap, boundary_lines, h_mask,
                               labels_of, overlay_layers, probe, probe_window, random_deltas,
                               region_image, subset, support_map)

__all__ = [
    "curves_spec", "loss_spec", "probe_spec", "timeline_spec",
    "DEFAULT_SNAPSHOTS", "FRAME_RES", "Recording", "boundary_cells", "frame_rgb", "record_training",
    "certify_figure", "crossings_figure", "dominant_figure", "normals_figure", "retrain_figure",
    "transfer_figure",
    "CANVAS_BOUNDS", "draw_canvas",
    "CLASS_COLORS", "FOOLED", "FRACTION_COLORS", "KEPT", "class_rgb", "draw_curves", "draw_legend",
    "draw_overview", "draw_plane", "figure_png", "plane_rgb",
    "Layer", "Overlays", "PlaneSpec", "Points", "Regions", "Style",
    "YOURS", "legend_entries", "legend_html",
    "axes_box", "draw_delta_pad", "figure_rgb", "figure_rgba", "over", "pad_bounds", "pixel_to_point", "project_to_ball",
    "GRID_RES", "PROBE_REACH", "Probe", "SupportMap", "boundary_lines", "h_mask", "labels_of",
    "overlay_layers", "probe", "probe_window", "random_deltas", "region_image", "subset",
    "support_map",
]
