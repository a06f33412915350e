"""Retraining on perturbations of D, and the category before and after.

Moosavi-Dezfooli et al. fine-tuned their networks on images carrying perturbations,
with limited success; the essay names retraining "randomly or adversarially" as the
obvious attempt to move a model from category i to i-1. Here a trained plane model
is fine-tuned (Adam, ``steps`` steps per round, the jitted ``lax.scan`` of
:func:`toymodels.train.train_chunk`) on its original training set mixed half and half
with perturbed points of D that keep their *true* labels:

- ``random``: ``I + delta``, delta uniform on S_eps, fresh each round;
- ``pgd``: per-point adversarial perturbations (PGD in B_eps against the current model);
- ``universal``: the current model's exact universal perturbation (found on the
  first 500 points of the round's sample), one shared delta.

Before each round the perturbations are recomputed against the current model (the
paper's repeated fine-tuning). The four exact fractions, their curves over eps and
the verdict are measured on the same sample of D before and after. Whether the
category moves is the result, not a goal: the fine-tuning set is the same mix of
plane points, and nothing pushes the verdict.

Example:
    >>> r = retrain_report("pancakes", method="pgd", norm="2", eps=0.15)  # doctest: +SKIP
    >>> r["before"]["verdict"], r["after"]["verdict"]  # doctest: +SKIP
    (3, 1)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from attacks import parse_norm

METHODS = ("random", "pgd", "universal")


class Retrained(NamedTuple):
    """A fine-tuned model and its training record."""

    logits_fn: jax.tree_util.Partial
    history: dict   # "round", "loss", "perturbed_accuracy" (before each round's steps): lists


def check_method(method: str) -> str:
    """Returns ``method`` if it is one of :data:`METHODS`, else raises ValueError."""
    if method not in METHODS:
        raise ValueError(f"unknown retraining method {method!r}: use one of {', '.join(METHODS)}")
    return method


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


@jax.jit
def _accuracy(logits_fn, x, y):
    return (logits_fn(x).argmax(-1) == y).mean()


def perturb(logits_fn, x, y, *, method, norm, eps, key) -> jax.Array:
    """The perturbations of D that one retraining round trains on.

    Args:
      logits_fn: the current model.
      x: ``f32[n, 2]`` points of D; y: ``i32[n]`` their true labels.
      method: random, pgd or universal.
      norm, eps: the ball.
      key: a ``jax.random.key``.

    Returns:
      ``f32[n, 2]`` perturbations (the universal one repeated on every row).
    """
    import attacks

    method = check_method(method)
    norm = parse_norm(norm)
    if method == "random":
        return attacks.sample_sphere(key, x.shape, norm, eps)
    if method == "pgd":
        return attacks.pgd(logits_fn, x, y, norm=norm, eps=eps, key=key, steps=10, restarts=1)
    from categories.exact2d import exact_fractions

    # one shared delta: the exact optimum on (at most) the first 500 points is plenty
    delta = exact_fractions(logits_fn, x[:500], y[:500], norm=norm, eps=eps).universal_delta
    return jnp.broadcast_to(delta, x.shape)


def retrain(task, logits_fn, *, method: str, norm, eps, key, rounds: int = 3, steps: int = 200,
            learning_rate: float = 1e-3, batch_size: int = 256, n_perturbed: int = 2000) -> Retrained:
    """Fine-tunes a plane model on its training set mixed with perturbed points of D.

    Args:
      task: the :class:`toymodels.Task` the model was trained on.
      logits_fn: a ``Partial(apply_state, graphdef, params)`` (from :func:`toymodels.train`).
      method: random, pgd or universal (see the module docstring).
      norm: 2 or inf. eps: the perturbations' radius.
      key: a ``jax.random.key``: the fine-tuning sample of D, the perturbations, the batches.
      rounds: perturbation recomputations; steps: Adam steps per round.
      learning_rate: constant Adam learning rate.
      batch_size: points per step.
      n_perturbed: points of D perturbed per round (the training set's D is separate
        from any evaluation sample).

    Returns:
      :class:`Retrained`.
    """
    from toymodels import apply_state
    from toymodels import train_chunk, training_set

    method = check_method(method)
    norm = parse_norm(norm)
    if rounds < 1 or steps < 1:
        raise ValueError(f"rounds and steps must be at least 1, got {rounds} and {steps}")
    if getattr(logits_fn, "func", None) is not apply_state:
        raise ValueError("retraining needs a toymodels MLP (a Partial of toymodels.mlp.apply_state)")
    graphdef, params = logits_fn.args
    k_set, k_d, k_rounds = jax.random.split(key, 3)
    xt, yt = (jnp.asarray(a) for a in training_set(task, k_set))
    if task.points is not None:
        xd, yd = xt, yt
    else:
        xd, yd = task.sample(k_d, n_perturbed)
    optimizer = _adam(float(learning_rate))
    opt_state = optimizer.init(params)
    # Half of every batch, on average, comes from the perturbed points.
    reps = max(1, int(round(xt.shape[0] / xd.shape[0])))
    history = {"round": [], "loss": [], "perturbed_accuracy": []}
    for r, k in enumerate(jax.random.split(k_rounds, rounds)):
        k_p, k_t = jax.random.split(k)
        current = jax.tree_util.Partial(apply_state, graphdef, params)
        delta = perturb(current, xd, yd, method=method, norm=norm, eps=eps, key=k_p)
        xp = xd + delta
        history["perturbed_accuracy"].append(float(_accuracy(current, xp, yd)))
        x = jnp.concatenate([xt] + [xp] * reps)
        y = jnp.concatenate([yt] + [yd] * reps)
        params, opt_state, loss = train_chunk(graphdef, optimizer, params, opt_state, x, y, k_t,
                                              steps=int(steps),
                                              batch_size=min(int(batch_size), x.shape[0]))
        loss = float(loss)
        if not np.isfinite(loss):
            raise ValueError(f"retraining diverged (loss {loss}) in round {r + 1}: lower the "
                             f"learning rate (now {learning_rate})")
        history["round"].append(r + 1)
        history["loss"].append(loss)
    return Retrained(jax.tree_util.Partial(apply_state, graphdef, params), history)


def _measure(logits_fn, x, y, *, norm, eps, tau, eps_max) -> dict:
    from categories.exact2d import exact_at, scan_profile
    from categories.verdict import verdict

    prof = scan_profile(logits_fn, x, y, norm=norm, eps_max=eps_max)
    fr = exact_at(logits_fn, x, prof, norm=norm, eps=eps)
    fractions = {k: float(getattr(fr, k)) for k in ("robust", "pointwise", "universal", "random")}
    return {"fractions": fractions, "verdict": verdict(fractions, tau),
            "clean_accuracy": float(fr.clean_accuracy),
            "curves": {k: [float(v) for v in np.asarray(getattr(prof, k))]
                       for k in ("robust", "pointwise", "universal", "random")},
            "radii": [float(v) for v in np.asarray(prof.radii)]}


def class_gaps(x, y, *, norm) -> np.ndarray:
    """Each point's distance (in ``norm``) to the nearest point of D of another class:
    ``f64[n]`` (inf when there is none).

    Where this gap is at most ``2 eps``, every classifier right on both points puts a
    boundary within eps of one of them: no model, retrained or not, is robust there.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    out = np.full(len(x), np.inf)
    for start in range(0, len(x), 512):
        diff = x[start:start + 512, None] - x[None]
        d = np.abs(diff).max(-1) if parse_norm(norm) == "inf" else np.linalg.norm(diff, axis=-1)
        d[y[start:start + 512, None] == y[None]] = np.inf
        out[start:start + 512] = d.min(1)
    return out


