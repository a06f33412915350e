"""Transfer: each model's universal perturbation on every other model of the same task."""

from __future__ import annotations

from categories.cli import add_common_arguments, emit, measure_each, parsed_options, whole


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--method", default="exact", choices=("exact", "attack"),
                   help="universal perturbations: exact 2D optimum or the attack")
    p.add_argument("--family", default="mixed", choices=("mixed", "seeds"),
                   help="mixed: another seed, half the width, tanh; seeds: four seeds")
    p.add_argument("--steps", default=None, type=whole("steps"),
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


def run(args) -> None:
    from categories import default_family, transfer_report

    norm, eps, seed, points = parsed_options(args)
    results = measure_each(args, lambda t, progress: transfer_report(
        t, norm=norm, eps=eps, seed=seed, n_points=points, method=args.method,
        configs=default_family(t.name, seed, steps=args.steps, kind=args.family), progress=progress))
    emit(results, args, format_table)
