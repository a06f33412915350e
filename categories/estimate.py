"""Attack-based estimates of the four fractions, in any dimension.

- ``pointwise``: a point counts when any per-point attack (FGSM, PGD with restarts,
  DeepFool within eps) or the universal perturbation flips it;
- ``universal``: the best of the universal-perturbation algorithm (DeepFool inner
  step), its SGD variant, and the Monte Carlo sphere directions;
- ``random``: Monte Carlo over ``n_random`` directions on S_eps, shared by all points
  (each is also a universal candidate).

Every found flip is a witness, so the estimates are lower bounds of the exact
``pointwise`` and ``universal`` and keep ``random <= universal <= pointwise`` by
construction (random is the mean of candidates whose max counts for universal).

Example:
    >>> import jax, jax.numpy as jnp
    >>> f = jax.tree_util.Partial(lambda x: jnp.stack([x[:, 1], -x[:, 1]], 1))
    >>> x = jnp.array([[0.0, 0.05], [0.3, 0.05]]); y = jnp.array([0, 0])
    >>> e = estimate_fractions(f, x, y, norm="2", eps=0.1, key=jax.random.key(0))
    >>> float(e.universal), float(e.pointwise)
    (1.0, 1.0)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import attacks
from attacks import lp_norm, parse_norm


RANDOM_Z = 1.96   # the normal quantile of random's 95% confidence interval


class Estimates(NamedTuple):
    """Attack estimates at one eps (fractions of the correctly classified points)."""

    robust: jax.Array
    pointwise: jax.Array
    universal: jax.Array
    random: jax.Array
    universal_delta: jax.Array  # f32[*shape] the best universal perturbation found
    by_attack: dict             # name -> fraction of D that attack alone fools
    clean_accuracy: jax.Array
    random_interval: jax.Array = None  # f32[2] 95% confidence interval of ``random``


def _flipped(logits_fn, x, delta, pred):
    return attacks.predict(logits_fn, x + delta) != pred


def _random_mean(rates, n_random: int):
    """The random fraction and its 95% interval: the directions are independent draws, so
    their mean has a normal-approximation interval (clipped, since rates lie in [0, 1]).

    Args:
      rates: ``f32[n_random]``, the fooling rate of each random direction.
      n_random: how many there are (one gives an unbounded interval).

    Returns:
      ``(mean, f32[2] interval)``.
    """
    random = rates.mean()
    half = RANDOM_Z * rates.std(ddof=1) / jnp.sqrt(n_random) if n_random > 1 else jnp.inf
    return random, jnp.clip(jnp.stack([random - half, random + half]), 0.0, 1.0)


def estimate_fractions(logits_fn, x, y, *, norm, eps, key, pgd_steps: int = 20,
                       pgd_restarts: int = 4, n_random: int = 64,
                       deepfool_top_k: int = 10) -> Estimates:
    """Estimates the four fractions with the attacks of :mod:`attacks`.

    Args:
      logits_fn: pytree classifier ``f32[n, *shape] -> f32[n, classes]``.
      x: ``f32[n, *shape]`` points of D; y: ``i32[n]`` their labels.
      norm: 2 or inf.
      eps: the radius.
      key: a ``jax.random.key`` (split for every randomised attack).
      pgd_steps, pgd_restarts: PGD budget.
      n_random: sphere directions for the random estimate.

    Returns:
      :class:`Estimates`.
    """
    norm = parse_norm(norm)
    if not isinstance(logits_fn, jax.tree_util.Partial):
        logits_fn = jax.tree_util.Partial(logits_fn)
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    k_fgsm, k_pgd, k_uap, k_sgd, k_rand = jax.random.split(key, 5)
    pred = logits_fn(x).argmax(-1)
    correct = pred == y
    count = jnp.maximum(correct.sum(), 1)

    def share(mask):
        return (mask & correct).sum() / count

    num_classes = logits_fn(x[:1]).shape[-1]
    d_fgsm = attacks.fgsm(logits_fn, x, pred, norm=norm, eps=eps, key=k_fgsm)
    d_pgd = attacks.pgd(logits_fn, x, pred, norm=norm, eps=eps, key=k_pgd, steps=pgd_steps,
                        restarts=pgd_restarts)
    d_df = attacks.deepfool(logits_fn, x, pred, norm=norm, top_k=min(deepfool_top_k, num_classes))
    f_fgsm = _flipped(logits_fn, x, d_fgsm, pred)
    f_pgd = _flipped(logits_fn, x, d_pgd, pred)
    f_df = _flipped(logits_fn, x, d_df, pred) & (lp_norm(d_df, norm) <= eps)

    xc = x[correct] if x.shape[0] else x
    v_uap = attacks.universal_perturbation(logits_fn, xc, pred[correct], norm=norm, eps=eps,
                                           key=k_uap)
    v_sgd = attacks.sgd_universal(logits_fn, xc, pred[correct], norm=norm, eps=eps, key=k_sgd)
    sphere = attacks.sample_sphere(k_rand, (n_random,) + x.shape[1:], norm, eps)
    cands = jnp.concatenate([v_uap[None], v_sgd[None], sphere])
    fooled = jax.vmap(lambda d: _flipped(logits_fn, x, d[None], pred) & correct)(cands)
    rates = fooled.sum(1) / count
    best = rates.argmax()
    random, random_interval = _random_mean(rates[2:], n_random)
    universal = rates[best]
    pointwise = share(f_fgsm | f_pgd | f_df | fooled[best])
    by_attack = {"fgsm": share(f_fgsm), "pgd": share(f_pgd), "deepfool": share(f_df),
                 "universal (DeepFool)": rates[0], "universal (SGD)": rates[1],
                 "random": random}
    return Estimates(robust=1.0 - pointwise, pointwise=pointwise, universal=universal,
                     random=random, universal_delta=cands[best], by_attack=by_attack,
                     clean_accuracy=correct.mean(), random_interval=random_interval)