def retrain_measure(task, logits_fn, x, y, *, key, method: str, norm, eps: float,
                    tau: float = 0.8, rounds: int = 3, steps: int = 200,
                    learning_rate: float = 1e-3, progress=None) -> dict:
    """Fractions, curves (over ``(0, 2 eps]``) and verdict of a model before and after
    :func:`retrain`, measured on the sample ``(x, y)`` of D.

    Returns:
      ``{"before": {...}, "after": {...}, "history", "method", "eps", "norm", "tau",
      "rounds", "steps", "learning_rate", "classes_within_2eps"}``, each side with
      ``fractions``, ``verdict``, ``clean_accuracy``, ``curves``, ``radii``;
      ``classes_within_2eps`` is the share of D with a point of another class within
      ``2 eps`` (:func:`class_gaps`), which no retraining can make robust.
    """
    from categories.verdict import check_tau

    method = check_method(method)
    norm = parse_norm(norm)
    tau = check_tau(tau)
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    before = _measure(logits_fn, x, y, norm=norm, eps=eps, tau=tau, eps_max=2 * eps)
    tuned = retrain(task, logits_fn, method=method, norm=norm, eps=eps, key=key, rounds=rounds,
                    steps=steps, learning_rate=learning_rate)
    after = _measure(tuned.logits_fn, x, y, norm=norm, eps=eps, tau=tau, eps_max=2 * eps)
    within = float((class_gaps(x, y, norm=norm) <= 2 * eps).mean())
    return {"before": before, "after": after, "history": tuned.history, "method": method,
            "eps": float(eps), "norm": norm, "tau": tau, "rounds": rounds, "steps": steps,
            "learning_rate": learning_rate, "classes_within_2eps": within}


def retrain_report(task, *, method: str, norm, eps=None, seed: int = 0, n_points: int = 1000,
                   tau: float = 0.8, rounds: int = 3, steps: int = 200,
                   learning_rate: float = 1e-3, progress=None) -> dict:
    """:func:`retrain_measure` on a task's preset model and sample of D.

    Args:
      task: a task name or :class:`toymodels.Task`.
      method: random, pgd or universal.
      norm: 2 or inf. eps: the radius (default: the task's). tau: the verdict's share.
      seed: the one seed (model, sample of D, fine-tuning).
      n_points: the evaluation sample of D.
      rounds, steps, learning_rate: see :func:`retrain`.

    Returns:
      :func:`retrain_measure`'s dict with ``task``, ``expected`` and ``seed``.
    """
    from categories.checks import check_eps
    from categories.progress import announce, trained_setting

    method = check_method(method)
    s = trained_setting(task, seed=seed, n_points=n_points, progress=progress)
    eps = check_eps(s.task.default_eps if eps is None else eps)
    announce(progress, "retraining")
    out = retrain_measure(s.task, s.logits_fn, s.x, s.y, key=jax.random.fold_in(s.key, 1),
                          method=method, norm=norm, eps=eps, tau=tau, rounds=rounds, steps=steps,
                          learning_rate=learning_rate)
    out.update(task=s.task.name, expected=s.task.expected, seed=seed)
    return out


__all__ = ["METHODS", "Retrained", "check_method", "class_gaps", "perturb", "retrain", "retrain_measure",
           "retrain_report"]
