"""The clickable pictures of the explore page (the plane, the delta pad, the canvas) as
PNG bytes, and what the plane is drawn from.

A picture is drawn once per everything it is drawn from (:func:`app_pages.cached.picture`),
and in two layers where a click changes only marks above the rest (the probe, your
delta: the :class:`drawing.Layer` of :func:`drawing.draw_plane` and
:func:`drawing.draw_delta_pad`), so
a click renders its marks alone over the base drawn before, and a view seen before (an
eps, a probe, a delta) sends bytes without rendering a figure at all.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from drawing import (Overlays, PlaneSpec, Points, Regions, Style, SupportMap, axes_box,
                     figure_rgb, figure_rgba, h_mask, over, overlay_layers)
from app_pages import cached
from app_pages.view import View

class Plane(NamedTuple):
    """What the plane is drawn from (shown on the page, offered as a download)."""

    regions: np.ndarray
    support: SupportMap
    overlays: Overlays  # the overlays' arrays
    probed: object | None  # the drawing.Probe of the probed point
    yours: tuple | None   # (your delta, flipped bool[n], share) from the delta pad


# The clickable image: streamlit-image-coordinates 0.4.1's frontend, kept in
# clickable_image/ with one change (its frame follows a window resize; see its LICENSE).
# It answers a click with {x, y, width, height, unix_time}: pixels of the shown image.
_clickable_image = components.declare_component(
    "clickable_image", path=str(Path(__file__).with_name("clickable_image")))


def _png(rgb) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def picture_of(fig, dpi: int = 90) -> tuple[bytes, tuple]:
    """``(PNG bytes, axes box)`` of a figure as a clickable picture shows it (light
    compression: it is encoded for the browser on the loopback, once per view)."""
    box = axes_box(fig)
    return _png(figure_rgb(fig, dpi)), box


def layered(base_key: tuple, base, marks, dpi: int) -> tuple[bytes, tuple]:
    """``(PNG bytes, axes box)`` of a picture drawn in two layers (the :class:`drawing.Layer`
    of :func:`drawing.draw_plane` and :func:`drawing.draw_delta_pad`): the base, rendered
    once per ``base_key`` (:func:`app_pages.cached.picture`), and the marks above it (a
    probe, your delta), rendered alone and composited over it (``marks``: a function
    giving their figure, or None for none), so a click renders only its marks."""
    def draw_base():
        fig = base()
        return figure_rgb(fig, dpi), axes_box(fig)

    rgb, box = cached.picture(base_key, draw_base)
    return _png(rgb if marks is None else over(rgb, figure_rgba(marks(), dpi))), box


def clickable(fig, key: str, bounds, *, dpi: int = 90, width: str = "stretch") -> None:
    """Shows a figure, or a ``(PNG bytes, axes box)`` from :func:`picture_of`, as a
    clickable image (``width``: ``"stretch"`` fills the column, ``"content"`` keeps the
    natural size unless the column is narrower) and keeps its pixel -> point map for
    :func:`take_clicks`."""
    png, box = fig if isinstance(fig, tuple) else picture_of(fig, dpi)
    st.session_state[f"_{key}_map"] = (box, bounds)
    _clickable_image(src="data:image/png;base64," + base64.b64encode(png).decode("ascii"), height=None,
                     width=width, use_column_width=None, key=key, click_and_drag=False,
                     cursor="crosshair")



def plane_spec(view: View, plane: Plane, style: Style = Style()) -> PlaneSpec:
    """The plane of the view, for :func:`drawing.draw_plane`: regions, boundaries, D and
    H, the points, the overlays, the probed point and your delta, shown in ``style``."""
    state, task = view.state, view.task
    regions = Regions(plane.regions, task.bounds, task.num_classes,
                      support=plane.support.label, near=plane.support.near,
                      h=h_mask(plane.support, state.norm, state.eps),
                      boundaries=cached.boundaries(view.model_key, plane.regions, task.bounds))
    return PlaneSpec(regions, Points(view.x, view.y, view.pred), plane.overlays,
                     probe=plane.probed._asdict() if plane.probed else None,
                     yours=plane.yours[:2] if plane.yours else None, eps=state.eps,
                     norm=state.norm, style=style)


def plane_of(view: View, yours) -> Plane:
    """What the plane is drawn from: regions, D's support, the overlays, the probe."""
    state, task = view.state, view.task
    overlays = overlay_layers(view.model.logits_fn, view.x, view.pred, view.profile,
                              view.reading, state.overlays, norm=state.norm, eps=state.eps,
                              key=view.key)
    probed = None
    if state.probe is not None:
        probed = cached.probe(view.model_key, state.norm, state.eps, state.probe,
                              view.model.logits_fn, view.reading.universal_delta, view.key)
    return Plane(cached.regions(view.model_key, view.model.logits_fn, task.bounds),
                 cached.support(view.task_key, task), overlays, probed, yours)
