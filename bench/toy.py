"""The comparisons on the shared 2D task, one setting (norm, eps) at a time.

For each setting, on the same weights and the same 1000 points:

- exact: ``categories.exact2d`` (scan + coarse-to-fine search), against a brute-force
  lattice of ``B_eps`` evaluated by the torch copy of the MLP at the exact search's
  final resolution;
- universal: ``attacks.universal_perturbation`` against ART's ``UniversalPerturbation``
  with the same passes and DeepFool settings, both scored against the exact optimum; and
  each one's time to ART's final fooling rate (:func:`time_to_art_rate`);
- per-point: ``attacks.pgd`` against torchattacks' and ART's PGD at the same budget
  (steps, step size, one random start), plus the project's PGD with restarts and the
  margin loss, scored against the exact per-point ceiling (``pointwise``).

Every result is scored by one function, :func:`fooled_share`: the share of the correctly
classified points whose label a perturbation changes (the fractions' definition).
"""

from __future__ import annotations

import functools
import inspect
import statistics
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import deepfool
from attacks import pgd
from attacks import universal_perturbation
from bench import peers
from bench.exact_grid import (exact_evaluations, exact_resolution, lattice, run_exact,
                              torch_grid_search)
from bench.machine import mlp_flops
from bench.measure import (Timing, block, first_reaching, scaled, time_call, time_pair,
                           time_to_rate)
from bench.task import Setting, SharedTask
from bench.torch_mlp import to_torch


class ToyBudget(NamedTuple):
    """How much work each comparison does and how often it is repeated."""

    repeats: int = 5          # timed runs of the project's (fast, jitted) calls
    slow_repeats: int = 3     # timed runs of the peers' and the brute force's (seconds each)
    slow_warmup: int = 1      # untimed runs of the peers first
    uap_passes: int = 10      # passes of the project's universal algorithm
    art_passes: int = 10      # passes of ART's (and of the project's run timed against it)
    grid_stride: int = 1      # brute force timed on every k-th lattice delta, time scaled by k
    pgd_steps: int = 20
    deepfool_iter: int = 50   # deepfool's default max_iter, given to ART's DeepFool too
    ceiling_restarts: int = 10  # the project's PGD that aims at the exact ceiling


DEEPFOOL = dict(top_k=10, overshoot=0.02)   # the project's DeepFool defaults, given to ART too
UAP_DEEPFOOL_ITER = 10                      # universal_perturbation's default inner max_iter


@jax.jit
def _fooled(logits_fn, x, y, delta):
    pred = jnp.argmax(logits_fn(x), -1)
    correct = pred == y
    moved = jnp.argmax(logits_fn(x + delta), -1) != pred
    return jnp.sum(moved & correct) / jnp.maximum(jnp.sum(correct), 1)


def fooled_share(logits_fn, x, y, delta) -> float:
    """Share of the correctly classified points of ``x`` whose label ``x + delta`` changes.

    Args:
      logits_fn: the plane classifier.
      x: ``f32[n, 2]``; y: ``i32[n]``.
      delta: ``f32[2]`` (one shared perturbation) or ``f32[n, 2]`` (one per point).
    """
    return float(_fooled(logits_fn, x, y, jnp.asarray(delta, jnp.float32)))


def _entry(t: Timing, **figures) -> dict:
    return {**t.as_dict(), **figures}


def _missing(peer: str) -> dict:
    return {"status": "not installed", "package": peers.PEERS[peer]}


def compare_exact(shared: SharedTask, setting: Setting, net, budget: ToyBudget) -> dict:
    """The exact optimum against the brute-force torch lattice at its resolution, paired."""
    f = shared.logits_fn
    x, y = shared.x, shared.y
    per_point = mlp_flops(f)
    spacing = exact_resolution(setting.eps)
    deltas = lattice(setting.norm, setting.eps, spacing)
    timed = deltas[::budget.grid_stride]
    xs, ys = np.asarray(x), np.asarray(y)
    for _ in range(budget.slow_warmup):  # a short warm-up: thread pools, allocator
        torch_grid_search(net, xs, ys, timed[:256])
    pair = time_pair(lambda: run_exact(f, x, y, norm=setting.norm, eps=setting.eps),
                     lambda: torch_grid_search(net, xs, ys, timed),
                     repeats=budget.slow_repeats, inner_a=budget.repeats, warmup_b=0)
    t, scale = pair.a, len(deltas) / len(timed)
    evals = exact_evaluations(len(x), setting.norm)
    exact = _entry(t, universal=t.value.universal, pointwise=t.value.pointwise,
                   random=t.value.random, universal_delta=t.value.delta.tolist(),
                   evaluations=evals, gflops=evals * per_point / t.median / 1e9)
    g = scaled(pair.b, scale)
    evals = len(deltas) * len(x)
    grid = _entry(g, universal=g.value[0], universal_delta=g.value[1].tolist(),
                  deltas=len(deltas), spacing=spacing, timed_fraction=1 / scale,
                  evaluations=evals, gflops=evals * per_point / g.median / 1e9)
    speedup = {k: v * scale for k, v in pair.speedup().items()}
    return {"exact": exact, "torch_grid": grid,
            "pairs": {"exact_vs_torch_grid_speedup": speedup}}


