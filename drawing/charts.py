"""Interactive charts of the app as Vega-Lite specifications (drawn by the browser).

The plane itself is a matplotlib figure (:mod:`drawing.plane`); the charts here are
the ones that gain from being drawn client-side: the curves over eps (redrawn on every
eps change, so the server only sends a few hundred numbers) and the clickable plane of
the probe. Arrays in, a Vega-Lite ``dict`` out (for ``st.vega_lite_chart``); no
Streamlit, and no Altair either: building the dict directly takes a millisecond, where
an Altair chart with its DataFrames and schema validation takes ~0.1-0.3 s, which
counts on every eps change.

The marks that move (the current eps and tau, the shown training step) can go into a
named top-level dataset (``marks="now"``): a page that redraws a chart with only them
changed then sends the very same spec and new rows, and Streamlit's frontend swaps the
rows in the chart's Vega view instead of building the chart anew (a redraw of a few
milliseconds instead of ~0.1-0.3 s).

Example:
    >>> import numpy as np
    >>> curves = {k: np.linspace(0, 1, 5) for k in ("pointwise", "universal", "random")}
    >>> curves["robust"] = 1 - curves["pointwise"]
    >>> spec = curves_spec(np.linspace(0.1, 0.5, 5), curves, tau=0.8, eps=0.2)
    >>> len(spec["layer"]), spec["$schema"].endswith("v5.json")
    (8, True)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from drawing.plane import CLASS_COLORS, FRACTION_COLORS

ORDER = ("robust", "pointwise", "universal", "random")
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
PADDING = {"left": 8, "right": 8, "top": 4, "bottom": 4}   # axis text inside Streamlit's frame


def _moving(rows: list[dict], name: str | None) -> tuple[dict, dict]:
    """``(data, datasets)``: the moving marks' rows inline (``name`` None), or as the
    named dataset ``name`` (the spec then holds only the name)."""
    if name is None:
        return {"values": rows}, {}
    return {"name": name}, {name: rows}


def curves_spec(radii, curves: Mapping[str, np.ndarray], *, tau: float, eps: float,
                norm: str = "2", estimates: tuple | None = None,
                changes: Sequence[tuple] = (), height: int = 330,
                brackets: tuple | None = None, marks: str | None = None) -> dict:
    """The four fractions over eps (solid: exact; dashed: attack estimates), the tau
    line, the current eps, and where the verdict changes.

    Args:
      radii: ``f[T]`` the eps grid; curves: ``{fraction: f[T]}`` exact values on it.
      tau: the share (horizontal line); eps: the current radius (vertical line).
      estimates: ``(eps_values f[E], {fraction: f[E]})``.
      changes: ``[(eps, verdict_before, verdict_after)]`` (dotted verticals, labelled).
      brackets: ``(eps_values f[B], {fraction: [(lo, hi)] * B})``: certified brackets,
        drawn as translucent bands in each fraction's colour, under the curves.
      marks: the name of a top-level dataset for the tau and eps lines and labels (so
        that an eps or tau change sends the same spec with new rows), or None: inline.

    Returns:
      A Vega-Lite specification.
    """
    r = np.concatenate([[0.0], np.asarray(radii, float)])
    x = {"field": "eps", "type": "quantitative", "title": f"eps (l{'∞' if norm == 'inf' else '2'} norm)",
         "scale": {"domain": [0, float(r[-1])], "nice": False}}
    # no y title: Streamlit's frame cut its edge; the app's caption says what y is
    y = {"field": "fraction", "type": "quantitative", "title": None,
         "scale": {"domain": [0, 1]}}
    # the legend in two rows under the plot: on its right it took a third of the width
    # from the plot at 1000 px, where the verdict changes' labels then collided
    color = {"field": "curve", "type": "nominal", "title": None,
             "scale": {"domain": list(ORDER), "range": [FRACTION_COLORS[k] for k in ORDER]},
             "legend": {"orient": "bottom", "direction": "horizontal", "columns": 2}}
    tip = [{"field": "curve", "type": "nominal"},
           {"field": "eps", "type": "quantitative", "format": ".3f"},
           {"field": "fraction", "type": "quantitative", "format": ".3f"}]
    layers = (_bracket_bands(brackets, x, color) + _exact_lines(r, curves, x, y, color, tip)
              + _estimate_lines(estimates, x, y, color, tip))
    rule, datasets = _moving([{"tau": float(tau), "eps": float(eps), "tau_label": f"tau = {tau:g}",
                               "eps_label": f"eps = {eps:g}"}], marks)
    layers += [
        {"data": rule, "mark": {"type": "rule", "strokeDash": [8, 3, 2, 3], "color": "black"},
         "encoding": {"y": {"field": "tau", "type": "quantitative"}}},
        {"data": rule, "mark": {"type": "rule", "color": "#333333", "strokeWidth": 1.5},
         "encoding": {"x": {"field": "eps", "type": "quantitative"}}},
    ]
    layers += _change_marks(changes)
    # the tau and eps labels on a white halo, so no rule crosses their letters
    layers += _halo_text(rule, {"x": {"value": 0}, "y": {"field": "tau",
                                                         "type": "quantitative"},
                                "text": {"field": "tau_label"}}, align="left", dx=4, dy=-8,
                         color="black")
    layers += _halo_text(rule, {"x": {"field": "eps", "type": "quantitative"},
                                "y": {"datum": 0, "type": "quantitative"},
                                "text": {"field": "eps_label"}},
                         align="left", dx=4, dy=-8, color="#333333")
    spec = {"$schema": SCHEMA, "height": height, "layer": layers}
    return {**spec, "datasets": datasets} if datasets else spec


def _exact_lines(r, curves, x, y, color, tip) -> list[dict]:
    """The exact curves from eps = 0 (robust starts at 1, the others at 0): layers of
    :func:`curves_spec`; pointwise drawn first and wider, so it shows around universal
    where they are equal."""
    exact = []
    for name in ORDER:
        start = 1.0 if name == "robust" else 0.0
        values = np.concatenate([[start], np.asarray(curves[name], float)])
        exact += [{"eps": round(float(e), 5), "fraction": round(float(v), 5), "curve": name}
                  for e, v in zip(r, values)]
    under = [p for p in exact if p["curve"] == "pointwise"]
    over = [p for p in exact if p["curve"] != "pointwise"]
    return [{"data": {"values": under}, "mark": {"type": "line", "strokeWidth": 6},
             "encoding": {"x": x, "y": y, "color": color, "tooltip": tip}},
            {"data": {"values": over}, "mark": {"type": "line", "strokeWidth": 2.5},
             "encoding": {"x": x, "y": y, "color": color, "tooltip": tip}}]


def _bracket_bands(brackets, x, color) -> list[dict]:
    """Certified brackets as translucent bands with a tick at each hi (layers of
    :func:`curves_spec`, under the curves), or none."""
    if brackets is None:
        return []
    bv, bb = brackets
    band = [{"eps": round(float(e), 5), "lo": round(float(lo), 5), "hi": round(float(hi), 5),
             "curve": name} for name in ORDER for e, (lo, hi) in zip(bv, bb[name])]
    return [{"data": {"values": band},
             "mark": {"type": "area", "opacity": 0.28, "line": False},
             "encoding": {"x": x, "y": {"field": "lo", "type": "quantitative", "title": None,
                                        "scale": {"domain": [0, 1]}},
                          "y2": {"field": "hi"}, "color": color,
                          "tooltip": [{"field": "curve", "type": "nominal"},
                                      {"field": "eps", "type": "quantitative", "format": ".3f"},
                                      {"field": "lo", "type": "quantitative", "format": ".4f"},
                                      {"field": "hi", "type": "quantitative", "format": ".4f"}]}},
            {"data": {"values": band},
             "mark": {"type": "tick", "thickness": 2, "size": 9},
             "encoding": {"x": x, "y": {"field": "hi", "type": "quantitative"},
                          "color": color}}]


def _estimate_lines(estimates, x, y, color, tip) -> list[dict]:
    """The attack estimates as dashed lines with points (a layer of :func:`curves_spec`)."""
    if estimates is None:
        return []
    ev, est = estimates
    dashed = [{"eps": round(float(e), 5), "fraction": round(float(v), 5), "curve": name}
              for name in ORDER for e, v in zip(np.asarray(ev, float), np.asarray(est[name], float))]
    return [{"data": {"values": dashed},
             "mark": {"type": "line", "strokeDash": [6, 4], "point": True, "strokeWidth": 1.6},
             "encoding": {"x": x, "y": y, "color": color, "tooltip": tip}}]


def _change_marks(changes) -> list[dict]:
    """Where the verdict changes: dotted verticals, their labels in rows at the top (one
    row each, cycling over four: a climb up the ladder has four changes, and located
    changes can lie a few thousandths apart), so neighbouring labels neither collide nor
    sit on the curves. Layers of :func:`curves_spec`."""
    if not changes:
        return []
    ch = {"values": [{"eps": float(e), "label": f"{a} → {b}", "row": 12 + 14 * (i % 4)}
                     for i, (e, a, b) in enumerate(changes)]}
    return [{"data": ch, "mark": {"type": "rule", "strokeDash": [2, 3], "color": "#666666"},
             "encoding": {"x": {"field": "eps", "type": "quantitative"}}},
            *_halo_text(ch, {"x": {"field": "eps", "type": "quantitative"},
                             "y": {"field": "row", "type": "quantitative", "scale": None},
                             "text": {"field": "label"}},
                        align="left", dx=3, color="#444444")]


def _halo_text(data, encoding, *, color, **mark) -> list[dict]:
    """A text layer on a white outline of itself (two layers)."""
    return [{"data": data, "mark": {"type": "text", "stroke": "white", "strokeWidth": 4,
                                    "strokeJoin": "round", **mark},
             "encoding": encoding},
            {"data": data, "mark": {"type": "text", "color": color, **mark},
             "encoding": encoding}]


def probe_spec(regions, bounds, num_classes: int, points, *, step: int = 6,
               size: int = 380, name: str = "click") -> dict:
    """The plane as a clickable chart: coarse class regions plus points of D.

    Clicking selects the nearest cell centre; its ``x`` and ``y`` come back through the
    point selection ``name``.

    Args:
      regions: ``i[res, res]`` labels on the grid over ``bounds`` (row = y).
      points: ``f[k, 2]`` points of D to show.
      step: keep every ``step``-th cell in each direction.
      size: the chart's width and height in pixels.

    Returns:
      A Vega-Lite specification with the selection parameter ``name``.
    """
    regions = np.asarray(regions)
    full = regions.shape[0]
    (x0, x1), (y0, y1) = bounds
    keep = np.arange(full)[::step]
    gx = x0 + (keep + 0.5) * (x1 - x0) / full
    gy = y0 + (keep + 0.5) * (y1 - y0) / full
    small = regions[::step, ::step]
    cells = [{"x": round(float(gx[j]), 4), "y": round(float(gy[i]), 4), "class": str(small[i, j])}
             for i in range(len(gy)) for j in range(len(gx))]
    pts = [{"x": round(float(a), 4), "y": round(float(b), 4)} for a, b in np.asarray(points)]
    x = {"field": "x", "type": "quantitative", "title": None,
         "scale": {"domain": [x0, x1], "nice": False}}
    y = {"field": "y", "type": "quantitative", "title": None,
         "scale": {"domain": [y0, y1], "nice": False}}
    palette = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(num_classes)]
    mark_size = max(8.0, (size / len(keep)) ** 2 * 0.9)
    return {
        "$schema": SCHEMA, "width": size, "height": size,
        "layer": [
            {"data": {"values": cells},
             "params": [{"name": name, "select": {"type": "point", "fields": ["x", "y"],
                                                  "on": "click", "nearest": True}}],
             "mark": {"type": "square", "size": mark_size, "opacity": 0.4},
             "encoding": {"x": x, "y": y,
                          "color": {"field": "class", "type": "nominal", "legend": None,
                                    "scale": {"domain": [str(k) for k in range(num_classes)],
                                              "range": palette}},
                          "tooltip": [{"field": "x", "type": "quantitative"},
                                      {"field": "y", "type": "quantitative"},
                                      {"field": "class", "type": "nominal"}]}},
            {"data": {"values": pts}, "mark": {"type": "circle", "size": 10, "opacity": 0.8,
                                               "color": "black"},
             "encoding": {"x": {"field": "x", "type": "quantitative"},
                          "y": {"field": "y", "type": "quantitative"}}},
        ],
    }


def _shaded(steps: np.ndarray, flags, label: str) -> list[dict]:
    """Grey bands over the snapshots flagged (each reaching halfway to its neighbours),
    the first labelled: layers of :func:`timeline_spec`."""
    # halfway on the chart's log scale: the geometric mean of the neighbours
    edges = np.concatenate([[steps[0]], np.sqrt(steps[1:] * steps[:-1].astype(float)),
                            [steps[-1]]])
    rows = [{"x0": float(edges[i]), "x1": float(edges[i + 1])}
            for i, flag in enumerate(flags) if flag]
    if not rows:
        return []
    first = {"values": [{**rows[0], "label": label}]}
    # the label low in the band, clear of the curves at 0 and 1 and of the tau label
    return [{"data": {"values": rows}, "mark": {"type": "rect", "color": "#9E9E9E",
                                                "opacity": 0.18},
             "encoding": {"x": {"field": "x0", "type": "quantitative"},
                          "x2": {"field": "x1"}}},
            *_halo_text(first, {"x": {"field": "x0", "type": "quantitative"},
                                "y": {"datum": 0.15, "type": "quantitative"},
                                "text": {"field": "label"}},
                        align="left", dx=3, fontSize=10, color="#616161")]


def _settled_marks(steps: np.ndarray, settled: int | None) -> list[dict]:
    """The step the model falls into its final category: a dotted line and its label,
    written towards the middle of the log axis, so that a late step's label stays inside
    a narrow chart (layers of :func:`timeline_spec`)."""
    if settled is None:
        return []
    mark = {"values": [{"step": int(settled), "label": f"in its category from step {int(settled)}"}]}
    late = np.log(settled) > (np.log(steps[0]) + np.log(steps[-1])) / 2
    return [{"data": mark, "mark": {"type": "rule", "strokeDash": [2, 3], "color": "#666666"},
             "encoding": {"x": {"field": "step", "type": "quantitative"}}},
            *_halo_text(mark, {"x": {"field": "step", "type": "quantitative"},
                               "y": {"value": 40}, "text": {"field": "label"}},
                        align="right" if late else "left", dx=-3 if late else 3,
                        color="#444444")]


def _verdict_marks(steps: np.ndarray, verdicts) -> list[dict]:
    """The verdict at the first snapshot and at each change, written at the top of the
    timeline with a dotted line at its step: layers of :func:`timeline_spec`."""
    if verdicts is None:
        return []
    rows = [{"step": int(s), "verdict": f"category {v}"}
            for i, (s, v) in enumerate(zip(steps, verdicts)) if i == 0 or v != verdicts[i - 1]]
    # every change gets its rule; a label only where it clears the one before on the log
    # axis (a run that flickers near its end would write them over each other)
    span = max(np.log(steps[-1]) - np.log(steps[0]), 1e-9)
    named = []
    for row in rows:
        if not named or np.log(row["step"]) - np.log(named[-1]["step"]) >= 0.18 * span:
            named.append(row)
    at = {"x": {"field": "step", "type": "quantitative"}}
    return [{"data": {"values": rows},
             "mark": {"type": "rule", "strokeDash": [1, 3], "color": "#9E9E9E"}, "encoding": at},
            *_halo_text({"values": named}, {**at, "y": {"value": 8}, "text": {"field": "verdict"}},
                        align="left", dx=3, fontSize=11, fontWeight="bold", color="#212121")]


def timeline_spec(steps, fractions: Mapping[str, np.ndarray], *, tau: float, step: int,
                  settled: int | None = None, height: int = 260, legend: bool = True,
                  marks: str | None = None, doubtful=None,
                  doubtful_label: str = "", verdicts=None) -> dict:
    """The four fractions over training steps (on a log scale: snapshots are spaced so),
    the tau line, the shown step, the step from which the verdict no longer changes, and
    the verdict written over the steps where it changes.

    Args:
      steps: ``i[S]`` the snapshots' steps; fractions: ``{fraction: f[S]}``.
      tau: the share (horizontal line); step: the step shown now (solid vertical).
      settled: the step the model falls into its final category (dotted vertical).
      legend: draw the colour legend (off where the page names the colours itself).
      marks: the name of a top-level dataset for the tau line and the shown step (so
        that the next frame sends the same spec with new rows), or None: inline.
      doubtful: ``bool[S]``, the snapshots whose verdict speaks for too little of D (the
        model gets too much of D wrong): shaded grey, the first band labelled
        ``doubtful_label``.
      verdicts: ``[S]`` the snapshots' verdicts: each change (and the first) written at
        the top of the chart, "category v", with a dotted line at the step.

    Returns:
      A Vega-Lite specification.
    """
    steps = np.asarray(steps, int)
    values = [{"step": int(s), "fraction": round(float(v), 5), "curve": name}
              for name in ORDER for s, v in zip(steps, np.asarray(fractions[name], float))]
    x = {"field": "step", "type": "quantitative", "title": "training step (log scale)",
         "scale": {"type": "log", "domain": [int(steps[0]), int(steps[-1])], "nice": False}}
    y = {"field": "fraction", "type": "quantitative", "title": None, "scale": {"domain": [0, 1]}}
    color = {"field": "curve", "type": "nominal", "title": None,
             "scale": {"domain": list(ORDER), "range": [FRACTION_COLORS[k] for k in ORDER]},
             "legend": {"orient": "right"} if legend else None}
    tip = [{"field": "curve", "type": "nominal"}, {"field": "step", "type": "quantitative"},
           {"field": "fraction", "type": "quantitative", "format": ".3f"}]
    now, datasets = _moving([{"tau": float(tau), "step": int(step), "tau_label": f"tau = {tau:g}",
                              "step_label": f"step {int(step)}"}], marks)
    shaded = [] if doubtful is None else _shaded(steps, doubtful, doubtful_label)
    layers = shaded + [
        {"data": {"values": values}, "mark": {"type": "line", "point": True, "strokeWidth": 2.5},
         "encoding": {"x": x, "y": y, "color": color, "tooltip": tip}},
        {"data": now, "mark": {"type": "rule", "strokeDash": [8, 3, 2, 3], "color": "black"},
         "encoding": {"y": {"field": "tau", "type": "quantitative"}}},
        {"data": now, "mark": {"type": "rule", "color": "#333333", "strokeWidth": 1.5},
         "encoding": {"x": {"field": "step", "type": "quantitative"}}},
    ]
    layers += _settled_marks(steps, settled)
    layers += _verdict_marks(steps, verdicts)
    layers += _halo_text(now, {"x": {"value": 0}, "y": {"field": "tau", "type": "quantitative"},
                                 "text": {"field": "tau_label"}}, align="left", dx=4, dy=-8,
                         color="black")
    spec = {"$schema": SCHEMA, "height": height, "padding": PADDING, "layer": layers}
    return {**spec, "datasets": datasets} if datasets else spec


def loss_spec(steps, loss, accuracy, *, step: int, held_out=None, height: int = 180,
              marks: str | None = None) -> dict:
    """Training loss (left axis), training accuracy and accuracy on a fresh sample of D
    (right axis) over steps, with the shown step as a vertical rule. Arrays ``[S]`` in
    (``held_out`` optional), a Vega-Lite specification out (``marks``: the shown step's
    rule in that named dataset, as in :func:`timeline_spec`)."""
    now, datasets = _moving([{"step": int(step)}], marks)
    held_out = [None] * len(loss) if held_out is None else list(held_out)
    rows = []
    for s, l, a, h in zip(np.asarray(steps, int), loss, accuracy, held_out):
        rows.append({"step": int(s), "loss": round(float(l), 5), "value": round(float(a), 5),
                     "accuracy": "training set"})
        if h is not None:
            rows.append({"step": int(s), "value": round(float(h), 5),
                         "accuracy": "fresh sample of D"})
    # the timeline's log scale: the snapshots are spaced evenly on it
    x = {"field": "step", "type": "quantitative", "title": "training step (log scale)",
         "scale": {"type": "log"}}
    losses = [r for r in rows if "loss" in r]
    return {
        "$schema": SCHEMA, "height": height, "padding": PADDING,
        "layer": [
            {"data": {"values": losses}, "mark": {"type": "line", "color": "#9E9E9E", "point": True},
             "encoding": {"x": x, "y": {"field": "loss", "type": "quantitative",
                                         "title": "loss (grey)",
                                         "axis": {"titleColor": "#757575"}}}},
            {"data": {"values": rows},
             "mark": {"type": "line", "strokeDash": [5, 3], "point": True},
             "encoding": {"x": x, "y": {"field": "value", "type": "quantitative",
                                         "title": "accuracy", "scale": {"domain": [0, 1]},
                                         "axis": {"titleColor": "#1565C0", "orient": "right"}},
                          "color": {"field": "accuracy", "type": "nominal", "title": None,
                                    "scale": {"domain": ["training set", "fresh sample of D"],
                                              "range": ["#1565C0", "#00897B"]},
                                    "legend": {"orient": "right"}}}},
            {"data": now,
             "mark": {"type": "rule", "color": "#333333", "strokeWidth": 1.5},
             "encoding": {"x": {"field": "step", "type": "quantitative"}}},
        ],
        "resolve": {"scale": {"y": "independent"}},
        **({"datasets": datasets} if datasets else {}),
    }


__all__ = ["curves_spec", "loss_spec", "probe_spec", "timeline_spec"]
