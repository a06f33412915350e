"""Transfer ("doubly universal" perturbations): one model's universal delta on the others.

Moosavi-Dezfooli et al. found perturbations computed on one network that fool other
networks trained on the same data. Here K models are trained on the same task
(different seeds, widths, activations); each one's universal perturbation at eps
(the exact 2D optimum of :mod:`categories.exact2d`, or the universal-perturbation
algorithm of :mod:`attacks` in any dimension) is applied to every model, giving the
K x K matrix ``M[i, j]`` = fooling rate of model i's delta on model j, over the
points of D that model j classifies correctly. The diagonal is each model's own
``universal(eps)``.

Example:
    >>> t = transfer_matrix("pancakes", default_family("pancakes"), norm="2",
    ...                     eps=0.15, seed=0)  # doctest: +SKIP
    >>> t.matrix.shape  # doctest: +SKIP
    (4, 4)
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from attacks import parse_norm
from toymodels import TrainConfig, check_points, get_task, load_or_train, preset_config


class Transfer(NamedTuple):
    """The transfer matrix of universal perturbations across K models."""

    names: list                 # K model names
    configs: list               # K TrainConfig
    matrix: np.ndarray          # f64[K, K] fooling rate of delta_i (row) on model j (column)
    deltas: np.ndarray          # f32[K, *shape] each model's universal perturbation
    clean_accuracy: np.ndarray  # f64[K] on the sample of D


def family_of(base: TrainConfig) -> dict:
    """Four models around ``base``: itself, the next seed, half the width, tanh.

    Returns:
      ``{name: TrainConfig}`` (insertion-ordered; a variant equal to ``base`` is dropped).
    """
    def name(c):
        return f"{c.activation} w{c.width} s{c.seed}"

    variants = [base, dataclasses.replace(base, seed=base.seed + 1),
                dataclasses.replace(base, width=max(1, base.width // 2)),
                dataclasses.replace(base, activation="tanh" if base.activation != "tanh" else "relu")]
    family = {}
    for c in variants:
        family.setdefault(name(c), c)
    return family


def seed_family(base: TrainConfig, k: int = 4) -> dict:
    """``k`` models of ``base``'s architecture with seeds ``base.seed, ..., base.seed + k - 1``."""
    return {f"{base.activation} w{base.width} s{base.seed + i}":
            dataclasses.replace(base, seed=base.seed + i) for i in range(k)}


FAMILIES = {"mixed": family_of, "seeds": seed_family}


def default_family(task_name: str, seed: int = 0, *, steps: int | None = None,
                   kind: str = "mixed") -> dict:
    """A family around the task's preset configuration.

    Args:
      task_name: the task (its preset configuration is the base).
      seed: the base model's seed.
      steps: training steps of every model (default: the preset's).
      kind: ``"mixed"`` (:func:`family_of`: seed, width, activation) or ``"seeds"``
        (:func:`seed_family`: four seeds of one architecture).

    Returns:
      ``{name: TrainConfig}`` (insertion-ordered).
    """
    if kind not in FAMILIES:
        raise ValueError(f"unknown family {kind!r}: use one of {', '.join(FAMILIES)}")
    base = preset_config(task_name, seed=seed)
    if steps is not None:
        base = dataclasses.replace(base, steps=int(steps))
    return FAMILIES[kind](base)


@jax.jit
def _fooled(logits_fn, x, delta, pred):
    return logits_fn(x + delta[None]).argmax(-1) != pred


def fooling_matrix(logits_fns, x, y, deltas) -> np.ndarray:
    """``M[i, j]``: share of the points model j classifies correctly that ``deltas[i]`` flips.

    Args:
      logits_fns: K pytree classifiers.
      x: ``f32[n, *shape]``; y: ``i32[n]``.
      deltas: ``f32[K', *shape]``, one perturbation per row.

    Returns:
      ``f64[K', K]``.
    """
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y)
    out = np.zeros((len(deltas), len(logits_fns)))
    for j, f in enumerate(logits_fns):
        pred = f(x).argmax(-1)
        correct = np.asarray(pred == y)
        count = max(int(correct.sum()), 1)
        for i, d in enumerate(deltas):
            out[i, j] = float((np.asarray(_fooled(f, x, jnp.asarray(d), pred)) & correct).sum()
                              / count)
    return out


def universal_delta(logits_fn, x, y, *, norm, eps, key, method: str = "exact"):
    """One model's universal perturbation: the exact 2D optimum or the attack's.

    Args:
      method: ``"exact"`` (2D only) or ``"attack"`` (:func:`attacks.universal_perturbation`).

    Returns:
      ``f32[*shape]``.
    """
    if method == "exact":
        from categories.exact2d import exact_fractions

        return exact_fractions(logits_fn, x, y, norm=norm, eps=eps).universal_delta
    if method == "attack":
        import attacks

        pred = logits_fn(jnp.asarray(x, jnp.float32)).argmax(-1)
        keep = np.asarray(pred == jnp.asarray(y))
        return attacks.universal_perturbation(logits_fn, jnp.asarray(x)[keep], pred[keep],
                                              norm=norm, eps=eps, key=key)
    raise ValueError(f"unknown method {method!r}: use exact or attack")


