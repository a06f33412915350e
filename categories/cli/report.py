"""Train (or reuse) each task's model, or take yours, and print its four fractions (exact,
certified, by attack) and verdict."""

from __future__ import annotations

from categories import check_tau
from categories.cli import add_common_arguments, emit, measure_each, flag_type, parsed_options


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--tau", default="0.8", type=flag_type("tau", check_tau),
                   help="the 'almost all' share, in (0, 1]")
    p.add_argument("--retrain", action="store_true",
                   help="train afresh instead of reusing the cached model")
    p.add_argument("--model", metavar="MODULE:FUNCTION",
                   help="your 2D classifier instead of the trained one: FUNCTION() returns a "
                        "logits_fn, f32[n, 2] -> f32[n, classes] (MODULE from the current "
                        "folder first); --csv points are then kept in their own coordinates")


def run(args) -> None:
    from categories import format_table, report_task
    from store import call_spec

    norm, eps, seed, points = parsed_options(args)
    logits_fn = None
    if args.model is not None:
        if args.retrain:
            raise ValueError("--retrain trains the preset's model: it does not apply with --model")
        logits_fn = call_spec(args.model, flag="--model")
    results = measure_each(args, lambda t, progress: report_task(
        t, norm=norm, eps=eps, tau=args.tau, seed=seed, n_points=points, reuse=not args.retrain,
        progress=progress, logits_fn=logits_fn, model=args.model))
    emit(results, args, format_table)
