"""Transfer: each model's universal perturbation on every other model of the same task."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, tasks_of


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--points", default="1000", help="sample size of D (default 1000)")
    p.add_argument("--method", default="exact", choices=("exact", "attack"),
                   help="universal perturbations: exact 2D optimum or the attack (default exact)")
    p.add_argument("--family", default="mixed", choices=("mixed", "seeds"),
                   help="mixed: another seed, half the width, tanh; seeds: four seeds "
                        "(default mixed)")
    p.add_argument("--steps", default=None,
                   help="training steps of every model of the family (default: the preset's)")


def format_table(results: dict) -> str:
    """The K x K matrix per task: rows the perturbation's model, columns the model fooled."""
    lines = []
    for name, r in results.items():
        width = max(len(n) for n in r["names"])
        lines.append(f"{name}: fooling rate of row's universal delta on column's model")
        lines.append(" " * (width + 1) + " ".join(f"{i:>6d}" for i in range(len(r["names"]))))
        for i, (n, row) in enumerate(zip(r["names"], r["matrix"])):
            lines.append(f"{n:>{width}s} " + " ".join(f"{v:6.3f}" for v in row) + f"   ({i})")
        lines.append("")
    return "\n".join(lines).rstrip()


def run(args) -> int:
    from categories.cli import parsed_options
    from categories.transfer import transfer_report

    from categories.transfer import default_family

    norm, eps, seed, points = parsed_options(args)
    steps = None
    if args.steps is not None:
        try:
            steps = int(args.steps)
            assert steps >= 1
        except (ValueError, AssertionError):
            raise ValueError(f"--steps must be a positive whole number, got {args.steps!r}") from None
    results = {t.name: transfer_report(t, norm=norm, eps=eps, seed=seed, n_points=points,
                                       method=args.method,
                                       configs=default_family(t.name, seed, steps=steps,
                                                              kind=args.family))
               for t in tasks_of(args)}
    emit(results, args, format_table)
    return 0