def compare_universal(shared: SharedTask, setting: Setting, net, budget: ToyBudget,
                      *, seed: int) -> dict:
    """The project's universal algorithm against ART's, same passes and DeepFool settings.

    ART follows one random order of the points; so does the project's algorithm with
    ``restarts=1``, which is the side of the speed pair (``budget.art_passes`` each, timed
    in alternation) and also runs for ``budget.uap_passes`` (``"uap_single"``). The
    library's default (several restarts in parallel, ``"uap"``) is timed on its own: the
    quality a user gets by default.

    Returns:
      ``{"uap", "uap_single", "uap_at_art_passes", "art_uap", "time_to_art_rate", "pairs"}``.
    """
    f, x, y = shared.logits_fn, shared.x, shared.y
    key = jax.random.fold_in(shared.key, 1)
    params = inspect.signature(universal_perturbation).parameters
    defaults = {name: param.default for name, param in params.items()}

    def ours(passes, restarts):
        return functools.partial(universal_perturbation, f, x, y, norm=setting.norm,
                                 eps=setting.eps, key=key, max_passes=passes,
                                 restarts=restarts, max_iter=UAP_DEEPFOOL_ITER, **DEEPFOOL)

    def entry(t, passes, restarts):
        return _entry(t, fooling=fooled_share(f, x, y, t.value), passes=passes,
                      batch_size=defaults["batch_size"], restarts=restarts)

    default = defaults["restarts"]
    out = {"pairs": {}, "uap": entry(time_call(ours(budget.uap_passes, default), warmup=1,
                                               repeats=budget.repeats),
                                     budget.uap_passes, default)}
    if not peers.installed("art") or budget.art_passes != budget.uap_passes:
        out["uap_single"] = entry(time_call(ours(budget.uap_passes, 1), warmup=1,
                                            repeats=budget.repeats), budget.uap_passes, 1)
    if not peers.installed("art"):
        out["uap_at_art_passes"] = out["uap_single"]
        out["art_uap"] = out["time_to_art_rate"] = _missing("art")
        return out
    xs, ys = np.asarray(x), np.asarray(y)
    common = dict(norm=setting.norm, eps=setting.eps, num_classes=int(f(x[:1]).shape[-1]),
                  overshoot=DEEPFOOL["overshoot"], deepfool_iter=UAP_DEEPFOOL_ITER,
                  top_k=DEEPFOOL["top_k"], seed=seed)
    for _ in range(budget.slow_warmup):  # a short warm-up: torch's and ART's first calls
        peers.art_universal(net, xs[:20], ys[:20], passes=1, **common)()
    marks = []  # each timed ART run's passes: (seconds since its start, noise)
    pair = time_pair(ours(budget.art_passes, 1),
                     peers.art_universal(net, xs, ys, passes=budget.art_passes, marks=marks,
                                         **common),
                     repeats=budget.slow_repeats, inner_a=budget.repeats, warmup_b=0)
    out["uap_at_art_passes"] = entry(pair.a, budget.art_passes, 1)
    out.setdefault("uap_single", out["uap_at_art_passes"])
    out["art_uap"] = entry(pair.b, budget.art_passes, 1) | {"batch_size": 1}
    out["pairs"]["uap_vs_art_speedup"] = pair.speedup()
    target = out["art_uap"]["fooling"]
    # with ART's rate as its target the run stops at the update that reaches it
    out["time_to_art_rate"] = time_to_art_rate(
        shared, lambda k: functools.partial(ours(k, 1), target_rate=target), marks, target,
        budget)
    return out


def _art_to_rate(shared: SharedTask, records: list, target: float) -> dict:
    """ART's time to ``target`` in each timed run: the end of its first pass reaching it.

    Args:
      shared: the task (each pass's noise is scored by :func:`fooled_share`).
      records: per timed ART run, ``(seconds since its start, noise)`` for each pass.
      target: ART's final fooling rate.

    Returns:
      A timing entry over the runs, with ``passes`` (to the target, last run), ``of_passes``
      and ``fooling_by_pass`` (last run); a ``status`` where no pass was recorded.
    """
    if not records or not all(records):
        return {"status": "passes not recorded"}
    hits = []
    for record in records:
        rates = [fooled_share(shared.logits_fn, shared.x, shared.y, v) for _, v in record]
        # its last pass gives its final noise: a run that never reaches target (only if
        # runs differ) counts its whole time
        hits.append(time_to_rate([s for s, _ in record], rates, target)
                    or (len(record), record[-1][0]))
    secs = [s for _, s in hits]
    t = Timing(statistics.median(secs), min(secs), max(secs), len(secs))
    return _entry(t, passes=hits[-1][0], of_passes=len(records[-1]), fooling_by_pass=rates)


