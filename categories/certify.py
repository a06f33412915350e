"""A certified lower bound on ``robust`` beside the exact value and the attacks' upper bound.

Each point of D is searched by :func:`categories.certified_pointwise` (the one
bound-propagation engine with input splitting over B_eps): it ends *certified* (every
box of B_eps proven not to change its label: ``rho > eps``), *refuted* (a re-checked
delta inside B_eps changes it) or, if the search budget runs out, undecided. So
``certified_robust <= robust``, never more than the true robust fraction, and
``certified <= exact <= attack``: the exact scan is a resolution-limited search for
flips, and attacks only find some of them.

Example:
    >>> c = certify_points(logits_fn, x, y, norm="inf", eps=0.15)  # doctest: +SKIP
    >>> float(c.certified_robust) <= exact_robust  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import parse_norm
from categories.boxsearch import MAX_LEVELS
from categories.certified import certified_pointwise


class Certificate(NamedTuple):
    """Per-point certification at one eps."""

    eps: float
    certified: np.ndarray      # bool[n] certified robust (and correctly classified)
    refuted: np.ndarray        # bool[n] a label change found inside B_eps
    correct: np.ndarray        # bool[n] f(x) == y
    boxes: np.ndarray          # i32[n]  sub-boxes bounded per point
    certified_robust: float    # share of the correct points certified
    clean_accuracy: float


def certify_points(logits_fn, x, y, *, norm, eps, max_levels: int = MAX_LEVELS) -> Certificate:
    """Certifies each point of D at radius ``eps`` by bound propagation and input splitting.

    Args:
      logits_fn: any classifier the engine bounds (see :func:`categories.certified_fractions`).
      x: ``f32[n, 2]`` points of D; y: ``i32[n]`` their labels.
      norm: 2 or inf.
      eps: the radius (> 0).
      max_levels: rounds of splitting each undecided box in four; beyond, a point stays
        undecided.

    Returns:
      :class:`Certificate`.
    """
    p = certified_pointwise(logits_fn, x, y, norm=norm, eps=eps, max_levels=max_levels)
    correct = p.counted
    return Certificate(eps=float(eps), certified=p.certified, refuted=p.witnessed,
                       correct=correct, boxes=p.boxes.astype(np.int32),
                       certified_robust=p.robust.lo,
                       clean_accuracy=float(correct.mean()) if correct.size else 0.0)


def certify_measure(logits_fn, x, y, *, norm, eps, key, attack: bool = True, **kwargs) -> dict:
    """Certified, exact and attack ``robust`` side by side (JSON-ready).

    ``certified_robust <= exact_robust <= attack_robust``: the certificate is sound, the
    exact value is ``P[rho > eps]`` to the scan's resolution, and attacks (PGD with
    restarts, DeepFool) only find upper bounds of robust.

    Args:
      logits_fn, x, y: the model and the sample of D.
      norm, eps: the ball.
      key: the attacks' key.
      attack: also run the attacks.
      kwargs: passed to :func:`certify_points`.

    Returns:
      ``{"certified_robust", "exact_robust", "attack_robust", "refuted", "undecided",
      "mean_boxes", "clean_accuracy", "eps", "norm"}``.
    """
    from categories.exact2d import exact_fractions

    norm = parse_norm(norm)
    cert = certify_points(logits_fn, x, y, norm=norm, eps=eps, **kwargs)
    exact = exact_fractions(logits_fn, x, y, norm=norm, eps=eps)
    count = max(int(cert.correct.sum()), 1)
    out = {"certified_robust": cert.certified_robust,
           "exact_robust": min(max(float(exact.robust), 0.0), 1.0),
           "refuted": float(cert.refuted.sum() / count),
           "undecided": float((cert.correct & ~cert.certified & ~cert.refuted).sum() / count),
           "mean_boxes": float(cert.boxes[cert.correct].mean()) if cert.correct.any() else 0.0,
           "clean_accuracy": cert.clean_accuracy, "eps": float(eps), "norm": norm}
    if attack:
        out["attack_robust"] = attack_robust(logits_fn, x, y, norm=norm, eps=eps, key=key)
    return out


def attack_robust(logits_fn, x, y, *, norm, eps, key, steps: int = 20, restarts: int = 4) -> float:
    """``1 -`` the share of correct points that PGD or DeepFool (within eps) flips."""
    import attacks
    from attacks import lp_norm

    x = jnp.asarray(x, jnp.float32)
    pred = logits_fn(x).argmax(-1)
    correct = pred == jnp.asarray(y)
    d_pgd = attacks.pgd(logits_fn, x, pred, norm=norm, eps=eps, key=key, steps=steps,
                        restarts=restarts)
    classes = int(logits_fn(x[:1]).shape[-1])
    d_df = attacks.deepfool(logits_fn, x, pred, norm=norm, top_k=min(10, classes))
    flipped = (logits_fn(x + d_pgd).argmax(-1) != pred) | (
        (logits_fn(x + d_df).argmax(-1) != pred) & (lp_norm(d_df, norm) <= eps))
    count = jnp.maximum(correct.sum(), 1)
    return float(1.0 - (flipped & correct).sum() / count)


def certify_report(task, *, norm, eps=None, seed: int = 0, n_points: int = 1000,
                   attack: bool = True, progress=None, **kwargs) -> dict:
    """:func:`certify_measure` on a task's preset model and sample of D (see
    :func:`toymodels.make_setting`); adds ``task`` and ``expected``."""
    from categories.checks import check_eps
    from categories.progress import announce, trained_setting

    s = trained_setting(task, seed=seed, n_points=n_points, progress=progress)
    eps = check_eps(s.task.default_eps if eps is None else eps)
    announce(progress, "certifying")
    out = certify_measure(s.logits_fn, s.x, s.y, norm=norm, eps=eps, key=s.key, attack=attack,
                          **kwargs)
    out.update(task=s.task.name, expected=s.task.expected, seed=seed, points=int(s.x.shape[0]))
    return out


def certify_sweep(logits_fn, x, y, *, norm, eps_values, key, attack: bool = True,
                  **kwargs) -> dict:
    """Certified, exact and attack ``robust`` over a sweep of eps.

    Returns:
      ``{"eps": [...], "certified_robust": [...], "exact_robust": [...],
      "attack_robust": [...] (if attack), "norm"}``.
    """
    from categories.checks import check_eps

    eps_values = [check_eps(e) for e in eps_values]
    keys = jax.random.split(key, len(eps_values))
    rows = [certify_measure(logits_fn, x, y, norm=norm, eps=e, key=k, attack=attack, **kwargs)
            for e, k in zip(eps_values, keys)]
    out = {"eps": eps_values, "norm": parse_norm(norm)}
    for name in ("certified_robust", "exact_robust") + (("attack_robust",) if attack else ()):
        out[name] = [r[name] for r in rows]
    return out


def certify_curve(task, *, norm, eps_values, seed: int = 0, n_points: int = 1000,
                  attack: bool = True, **kwargs) -> dict:
    """:func:`certify_sweep` on a task's preset model and sample of D (adds ``task``, ``seed``)."""
    from toymodels import make_setting

    s = make_setting(task, seed=seed, n_points=n_points)
    out = certify_sweep(s.logits_fn, s.x, s.y, norm=norm, eps_values=eps_values, key=s.key,
                        attack=attack, **kwargs)
    out.update(task=s.task.name, seed=seed)
    return out


__all__ = ["Certificate", "attack_robust", "certify_curve", "certify_measure",
           "certify_points", "certify_report", "certify_sweep"]
