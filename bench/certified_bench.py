"""The certified brackets (:mod:`categories.certified`) timed on the shared task.

For every setting of the benchmark: the certified universal optimum (branch-and-bound
over delta-space, its lower end re-checked by a forward pass), the pointwise/robust
bracket, the random bracket, all four together, and the whole certified curve over
``radii`` radii up to eps. They stand beside today's resolution-limited exact search
(``scan_profile`` + ``exact_at``, timed by :mod:`bench.toy` as ``exact``) and the
brute-force torch lattice (``torch_grid``), which :func:`bench.run.run_benchmark`
measures in the same process.

Example:
    >>> r = measure_certified(shared_task(n=40, steps=30), SETTINGS[2:], repeats=1,
    ...                       radii=2)  # doctest: +SKIP
    >>> r["l2 0.3"]["universal"]["exact_to_the_point"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

from bench.measure import time_call
from categories import (certified_curve, certified_fractions, certified_pointwise,
                        certified_random, certified_universal, KEYS)



def _entry(timing, bracket, n) -> dict:
    return {**timing.as_dict(), "lo": bracket.lo, "hi": bracket.hi, "width": bracket.width,
            "exact_to_the_point": bracket.width <= 1 / max(n, 1) + 1e-12}


def measure_setting(shared, setting, *, repeats: int = 5, radii: int = 24) -> dict:
    """Warm medians of every certified computation at one setting (JSON-ready)."""
    f, x, y = shared.logits_fn, shared.x, shared.y
    kw = dict(norm=setting.norm, eps=setting.eps)
    out = {}
    t = time_call(lambda: certified_universal(f, x, y, **kw), warmup=1, repeats=repeats)
    u = t.value
    out["universal"] = {**_entry(t, u.universal, u.n), "boxes": u.boxes,
                        "delta": [float(v) for v in u.delta]}
    t = time_call(lambda: certified_pointwise(f, x, y, **kw), warmup=1, repeats=repeats)
    out["pointwise"] = _entry(t, t.value.pointwise, t.value.n)
    t = time_call(lambda: certified_random(f, x, y, **kw), warmup=1, repeats=repeats)
    out["random"] = _entry(t, t.value, u.n)
    out["random"]["exact_to_the_point"] = None  # random's goal is its width, not 1/n
    t = time_call(lambda: certified_fractions(f, x, y, **kw), warmup=1, repeats=repeats)
    out["all"] = {**t.as_dict(), **{k: list(getattr(t.value, k)) for k in KEYS}}
    grid = [setting.eps * (k + 1) / radii for k in range(radii)]
    t = time_call(lambda: certified_curve(f, x, y, norm=setting.norm, radii=grid), warmup=0,
                  repeats=1)
    c = t.value
    widths = {k: max(b.width for b in getattr(c, k)) for k in ("pointwise", "universal", "random")}
    out["curve"] = {**t.as_dict(), "radii": radii, "max_width": widths}
    return out


def measure_certified(shared, settings, *, repeats: int = 5, radii: int = 24) -> dict:
    """:func:`measure_setting` for each setting, keyed by its name."""
    return {s.name: measure_setting(shared, s, repeats=repeats, radii=radii) for s in settings}


__all__ = ["measure_certified", "measure_setting"]