def _uap_to_rate(shared: SharedTask, run_at, target: float, most: int, repeats: int) -> dict:
    """The project's time to ``target``: the fewest passes (1, 2, ...) whose run reaches it,
    timed at that budget after a warm-up (median of ``repeats``).

    Args:
      run_at: ``passes -> call`` of ``universal_perturbation`` (one order, as ART follows,
        and ``target_rate=target``: it stops at the update that reaches it).
      most: the most passes tried.

    Returns:
      A timing entry with ``passes``, ``fooling`` and ``fooling_at_passes`` (the rate of
      each budget tried: separate runs, not one run's history); a ``status`` if not reached.
    """
    f, x, y = shared.logits_fn, shared.x, shared.y
    rates = []
    for k in range(1, most + 1):
        rates.append(fooled_share(f, x, y, block(run_at(k)())))
        if first_reaching(rates[-1:], target):
            t = time_call(run_at(k), warmup=1, repeats=repeats)
            return _entry(t, passes=k, restarts=1, fooling=fooled_share(f, x, y, t.value),
                          fooling_at_passes=rates)
    return {"status": f"not reached in {most} passes", "fooling_at_passes": rates}


def time_to_art_rate(shared: SharedTask, run_at, records: list, target: float,
                     budget: ToyBudget) -> dict:
    """Each side's time to ART's final fooling rate (not the same number of passes).

    Args:
      shared: the task.
      run_at: ``passes -> call`` of the project's algorithm with one restart.
      records: the timed ART runs' passes (:func:`bench.peers.art_universal`'s ``marks``).
      target: ART's final fooling rate, as :func:`fooled_share` scores it.
      budget: its ``repeats`` time the project's run; the most passes it may take are
        ``max(uap_passes, art_passes)``.

    Returns:
      ``{"rate", "art", "uap", "speedup"}``: ART's time over the project's (``None`` when
      either side has a ``status`` instead of a time).
    """
    art = _art_to_rate(shared, records, target)
    uap = None if art.get("status") else _uap_to_rate(
        shared, run_at, target, max(budget.uap_passes, budget.art_passes), budget.repeats)
    speedup = None if uap is None or uap.get("status") else art["median_s"] / uap["median_s"]
    return {"rate": target, "art": art, "uap": uap, "speedup": speedup}


def compare_pgd(shared: SharedTask, setting: Setting, net, budget: ToyBudget,
                *, seed: int) -> dict:
    """Per-point PGD: the project's against torchattacks' and ART's at the same budget."""
    f, x, y = shared.logits_fn, shared.x, shared.y
    key = jax.random.fold_in(shared.key, 2)
    steps = budget.pgd_steps
    step_size = 2.5 * setting.eps / steps  # attacks.pgd's default, given to the peers too
    same = functools.partial(pgd, f, x, y, norm=setting.norm, eps=setting.eps, key=key,
                             steps=steps, restarts=1, step_size=step_size, loss="ce")
    figures = dict(steps=steps, restarts=1, loss="ce")
    entry = lambda t: _entry(t, fooling=fooled_share(f, x, y, t.value), **figures)
    xs, ys = np.asarray(x), np.asarray(y)
    out = {"pairs": {}}
    num_classes = int(f(x[:1]).shape[-1])
    for key_name, peer, make in (
            ("torchattacks_pgd", "torchattacks",
             lambda: peers.torchattacks_pgd(net, xs, ys, norm=setting.norm, eps=setting.eps,
                                            steps=steps, step_size=step_size, seed=seed)),
            ("art_pgd", "art",
             lambda: peers.art_pgd(net, xs, ys, norm=setting.norm, eps=setting.eps,
                                   num_classes=num_classes, steps=steps,
                                   step_size=step_size, seed=seed))):
        if not peers.installed(peer):
            out[key_name] = _missing(peer)
            continue
        pair = time_pair(same, make(), repeats=budget.slow_repeats, inner_a=budget.repeats,
                         warmup_b=budget.slow_warmup)
        out.setdefault("pgd", entry(pair.a))
        out[key_name] = entry(pair.b)
        out["pairs"][f"pgd_vs_{peer}_time_ratio"] = pair.time_ratio()
    if "pgd" not in out:
        out["pgd"] = entry(time_call(same, warmup=1, repeats=budget.repeats))
    ceiling = functools.partial(pgd, f, x, y, norm=setting.norm, eps=setting.eps, key=key,
                                steps=steps, restarts=budget.ceiling_restarts, loss="margin")
    t = time_call(ceiling, warmup=1, repeats=budget.repeats)
    out["pgd_restarts"] = _entry(t, fooling=fooled_share(f, x, y, t.value), steps=steps,
                                 restarts=budget.ceiling_restarts, loss="margin")
    return out


