"""One benchmark run: every measurement in one process, so every ratio is pair by pair.

Three budgets: :data:`FULL` (the table of the README), :data:`QUICK` (under two
minutes on a quiet machine: fewer repeats, no warm-up of the peers, ART's universal
algorithm for one pass, timed against the project's at one pass, the brute force timed on
1/64 of its lattice, no ``universal_update`` on ImageNet; ART's ``UniversalPerturbation``
on ImageNet for one seed and at most 3 passes, which alone can take minutes),
:data:`SMOKE` (tiny sizes, the test suite's check of the plumbing only, no ImageNet).

Example (the smoke budget, ~20 s):
    >>> results = run_benchmark(SMOKE)
    >>> sorted(results["uap_over_exact"])
    ['l2 0.3']
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from typing import Callable, NamedTuple

from bench import peers
from bench.foundation import time_grid, time_presets, time_timeline
from bench.imagenet_art import ArtBudget
from bench.exact_grid import exact_evaluations, run_exact
from bench.machine import load_average, machine_info, matmul_peak, mlp_flops, share_of_matmul
from bench.task import N_POINTS, SETTINGS, TASK_NAME, shared_task
from bench.toy import ToyBudget, compare_deepfool, compare_setting
from bench.torch_mlp import to_torch
from toymodels import PRESETS


class Budget(NamedTuple):
    """What one run measures and how much."""

    mode: str
    settings: tuple = SETTINGS
    n_points: int = N_POINTS
    train_steps: int | None = None      # None: the presets' own
    toy: ToyBudget = ToyBudget()
    presets: tuple = tuple(PRESETS)
    preset_repeats: int = 3
    grid_res: int = 1024
    matmul_sizes: tuple = (2048, 4096)
    matmul_repeats: int = 5
    imagenet: bool = True
    imagenet_batch: int = 8
    imagenet_repeats: int = 3        # universal_update timings
    imagenet_pairs: int = 15         # forward+gradient / matmul pairs (its share is noisy on a shared CPU)
    imagenet_universal: bool = True
    app: bool = True
    certified: bool = True           # the certified brackets (categories.certified)
    certified_repeats: int = 5
    certified_radii: int = 24        # radii of the timed certified curve
    imagenet_art: ArtBudget | None = ArtBudget()  # ART's UniversalPerturbation vs run_universal


FULL = Budget(mode="full")
QUICK = Budget(mode="quick",
                toy=ToyBudget(repeats=3, slow_repeats=1, slow_warmup=0, uap_passes=10,
                              art_passes=1, grid_stride=64),
                preset_repeats=1, grid_res=512, matmul_sizes=(1024, 2048), matmul_repeats=3,
                certified_repeats=3,
                imagenet_batch=4, imagenet_repeats=1, imagenet_pairs=5, imagenet_universal=False,
                imagenet_art=ArtBudget(seeds=1, passes=3, check_images=2))
SMOKE = Budget(mode="smoke", settings=SETTINGS[2:], n_points=40, train_steps=30,
                toy=ToyBudget(repeats=1, slow_repeats=1, slow_warmup=0, uap_passes=1,
                              art_passes=1, grid_stride=256, pgd_steps=4, ceiling_restarts=2,
                              deepfool_iter=5),
                presets=(), preset_repeats=1, grid_res=32, matmul_sizes=(128,),
                matmul_repeats=1, imagenet=False, app=False, certified_repeats=1,
                certified_radii=3, imagenet_art=None)
BUDGETS = {"full": FULL, "quick": QUICK, "smoke": SMOKE}
STAGES = ("presets", "imagenet", "imagenet-art", "app", "certified")  # the stages a run can skip


def without(budget: Budget, stages) -> Budget:
    """``budget`` with the named stages (of :data:`STAGES`) left out."""
    bad = sorted(set(stages) - set(STAGES))
    if bad:
        raise ValueError(f"unknown stage {bad[0]!r}: choose from {', '.join(STAGES)}")
    return budget._replace(**{"presets": () if "presets" in stages else budget.presets,
                              "imagenet": budget.imagenet and "imagenet" not in stages,
                              "imagenet_art": None if "imagenet-art" in stages else budget.imagenet_art,
                              "app": budget.app and "app" not in stages,
                              "certified": budget.certified and "certified" not in stages})

# The per-setting figures the JSON puts at its top level, {setting: value}.
HEADLINE = ("uap_vs_art_speedup", "uap_vs_art_time_to_rate_speedup", "uap_over_exact",
            "uap_single_over_exact",
            "art_uap_over_exact",
            "exact_vs_torch_grid_speedup", "pgd_vs_torchattacks_time_ratio",
            "pgd_over_exact_pointwise", "pgd_restarts_over_exact_pointwise")


_START = time.perf_counter()


def _progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - _START:6.1f} s] {message}", file=sys.stderr, flush=True)


def measure_app(quick: bool) -> dict:
    """The app engineer's ``bench.app_timing.measure_app``, or why it was skipped."""
    try:
        from bench.app_timing import measure_app as measure
    except ImportError:
        return {"status": "skipped", "note": "bench/app_timing.py is not there yet"}
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return {"status": "skipped", "note": "Chromium is not installed (apt-get install chromium)"}
    try:
        return {"status": "measured", **measure(quick)}
    except Exception as e:  # noqa: BLE001 - a broken app must not lose the other figures
        first = (str(e).strip().splitlines() or [""])[0]
        return {"status": "failed", "note": f"{type(e).__name__}: {first}"[:200]}


