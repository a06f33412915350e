"""The report: each preset's four fractions, exact and estimated, and its verdict.

Example:
    >>> r = report_task("margins", norm="2", eps=0.15, tau=0.8, seed=0)  # doctest: +SKIP
    >>> r["verdict"], r["expected"]  # doctest: +SKIP
    (1, 1)
"""

from __future__ import annotations

import numpy as np

from attacks import parse_norm
from categories.certified import KEYS, certified_fractions
from categories.checks import check_classifier, check_eps
from categories.estimate import estimate_fractions
from categories.exact2d import exact_fractions
from categories.verdict import NAMES, check_tau, verdict
from categories.progress import announce, trained_setting
from toymodels import check_points, get_task, sample_of_d


def _model_and_data(task, logits_fn, *, seed, n_points, reuse, progress, model):
    """``(logits_fn, x, y, key)``: the task's trained model, or the user's checked."""
    if logits_fn is None:
        s = trained_setting(task, seed=seed, n_points=n_points, reuse=reuse, progress=progress)
        return s.logits_fn, s.x, s.y, s.key
    x, y, key = sample_of_d(task, seed, check_points(n_points))
    logits_fn = check_classifier(logits_fn, num_classes=task.num_classes,
                                 name=f"{model}()" if model else "the model")
    return logits_fn, x, y, key


def report_task(task, *, norm, eps=None, tau=0.8, seed=0, n_points: int = 1000,
                reuse: bool = True, progress=None, certified: bool = True,
                logits_fn=None, model: str | None = None) -> dict:
    """Trains (or reuses) the task's model, or takes the user's, and measures the four
    fractions.

    Args:
      task: a task name or a :class:`toymodels.Task` (e.g. from a CSV).
      norm: 2 or inf. eps: the radius (default: the task's). tau: the share.
      seed: the one seed: model training, the sample of D and the attacks.
      n_points: size of the sample of D (data-defined tasks use all their points).
      reuse: reuse the cached model of the preset configuration.
      progress: ``(stage, fraction)`` callback: training, scanning, attacking.
      certified: also prove the brackets (``False``: ``certified`` is None; the
        slowest part of a report).
      logits_fn: the user's classifier ``f32[n, 2] -> f32[n, classes]`` (its class k is
        the task's label k); None: train the task's preset model.
      model: how to name the user's model in the report (``"pkg.mod:build"``).

    Returns:
      A JSON-ready dict: ``model`` (None: the preset's trained model), ``expected``
      (the preset's category for its own model; None for a user's), ``verdict``,
      ``attack_verdict``, ``clean_accuracy``, ``exact`` and ``attack`` (each with the
      four fractions), ``certified`` (each fraction's certified bracket ``[lo, hi]``,
      see :func:`categories.certified_fractions`), ``by_attack``, ``universal_delta``,
      ``eps``, ``norm``, ``tau``, ``seed``.
    """
    task = get_task(task) if isinstance(task, str) else task
    norm = parse_norm(norm)
    eps = check_eps(task.default_eps if eps is None else eps)
    tau = check_tau(tau)
    theirs = logits_fn is not None
    logits_fn, x, y, k_attack = _model_and_data(task, logits_fn, seed=seed, n_points=n_points,
                                                reuse=reuse, progress=progress, model=model)
    announce(progress, "scanning")
    exact = exact_fractions(logits_fn, x, y, norm=norm, eps=eps)
    announce(progress, "attacking")
    est = estimate_fractions(logits_fn, x, y, norm=norm, eps=eps, key=k_attack)
    cert = None
    if certified:
        announce(progress, "certifying")
        cert = certified_fractions(logits_fn, x, y, norm=norm, eps=eps)
    ex = {k: float(getattr(exact, k)) for k in KEYS}
    at = {k: float(getattr(est, k)) for k in KEYS}
    v = verdict(ex, tau)
    return {
        "task": task.name, "model": model, "expected": None if theirs else task.expected,
        "verdict": v, "verdict_name": NAMES[v],
        "attack_verdict": verdict(at, tau), "clean_accuracy": float(exact.clean_accuracy),
        "exact": ex, "attack": at,
        "certified": None if cert is None else {k: [float(v) for v in getattr(cert, k)]
                                                for k in KEYS},
        "by_attack": {k: float(val) for k, val in est.by_attack.items()},
        "universal_delta": [float(d) for d in np.asarray(exact.universal_delta)],
        "eps": eps, "norm": norm, "tau": tau, "seed": seed, "points": int(len(x)),
    }


def format_table(reports: dict) -> str:
    """A plain-text table of :func:`report_task` results keyed by task name."""
    w = max([10, *(len(name) for name in reports)])
    head = (f"{'task':{w}s} {'exp':>3s} {'verdict':>7s} {'acc':>6s}  "
            + "  ".join(f"{k:>11s}" for k in KEYS) + "  " + f"{'width':>6s}"
            + "   (exact / attack; width: the widest certified bracket)")
    lines = [head, "-" * len(head)]
    for name, r in reports.items():
        cells = "  ".join(f"{r['exact'][k]:.3f}/{r['attack'][k]:.3f}" for k in KEYS)
        cert = r.get("certified")
        width = f"{max(hi - lo for lo, hi in cert.values()):6.4f}" if cert else f"{'-':>6s}"
        lines.append(f"{name:{w}s} {str(r['expected'] or '-'):>3s} {str(r['verdict']):>7s} "
                     f"{r['clean_accuracy']:6.3f}  {cells}  {width}")
    any_r = next(iter(reports.values()))
    lines.append(f"norm l{any_r['norm']}, tau {any_r['tau']}, seed {any_r['seed']}, "
                 f"eps {', '.join(sorted({str(r['eps']) for r in reports.values()}))}")
    return "\n".join(lines)
