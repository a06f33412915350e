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
    """The options every subcommand shares: preset, norm, eps, seed, json."""
    p.add_argument("--preset", default="all",
                   help="a preset or classic set, a comma-separated list, or 'all' (the four presets)")
    p.add_argument("--csv", help="a CSV of x,y,label rows to use instead of --preset")
    p.add_argument("--max-rows", default="20000", help="refuse CSVs with more rows (default 20000)")
    p.add_argument("--norm", default="2", help="2 or inf (default 2)")
    p.add_argument("--eps", default=None, help="the radius (default: each task's own, 0.15 for presets)")
    p.add_argument("--seed", default="0", help="the one seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by task")


def tasks_of(args) -> list:
    """The tasks named by ``--preset`` or ``--csv`` (raises ValueError with one line)."""
    from toymodels import PRESETS, get_task, load_csv

    if args.csv:
        try:
            max_rows = int(args.max_rows)
        except ValueError:
            raise ValueError(f"--max-rows must be a whole number, got {args.max_rows!r}") from None
        import os
        return [load_csv(args.csv, name=os.path.basename(args.csv), max_rows=max_rows)]
    names = list(PRESETS) if args.preset == "all" else [s.strip() for s in args.preset.split(",")]
    return [get_task(n) for n in names]


def seed_of(args) -> int:
    try:
        return int(args.seed)
    except ValueError:
        raise ValueError(f"--seed must be a whole number, got {args.seed!r}") from None


def parsed_options(args) -> tuple[str, float | None, int, int]:
    """``(norm, eps or None, seed, points)`` from a geometry subcommand's arguments.

    Raises:
      ValueError: one line naming the bad option.
    """
    from attacks import parse_norm
    from categories import check_eps
    from toymodels import check_points

    norm = parse_norm(args.norm)
    eps = None if args.eps is None else check_eps(args.eps)
    try:
        points = check_points(args.points)
    except ValueError:
        raise ValueError(f"--points must be a positive whole number, got {args.points!r}") from None
    return norm, eps, seed_of(args), points


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