def transfer_on(task, configs: dict, x, y, *, norm, eps, key, method: str = "exact",
                reuse: bool = True, models: dict | None = None) -> Transfer:
    """The transfer matrix of K models of ``task`` on a given sample of D.

    Args:
      task: a :class:`toymodels.Task`.
      configs: ``{name: TrainConfig}``, at least one.
      x: ``f32[n, *shape]``; y: ``i32[n]``.
      norm: 2 or inf. eps: the radius.
      key: split once per model (for ``method="attack"``).
      method: how each universal perturbation is found (see :func:`universal_delta`).
      reuse: reuse cached models.
      models: ``{name: logits_fn}`` already at hand (not retrained).

    Returns:
      :class:`Transfer`.
    """
    norm = parse_norm(norm)
    if len(configs) < 1:
        raise ValueError("transfer needs at least one model")
    for name, c in configs.items():
        if not isinstance(c, TrainConfig):
            raise ValueError(f"model {name!r} needs a TrainConfig, got {type(c).__name__}")
    models = models or {}
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    fns = [models[n] if n in models else load_or_train(task, c, reuse=reuse).logits_fn
           for n, c in configs.items()]
    keys = jax.random.split(key, len(fns))
    deltas = jnp.stack([jnp.asarray(universal_delta(f, x, y, norm=norm, eps=eps, key=k,
                                                    method=method), jnp.float32)
                        for f, k in zip(fns, keys)])
    matrix = fooling_matrix(fns, x, y, deltas)
    acc = np.array([float((f(x).argmax(-1) == y).mean()) for f in fns])
    return Transfer(list(configs), list(configs.values()), matrix, np.asarray(deltas), acc)


def transfer_matrix(task, configs: dict | None = None, *, norm, eps, seed: int = 0,
                    n_points: int = 1000, method: str = "exact", reuse: bool = True) -> Transfer:
    """Trains (or reuses) K models of one task and measures their perturbations' transfer.

    Args:
      task: a task name or :class:`toymodels.Task`.
      configs: ``{name: TrainConfig}``; default :func:`default_family` of ``seed``.
      norm: 2 or inf. eps: the radius.
      seed: the sample of D and the attack keys (the models' seeds are in their configs).
      n_points: sample size of D.
      method: how each universal perturbation is found (see :func:`universal_delta`).
      reuse: reuse cached models.

    Returns:
      :class:`Transfer`.
    """
    task = get_task(task) if isinstance(task, str) else task
    configs = default_family(task.name, seed) if configs is None else configs
    k_data, k_rest = jax.random.split(jax.random.key(seed))
    if task.points is not None:
        x, y = (np.asarray(a) for a in task.points)
    else:
        x, y = task.sample(k_data, check_points(n_points))
    return transfer_on(task, configs, x, y, norm=norm, eps=eps, key=k_rest, method=method,
                       reuse=reuse)


def transfer_summary(t: Transfer) -> dict:
    """A :class:`Transfer` as JSON: ``names``, ``matrix``, ``deltas``, ``diagonal``,
    ``off_diagonal_mean``, ``clean_accuracy``, ``configs``."""
    k = len(t.names)
    off = t.matrix[~np.eye(k, dtype=bool)]
    return {"names": t.names, "matrix": t.matrix.tolist(),
            "deltas": np.asarray(t.deltas, np.float64).tolist(),
            "diagonal": np.diag(t.matrix).tolist(),
            "off_diagonal_mean": float(off.mean()) if off.size else None,
            "clean_accuracy": t.clean_accuracy.tolist(),
            "configs": [dataclasses.asdict(c) for c in t.configs]}


def transfer_report(task, *, norm, eps=None, seed: int = 0, n_points: int = 1000,
                    method: str = "exact", configs: dict | None = None, progress=None) -> dict:
    """:func:`transfer_matrix` as JSON: ``names``, ``matrix``, ``deltas``, ``diagonal``,
    ``off_diagonal_mean``, ``clean_accuracy``, ``configs``, ``task``, ``expected``,
    ``eps`` (default: the task's), ``norm``."""
    from categories.progress import announce
    from categories.checks import check_eps

    task = get_task(task) if isinstance(task, str) else task
    eps = check_eps(task.default_eps if eps is None else eps)
    announce(progress, "training the models and their universal deltas")
    t = transfer_matrix(task, configs, norm=norm, eps=eps, seed=seed, n_points=n_points,
                        method=method)
    out = transfer_summary(t)
    out.update(task=task.name, expected=task.expected, eps=float(eps), norm=parse_norm(norm),
               method=method, seed=seed)
    return out


__all__ = ["Transfer", "family_of", "seed_family", "FAMILIES", "default_family", "fooling_matrix", "universal_delta",
           "transfer_on", "transfer_matrix", "transfer_summary", "transfer_report"]
