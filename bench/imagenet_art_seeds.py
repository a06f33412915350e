"""ART against Algorithm 1 seed by seed, for many seeds and training sizes:
``python -m bench.imagenet_art_seeds --images 32 --seeds 0-5 --out FILE.json``.

The peer stage of :mod:`bench.imagenet_art` on one seed at a time (the same photos, the
same one evaluator, linf 10, target 0.8), each seed's figures written to ``FILE.json``
as soon as it is done (atomically): an interrupted run given the same ``--out`` goes on
with the seeds it lacks. ART takes minutes a seed at 32 photos, so a run of six seeds is
long; the per-seed records are what a reader needs (first-pass rates, the time to 0.8,
the held-out rates), and :func:`table` gives them with the geometric mean of the ratios.

Example (the table of two seeds' records; ``measure_seeds`` makes them, minutes a seed):
    >>> def record(seed, art, ours):   # a rate after each pass, and the seconds to 0.8
    ...     return {"images": 32, "seed": seed,
    ...             "art": {"history": [0.9], "times_s": [art], "to_target_s": art, "heldout": 0.5},
    ...             "deepfool": {"history": [0.9], "to_target_s": ours, "heldout": 0.5},
    ...             "sgd": {"heldout": 0.75}}
    >>> print(table([record(0, 40.0, 2.0), record(1, 90.0, 2.0)]).splitlines()[-1])
    Geometric mean of the ratios over 2 of 2 seeds: 30.0x
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from bench import peers
from bench.imagenet_art import METHODS, MODEL, TARGET, ArtBudget, _seed_run, project_run
from bench.measure import first_reaching
from store import OneLineParser, UsageError, run_main, write_json


def _record(r: dict, images: int) -> dict:
    """One seed's figures from :func:`bench.imagenet_art._seed_run`'s result."""
    art = r["art"]
    k = first_reaching(art["history"], TARGET)
    out = {"images": images, "seed": r["seed"],
           "art": {"history": art["history"], "times_s": art["times"], "heldout": art["heldout"],
                   "to_target_s": None if k is None else art["times"][k - 1]}}
    for method in METHODS:
        q = r[method]
        reached = first_reaching(q["history"], TARGET) is not None
        out[method] = {"history": q["history"], "wall_s": q["wall_s"], "heldout": q["heldout"],
                       "to_target_s": q["wall_s"] if reached else None}
    return out


def measure_seeds(images: int, seeds: list[int], *, passes: int, out: str) -> list[dict]:
    """Runs the seeds ``out`` lacks and returns every record in it.

    Args:
      images: training photos (8 held out besides).
      seeds: the splits' seeds.
      passes: ART's ``max_iter`` and the runner's pass budget.
      out: the JSON file of records (read first, rewritten after each seed).

    Returns:
      The records, one per seed (``{"images", "seed", "art", "deepfool", "sgd", "when"}``).
    """
    from bench.torch_lite import lite0_torch
    from imagenet import build_splits, load_model

    rows = json.loads(Path(out).read_text()) if Path(out).exists() else []
    todo = [s for s in seeds if not any(r["seed"] == s and r["images"] == images for r in rows)]
    if not todo:
        return rows
    model, net = load_model(MODEL), lite0_torch()
    warm = build_splits(None, images, 0, 0)
    for method in METHODS:      # compile the runner's steps once, untimed
        project_run(model, warm, method, passes=1, target=TARGET, seed=0)
    budget = ArtBudget(seeds=len(todo), passes=passes, images=images, val=8, check_images=0)
    for seed in todo:
        row = _record(_seed_run(model, net, budget, seed), images)
        row["when"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        rows.append(row)
        write_json(out, rows)
    return rows


def table(rows: list[dict]) -> str:
    """A Markdown table of the records, one row per seed, then the geometric mean of the
    ratios of ART's time to 0.8 over Algorithm 1's (seeds where either misses are
    left out of the mean and said)."""
    lines = ["| photos | seed | ART after pass 1 | Algorithm 1 after pass 1 | ART time to 0.8 | "
             "Algorithm 1 time to 0.8 | ratio | held out: ART, Algorithm 1, SGD |",
             "|---|---|---|---|---|---|---|---|"]
    logs = []
    for r in sorted(rows, key=lambda r: (r["images"], r["seed"])):
        art, ours = r["art"], r["deepfool"]
        a, o = art["to_target_s"], ours["to_target_s"]
        ratio = a / o if a and o else None
        if ratio:
            logs.append(math.log(ratio))
        passes = first_reaching(art["history"], TARGET)
        lines.append(
            f"| {r['images']} | {r['seed']} | {art['history'][0]:.3f} | {ours['history'][0]:.3f} | "
            + (f"{a:.1f} s (pass {passes})" if a else f"not in {len(art['history'])} passes")
            + " | " + (f"{o:.2f} s (pass {len(ours['history'])})" if o else "not reached")
            + " | " + (f"{ratio:.1f}x" if ratio else "-")
            + f" | {art['heldout']:.3f}, {ours['heldout']:.3f}, {r['sgd']['heldout']:.3f} |")
    mean = math.exp(sum(logs) / len(logs)) if logs else None
    lines.append("")
    lines.append(f"Geometric mean of the ratios over {len(logs)} of {len(rows)} seeds: "
                 + (f"{mean:.1f}x" if mean else "-"))
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    """``FIRST-LAST`` or ``A,B,...`` as seeds (argparse type: a bad value is one line)."""
    first, dash, last = text.partition("-")
    try:
        seeds = list(range(int(first), int(last) + 1)) if dash else [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"write seeds as FIRST-LAST or A,B,...: {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def _parse(argv):
    p = OneLineParser(prog="python -m bench.imagenet_art_seeds",
                      description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=32, help="training photos (8 held out besides)")
    p.add_argument("--seeds", type=_seeds, default="0-5", help="FIRST-LAST or A,B,...")
    p.add_argument("--passes", type=int, default=3, help="ART's max_iter and the runner's pass budget")
    p.add_argument("--out", required=True, help="the JSON file of per-seed records (resumed)")
    args = p.parse_args(argv)
    if not peers.installed("art"):
        raise UsageError("ART is not installed: pip install -r requirements-bench.txt")
    return args


def main(argv=None) -> int:
    return run_main(argv, _parse,
                    lambda a: measure_seeds(a.images, a.seeds, passes=a.passes, out=a.out),
                    lambda a, rows: table(rows))


if __name__ == "__main__":
    sys.exit(main())
