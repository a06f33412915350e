"""``python -m categories``: the command line of the four categories.

Subcommands live in their own modules; each provides ``add_arguments(parser)`` and
``run(args)``, which prints its results. Bad input gets one line on stderr and exit code 2
(:func:`store.run_main`): numbers are checked as they are parsed (:func:`flag_type`).

Example:
    python -m categories report --preset pancakes --norm inf --json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Callable

from attacks import parse_norm
from categories.checks import check_eps, check_seed
from store import OneLineParser, UsageError, run_main

# name -> module providing add_arguments(parser) and run(args)
SUBCOMMANDS = {name: f"categories.cli.{name}" for name in
               ("report", "normals", "crossings", "transfer", "retrain", "certify", "dominant")}


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The options every subcommand shares: the data, norm, eps, seed, points, output."""
    p.add_argument("--preset", default="all",
                   help="a preset or classic set, a comma-separated list, or 'all' (the four presets)")
    p.add_argument("--csv", help="a CSV of x,y,label rows to use instead of --preset")
    # toymodels' MAX_ROWS_LIMIT: a million rows fit in memory; larger files are refused as they stream
    p.add_argument("--max-rows", default="20000", type=whole("max-rows", 1, 1_000_000),
                   help="refuse CSVs with more rows (at most 1000000, which fits in memory)")
    p.add_argument("--norm", default="2", type=flag_type("norm", parse_norm), help="2 or inf")
    p.add_argument("--eps", default=None, type=flag_type("eps", check_eps),
                   help="the radius (default: each task's own, 0.15 for the presets)")
    p.add_argument("--seed", default="0", type=flag_type("seed", check_seed),
                   help="the one seed: model training, the sample of D and every attack")
    p.add_argument("--points", default="1000", type=whole("points"),
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


def flag_type(flag: str, check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` for ``--flag``: ``check(text)``, whose ValueError becomes a
    :class:`store.UsageError` whose line starts with ``--flag``.

    Why not argparse's own ``ArgumentTypeError``: argparse would put ``argument --flag:``
    before a message that already names the flag (``--points must be a whole number
    ...``). argparse lets any other exception through, so the one line stays the check's,
    and a bad number stops the command before any model is trained.

    Example:
        >>> flag_type("eps", check_eps)("0.1")
        0.1
        >>> try:
        ...     flag_type("eps", check_eps)("abc")
        ... except UsageError as e:
        ...     print(e)
        --eps must be a positive number, got 'abc'
    """
    def convert(text: str):
        try:
            return check(text)
        except ValueError as err:
            raise UsageError(_naming(flag, str(err))) from None

    convert.__name__ = flag
    return convert


def _naming(flag: str, message: str) -> str:
    """``message`` starting with ``--flag``: the checks call it ``eps``, ``the seed``, or
    already ``--points``; any other message gets ``--flag:`` before it."""
    for start in (f"--{flag} ", f"the {flag} ", f"{flag} "):
        if message.startswith(start):
            return f"--{flag} {message[len(start):]}"
    return f"--{flag}: {message}"


def whole(flag: str, lo: int = 1, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for a count: :func:`whole_number` in ``[lo, hi]``."""
    return flag_type(flag, lambda text: whole_number(text, flag, lo, hi))


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
        import os
        # the user's own model lives in the CSV's coordinates: its points are not rescaled
        return [load_csv(args.csv, name=os.path.basename(args.csv), max_rows=args.max_rows,
                         rescale=getattr(args, "model", None) is None)]
    names = list(PRESETS) if args.preset == "all" else [s.strip() for s in args.preset.split(",")]
    return [get_task(n) for n in names]


def parsed_options(args) -> tuple[str, float | None, int, int]:
    """``(norm, eps or None, seed, points)``: the options every subcommand passes on, each
    already checked by its argparse ``type=`` (:func:`flag_type`)."""
    return args.norm, args.eps, args.seed, args.points


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
    """Parses the arguments and runs one subcommand; returns the exit code (0, 2 or 130)."""
    return run_main(argv, build_parser().parse_args, lambda args: args._run(args),
                    lambda args, _: None)
