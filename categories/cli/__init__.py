"""``python -m categories``: the command line of the four categories.

Subcommands live in their own modules; each provides ``add_arguments(parser)`` and
``run(args) -> int``. Bad input gets one line on stderr and exit code 2.

Example:
    python -m categories report --preset pancakes --norm inf --json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from store import OneLineParser, UsageError

# name -> module providing add_arguments(parser) and run(args)
SUBCOMMANDS = {name: f"categories.cli.{name}" for name in
               ("report", "normals", "crossings", "transfer", "retrain", "certify", "dominant")}


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The options every subcommand shares: the data, norm, eps, seed, points, output."""
    p.add_argument("--preset", default="all",
                   help="a preset or classic set, a comma-separated list, or 'all' (the four presets)")
    p.add_argument("--csv", help="a CSV of x,y,label rows to use instead of --preset")
    p.add_argument("--max-rows", default="20000",
                   help="refuse CSVs with more rows (at most 1000000, which fits in memory)")
    p.add_argument("--norm", default="2", help="2 or inf")
    p.add_argument("--eps", default=None,
                   help="the radius (default: each task's own, 0.15 for the presets)")
    p.add_argument("--seed", default="0",
                   help="the one seed: model training, the sample of D and every attack")
    p.add_argument("--points", default="1000",
                   help="size of the sample of D (CSV data sets use all their rows)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by task")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar on stderr (it is off anyway with --json when stderr "
                        "is not a terminal)")


def whole_number(value, flag: str, lo: int = 1, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``, else ValueError naming ``--flag`` (one line)."""
    span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--{flag} must be a whole number {span}, got {value!r}") from None
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"--{flag} must be a whole number {span}, got {value!r}")
    return v


def name_width(names, at_least: int = 10) -> int:
    """The width of a table's task column: the longest name, at least ``at_least``."""
    return max([at_least, *(len(n) for n in names)])


class StageBar:
    """A progress bar over the tasks on stderr, naming the current task and its stage
    (training, scanning, attacking, ...); a ``(stage, fraction)`` callback."""

    def __init__(self, total: int, *, quiet: bool = False, json_mode: bool = False):
        from tqdm import tqdm

        off = quiet or (json_mode and not sys.stderr.isatty())
        self.bar = tqdm(total=total, file=sys.stderr, disable=off, unit="task", leave=False,
                        bar_format="{desc} [{n_fmt}/{total_fmt} tasks, {elapsed}]")

    def task(self, name: str) -> None:
        self.name = name
        self.bar.set_description_str(name)

    def __call__(self, stage: str, done: float) -> None:
        self.bar.set_description_str(f"{self.name}: {stage}"
                                     + (f" {done:.0%}" if 0 < done < 1 else ""))

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def measure_each(args, measure) -> dict:
    """``{task name: measure(task, progress)}`` over the tasks of ``--preset``/``--csv``,
    with a :class:`StageBar` (unless ``--quiet``)."""
    tasks = tasks_of(args)
    bar = StageBar(len(tasks), quiet=args.quiet, json_mode=args.json)
    try:
        results = {}
        for t in tasks:
            bar.task(t.name)
            results[t.name] = measure(t, bar)
            bar.done()
        return results
    finally:
        bar.close()


def tasks_of(args) -> list:
    """The tasks named by ``--preset`` or ``--csv`` (raises ValueError with one line)."""
    from toymodels import PRESETS, get_task, load_csv

    if args.csv:
        # toymodels' MAX_ROWS_LIMIT: a million rows fit in memory; larger files are refused as they stream
        max_rows = whole_number(args.max_rows, "max-rows", 1, 1_000_000)
        import os
        # the user's own model lives in the CSV's coordinates: its points are not rescaled
        return [load_csv(args.csv, name=os.path.basename(args.csv), max_rows=max_rows,
                         rescale=getattr(args, "model", None) is None)]
    names = list(PRESETS) if args.preset == "all" else [s.strip() for s in args.preset.split(",")]
    return [get_task(n) for n in names]


def seed_of(args) -> int:
    """``--seed`` by :func:`categories.check_seed`, the app's rule too (one-line ValueError)."""
    from categories import check_seed

    try:
        return check_seed(args.seed)
    except ValueError as e:
        raise ValueError(f"--{e}".replace("--the seed", "--seed")) from None


def parsed_options(args) -> tuple[str, float | None, int, int]:
    """``(norm, eps or None, seed, points)`` from a geometry subcommand's arguments.

    Raises:
      ValueError: one line naming the bad option.
    """
    from attacks import parse_norm
    from categories import check_eps

    norm = parse_norm(args.norm)
    eps = None if args.eps is None else check_eps(args.eps)
    return norm, eps, seed_of(args), whole_number(args.points, "points")


def emit(results: dict, args, table) -> None:
    """Prints ``results`` as JSON (``--json``) or with the ``table`` formatter."""
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        print(table(results))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m categories",
                           description="Measure the four robustness categories on 2D models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, module in SUBCOMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=mod.__doc__.strip().splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    """Parses the arguments and runs one subcommand; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args._run(args)
    except (UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
