"""Train (or reuse) each task and print its four fractions, exact and by attack, and verdict."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, seed_of, tasks_of
from categories.report import format_table, report_task


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--tau", default="0.8", help="the 'almost all' share in (0, 1] (default 0.8)")
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")
    p.add_argument("--retrain", action="store_true", help="train afresh instead of reusing")


def run(args) -> int:
    from attacks import parse_norm
    from categories.report import check_eps
    from categories.verdict import check_tau

    norm = parse_norm(args.norm)
    eps = None if args.eps is None else check_eps(args.eps)
    tau = check_tau(args.tau)
    seed = seed_of(args)
    try:
        points = int(args.points)
        assert points > 0
    except (ValueError, AssertionError):
        raise ValueError(f"--points must be a positive whole number, got {args.points!r}") from None
    tasks = tasks_of(args)
    results = {t.name: report_task(t, norm=norm, eps=eps, tau=tau, seed=seed, n_points=points,
                                   reuse=not args.retrain) for t in tasks}
    emit(results, args, format_table)
    return 0