def compare_deepfool(shared: SharedTask, net, budget: ToyBudget) -> dict:
    """DeepFool (l2, unbounded) on all points: the project's against ART's.

    Results: the share of correctly classified points it flips and the median l2 size of
    its perturbations (smaller is better: DeepFool estimates the distance to the boundary).
    """
    f, x, y = shared.logits_fn, shared.x, shared.y

    def figures(t):
        r = np.asarray(t.value)
        return _entry(t, fooling=fooled_share(f, x, y, r),
                      median_l2=float(np.median(np.linalg.norm(r, axis=1))))

    ours = functools.partial(deepfool, f, x, y, norm="2", max_iter=budget.deepfool_iter,
                             **DEEPFOOL)
    if not peers.installed("art"):
        return {"deepfool": figures(time_call(ours, warmup=1, repeats=budget.repeats)),
                "art_deepfool": _missing("art"), "speedup": None}
    art = peers.art_deepfool(net, np.asarray(x), num_classes=int(f(x[:1]).shape[-1]),
                             overshoot=DEEPFOOL["overshoot"], max_iter=budget.deepfool_iter,
                             top_k=DEEPFOOL["top_k"])
    pair = time_pair(ours, art, repeats=budget.slow_repeats, inner_a=budget.repeats,
                     warmup_b=budget.slow_warmup)
    return {"deepfool": figures(pair.a), "art_deepfool": figures(pair.b),
            "speedup": pair.speedup()}


def compare_setting(shared: SharedTask, setting: Setting, budget: ToyBudget, *,
                    seed: int = 0, net=None) -> dict:
    """Every comparison of one setting, with the ratios computed pair by pair.

    Each ratio is the median over pairs of runs timed in alternation (its range is in
    ``"ratio_ranges"``), not a ratio of two medians taken at different times.

    Returns:
      ``{method: figures}``, ``"ratio_ranges"`` and ``"ratios"``: ``uap_vs_art_speedup``,
      ``uap_vs_art_time_to_rate_speedup`` (not paired: two medians), ``uap_over_exact``, ``uap_single_over_exact``,
      ``art_uap_over_exact``, ``exact_vs_torch_grid_speedup``,
      ``pgd_vs_torchattacks_time_ratio``, ``pgd_vs_art_time_ratio``,
      ``pgd_over_exact_pointwise``, ``pgd_restarts_over_exact_pointwise``,
      ``torchattacks_pgd_over_exact_pointwise`` (``None`` where a peer is missing).
    """
    net = to_torch(shared.logits_fn) if net is None else net
    out, pairs = {}, {}
    for part in (compare_exact(shared, setting, net, budget),
                 compare_universal(shared, setting, net, budget, seed=seed),
                 compare_pgd(shared, setting, net, budget, seed=seed)):
        pairs.update(part.pop("pairs"))
        out.update(part)
    out["ratio_ranges"] = pairs
    exact = out["exact"]
    median = lambda name: pairs[name]["median"] if name in pairs else None

    def over(entry, key):
        if "fooling" not in out[entry] or exact[key] <= 0:
            return None
        return out[entry]["fooling"] / exact[key]

    out["ratios"] = {
        "uap_vs_art_speedup": median("uap_vs_art_speedup"),
        "uap_vs_art_time_to_rate_speedup": out["time_to_art_rate"].get("speedup"),
        "uap_over_exact": over("uap", "universal"),
        "uap_single_over_exact": over("uap_single", "universal"),
        "art_uap_over_exact": over("art_uap", "universal"),
        "exact_vs_torch_grid_speedup": median("exact_vs_torch_grid_speedup"),
        "pgd_vs_torchattacks_time_ratio": median("pgd_vs_torchattacks_time_ratio"),
        "pgd_vs_art_time_ratio": median("pgd_vs_art_time_ratio"),
        "pgd_over_exact_pointwise": over("pgd", "pointwise"),
        "pgd_restarts_over_exact_pointwise": over("pgd_restarts", "pointwise"),
        "torchattacks_pgd_over_exact_pointwise": over("torchattacks_pgd", "pointwise"),
    }
    return out