def hot_paths(shared, budget: Budget) -> dict:
    """FLOP rates of the plane's hot paths, each as a share of a matmul run beside it.

    Returns:
      ``{"grid": ..., "exact <setting>": ...}``: timing, ``gflops``, ``share_of_peak``,
      ``share_range``, ``paired_matmul_gflops`` (see :func:`bench.machine.share_of_matmul`).
    """
    f, per_point = shared.logits_fn, mlp_flops(shared.logits_fn)
    size = min(2048, max(budget.matmul_sizes))
    out = {"grid": time_grid(f, res=budget.grid_res, repeats=budget.toy.repeats,
                             matmul_size=size)}
    for s in budget.settings:
        evals = exact_evaluations(len(shared.x), s.norm)
        run = functools.partial(run_exact, f, shared.x, shared.y, norm=s.norm, eps=s.eps)
        out[f"exact {s.name}"] = {"evaluations": evals, **share_of_matmul(
            run, evals * per_point, repeats=budget.toy.repeats, size=size)}
    return out


def _toy_stages(out: dict, budget: Budget, seed: int, progress: Callable[[str], None]) -> None:
    """The stages on the shared toy task, in order, each adding its entries to ``out``:
    the task (trained here, so its cold time is measured), the settings and their headline
    figures, DeepFool, the hot paths and the certified brackets.

    Args:
      out: the run being built (its key order is the JSON's).
      budget, seed, progress: as :func:`run_benchmark`'s.
    """
    progress(f"shared task {TASK_NAME}: training its MLP, {budget.n_points} points")
    t0 = time.perf_counter()
    shared = shared_task(budget.n_points, seed=seed, steps=budget.train_steps)
    net = to_torch(shared.logits_fn)
    out["task"] = {"name": TASK_NAME, "points": budget.n_points,
                   "model": f"MLP {shared.config.depth}x{shared.config.width} "
                            f"{shared.config.activation}, seed {shared.config.seed}",
                   "steps": shared.config.steps, "accuracy": shared.accuracy,
                   "mlp_flops_per_point": mlp_flops(shared.logits_fn),
                   "cold_train_s": time.perf_counter() - t0}

    out["settings"] = {}
    for setting in budget.settings:
        progress(f"setting {setting.name}: exact, brute force, universal, PGD")
        out["settings"][setting.name] = compare_setting(shared, setting, budget.toy,
                                                        seed=seed, net=net)
    for name in HEADLINE:
        out[name] = {s: r["ratios"][name] for s, r in out["settings"].items()}
    progress("DeepFool")
    out["deepfool"] = compare_deepfool(shared, net, budget.toy)

    progress("hot paths, each timed beside a matmul: grid evaluation, exact")
    out["hot_paths"] = hot_paths(shared, budget)

    out["certified"] = None
    if budget.certified:
        progress("certified brackets: universal, pointwise, random, the curve")
        from bench.certified_bench import measure_certified

        out["certified"] = measure_certified(shared, budget.settings,
                                             repeats=budget.certified_repeats,
                                             radii=budget.certified_radii)


