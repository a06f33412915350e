"""Train (or reuse) each task and print its four fractions, exact and by attack, and verdict."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, parsed_options


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--tau", default="0.8", help="the 'almost all' share, in (0, 1]")
    p.add_argument("--retrain", action="store_true",
                   help="train afresh instead of reusing the cached model")


def run(args) -> int:
    from categories import check_tau, format_table, report_task

    norm, eps, seed, points = parsed_options(args)
    tau = check_tau(args.tau)
    results = measure_each(args, lambda t, progress: report_task(
        t, norm=norm, eps=eps, tau=tau, seed=seed, n_points=points, reuse=not args.retrain,
        progress=progress))
    emit(results, args, format_table)
    return 0
