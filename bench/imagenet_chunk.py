"""Algorithm 1's sequential sub-updates inside a batch (``RunConfig.chunk``) at full scale, measured.

``python -m bench.imagenet_chunk --json out.json`` runs ``imagenet.run_universal`` with Algorithm 1
(``method="deepfool"``, linf, eps 10, target 0.8, RunConfig's defaults otherwise) on
EfficientNet-Lite0 and the bundled photos (``imagenet.build_splits(None, images, val, seed)``)
for each chunk and seed, and prints one line per run and the means per chunk:

- ``first_pass``: the training fooling rate after the first pass (``fooling_rate_history[0]``);
- ``passes_to_target``, ``time_to_target_s``: the pass after which the rate first reached 0.8 and
  the wall time of the whole run that stopped there (it includes the held-out measurement and
  the outputs, the same work for every chunk); None if it did not within the pass budget;
- ``heldout``: the held-out fooling rate of the run's best ``v``.

Every chunk is compiled by one untimed run first; within a seed the chunks run one after the
other, so a change of load touches all of them alike. Same gradients for every chunk: a piece
is one forward pass of its images and DeepFool's linearisations of the unfooled ones.

Example (minutes: it loads Lite0 and runs Algorithm 1 many times, so not run by the doctests):
    >>> out = measure_chunks(ChunkBudget(chunks=(8, 1), seeds=1))  # doctest: +SKIP
    >>> sorted(out["means"])  # doctest: +SKIP
    ['1', '8']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

from bench.imagenet_art import EPS, MODEL, TARGET, _mean, first_reaching, project_run
from store import OneLineParser, run_main, write_text


class ChunkBudget(NamedTuple):
    """What :func:`measure_chunks` runs."""

    chunks: tuple[int, ...] = (8, 4, 2, 1)   # images per sequential sub-update (8 = batch: one update)
    seeds: int = 6                           # seeds 0, 1, ...: the split and the pass orders
    images: int = 8                          # training photos
    val: int = 8                             # held-out photos
    batch: int = 8                           # images per update
    passes: int = 5                          # the pass budget


def chunk_run(classifier, splits, *, chunk: int, batch: int, passes: int, seed: int) -> dict:
    """One ``run_universal`` of Algorithm 1 with ``chunk``, timed (:func:`bench.imagenet_art.project_run`).

    Returns:
      ``{"chunk", "seed", "history", "first_pass", "passes_to_target", "wall_s",
      "time_to_target_s", "heldout", "linf", "load"}`` (the 1-minute load average after it).
    """
    r = project_run(classifier, splits, "deepfool", passes=passes, target=TARGET, seed=seed, batch=batch,
                    chunk=chunk)
    history = [float(h) for h in r["history"]]
    reached = first_reaching(history, TARGET)
    return {"chunk": chunk, "seed": seed, "history": history, "first_pass": history[0],
            "passes_to_target": reached, "wall_s": r["wall_s"],
            "time_to_target_s": r["wall_s"] if reached else None, "heldout": r["heldout_reported"],
            "linf": float(np.max(np.abs(r["v"]))), "load": os.getloadavg()[0]}


def means(runs: Sequence[dict]) -> dict:
    """Per chunk (keyed by its text): the means over seeds, and how many seeds reached the target.

    >>> run = dict(passes_to_target=None, time_to_target_s=None, heldout=0.25, linf=2.0)
    >>> m = means([dict(run, chunk=1, first_pass=0.5), dict(run, chunk=1, first_pass=1.0, passes_to_target=1,
    ...                                                      time_to_target_s=9.0)])
    >>> m["1"]["first_pass"], m["1"]["reached"], m["1"]["time_to_target_s"]
    (0.75, 1, 9.0)
    """
    out = {}
    for chunk in sorted({r["chunk"] for r in runs}, reverse=True):
        rs = [r for r in runs if r["chunk"] == chunk]
        out[str(chunk)] = {
            "seeds": len(rs), "first_pass": _mean(r["first_pass"] for r in rs),
            "reached": sum(r["passes_to_target"] is not None for r in rs),
            "passes_to_target": _mean(r["passes_to_target"] for r in rs),
            "time_to_target_s": _mean(r["time_to_target_s"] for r in rs),
            "heldout": _mean(r["heldout"] for r in rs), "linf": _mean(r["linf"] for r in rs)}
    return out


def measure_chunks(budget: ChunkBudget = ChunkBudget(), *,
                   progress: Callable[[str], None] = lambda message: None) -> dict:
    """Algorithm 1 on Lite0 and the bundled photos for every chunk and seed of ``budget``.

    Returns:
      ``{"model", "eps", "target", "budget", "machine", "compile_s", "runs", "means", "seconds"}``.
    """
    from bench.machine import machine_info
    from imagenet import build_splits, load_model

    start = time.perf_counter()
    model = load_model(MODEL)
    warm = build_splits(None, budget.images, budget.val, 0)
    compile_s = {}
    for chunk in budget.chunks:
        progress(f"chunk {chunk}: compiling (one untimed run)")
        compile_s[str(chunk)] = chunk_run(model, warm, chunk=chunk, batch=budget.batch, passes=1, seed=0)["wall_s"]
    runs = []
    for seed in range(budget.seeds):
        splits = build_splits(None, budget.images, budget.val, seed)
        for chunk in budget.chunks:
            runs.append(chunk_run(model, splits, chunk=chunk, batch=budget.batch, passes=budget.passes, seed=seed))
            progress(row_line(runs[-1]))
    return {"model": MODEL, "eps": EPS, "target": TARGET, "budget": budget._asdict(), "machine": machine_info(),
            "compile_s": compile_s, "runs": runs, "means": means(runs), "seconds": time.perf_counter() - start}


def _f(x, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def row_line(r: dict) -> str:
    """One run as a line: chunk, seed, first-pass rate, passes and time to the target, held out."""
    return (f"chunk {r['chunk']:>2}  seed {r['seed']}  first pass {r['first_pass']:.3f}  "
            f"to {TARGET}: {_f(r['passes_to_target'], 'd')} passes, {_f(r['time_to_target_s'], '.1f')} s  "
            f"held out {_f(r['heldout'])}  |v|_inf {r['linf']:.1f}  by pass {', '.join(f'{h:.3f}' for h in r['history'])}")


def table(out: dict) -> str:
    """The means per chunk as a markdown table, under a line naming the machine and the budget."""
    b, m = out["budget"], out["machine"]
    lines = [f"{out['model']}, linf {out['eps']:g}, target {out['target']}, {b['images']} training / {b['val']} "
             f"held-out photos, batch {b['batch']}, {b['passes']} passes at most, seeds 0-{b['seeds'] - 1}; "
             f"{m['cpu']}, {m['cores']} cores, {m['date']}",
             "",
             "| chunk | first pass | seeds at 0.8 | passes to 0.8 | time to 0.8 (s) | held out | |v|_inf |",
             "|---|---|---|---|---|---|---|"]
    for chunk, s in out["means"].items():
        lines.append(f"| {chunk} | {_f(s['first_pass'])} | {s['reached']}/{s['seeds']} | "
                     f"{_f(s['passes_to_target'], '.2f')} | {_f(s['time_to_target_s'], '.1f')} | "
                     f"{_f(s['heldout'])} | {_f(s['linf'], '.1f')} |")
    return "\n".join(lines)


def _chunks(text: str) -> tuple[int, ...]:
    """``--chunks``: comma-separated whole numbers."""
    try:
        return tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--chunks takes whole numbers separated by commas, got {text!r}")


def parse_args(argv: Sequence[str]):
    """The command line's arguments, each chunk checked against --batch before Lite0 is loaded."""
    p = OneLineParser(prog="python -m bench.imagenet_chunk", description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=_chunks, default=(8, 4, 2, 1),
                   help="comma-separated chunks, each a divisor of --batch (default 8,4,2,1)")
    p.add_argument("--seeds", type=int, default=6, help="seeds 0 .. N-1")
    p.add_argument("--images", type=int, default=8, help="training photos")
    p.add_argument("--val", type=int, default=8, help="held-out photos")
    p.add_argument("--batch", type=int, default=8, help="images per update")
    p.add_argument("--passes", type=int, default=5, help="the pass budget")
    p.add_argument("--json", default=None, help="also write the measurement here")
    args = p.parse_args(argv)
    from imagenet import RunConfig

    for chunk in args.chunks:  # the runner's own check: one line naming --chunk
        RunConfig(batch=args.batch, chunk=chunk).validated()
    return args


def _measure(args) -> dict:
    budget = ChunkBudget(args.chunks, args.seeds, args.images, args.val, args.batch, args.passes)
    out = measure_chunks(budget, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        write_text(args.json, json.dumps(out, indent=1))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: measure, print the table, write the JSON if asked (bad input: one line, exit 2)."""
    return run_main(argv, parse_args, _measure, lambda args, out: table(out))


if __name__ == "__main__":
    sys.exit(main())