def _imagenet_stages(out: dict, budget: Budget, peak_gflops: float, seed: int,
                     progress: Callable[[str], None]) -> None:
    """The ImageNet stages, each None where the budget leaves it out: the model's
    forward+gradient rate (against the run's matmul peak) and the comparison with ART.

    Args:
      out: the run being built.
      budget, seed, progress: as :func:`run_benchmark`'s.
      peak_gflops: the run's matmul peak.
    """
    out["imagenet"] = None
    if budget.imagenet:
        progress("ImageNet: EfficientNet-Lite0 forward+gradient"
                 + (", universal_update" if budget.imagenet_universal else ""))
        from bench.imagenet_bench import measure_imagenet

        out["imagenet"] = measure_imagenet(batch=budget.imagenet_batch,
                                           repeats=budget.imagenet_repeats,
                                           pairs=budget.imagenet_pairs,
                                           peak_gflops=peak_gflops,
                                           universal=budget.imagenet_universal, seed=seed)
    out["imagenet_vs_art"] = None
    if budget.imagenet_art:
        progress("ImageNet: ART UniversalPerturbation against imagenet.run_universal")
        from bench.imagenet_art import measure_imagenet_art

        out["imagenet_vs_art"] = measure_imagenet_art(budget.imagenet_art, progress=progress)


def run_benchmark(budget: Budget = FULL, *, seed: int = 0,
                  progress: Callable[[str], None] = _progress) -> dict:
    """Runs every measurement of ``budget`` and returns one JSON-ready object.

    Args:
      budget: :data:`FULL`, :data:`QUICK` or :data:`SMOKE` (or a custom :class:`Budget`).
      seed: the shared task's seed (model, points and attack keys).
      progress: called with a line before each stage.

    Returns:
      ``{"machine", "budget", "matmul_peak_gflops", <HEADLINE figures by setting>,
      "task", "settings": {setting: figures}, "deepfool", "hot_paths", "certified",
      "presets",
      "imagenet", "imagenet_vs_art" (:func:`bench.imagenet_art.measure_imagenet_art`), "app",
      "peers", "seconds"}``.
    """
    start = time.perf_counter()
    out = {"machine": machine_info(), "budget": budget.mode,
           "peers": {p: peers.peer_version(p) or "not installed" for p in peers.PEERS}}
    progress("matmul peak")
    peak = matmul_peak(budget.matmul_sizes, repeats=budget.matmul_repeats)
    out["matmul_peak_gflops"] = peak["gflops"]
    out["matmul"] = peak["by_size"]

    _toy_stages(out, budget, seed, progress)
    progress(f"preset training: {', '.join(budget.presets)}")
    out["presets"] = time_presets(budget.presets, repeats=budget.preset_repeats,
                                  steps=budget.train_steps)
    out["timeline"] = None
    if budget.presets:
        progress("training with the timeline's snapshots against plain training")
        out["timeline"] = time_timeline(budget.presets[0], repeats=budget.preset_repeats,
                                        steps=budget.train_steps)

    _imagenet_stages(out, budget, peak["gflops"], seed, progress)
    out["app"] = None
    if budget.app:
        progress("app timing")
        out["app"] = measure_app(budget.mode != "full")
    out["seconds"] = time.perf_counter() - start
    out["machine"]["load_average_end"] = load_average()
    return out
