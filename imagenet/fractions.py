"""The four fractions of a real image classifier, estimated at full scale.

The essay's question for a pretrained model: which category is it in? In 2D the
fractions are exact or proven; at full scale only attacks estimate them, and each
estimate says which way it bounds the true fraction of the held-out photos:

- ``pointwise``, a lower bound: a photo counts as fooled when any delta found for it
  (PGD with restarts on the margin loss, DeepFool's step within eps, the universal
  delta, any random delta) changes its label; ``robust = 1 - pointwise`` is then an
  upper bound;
- ``universal``, a lower bound: the best held-out fooling rate among the perturbations
  found: Algorithm 1 (Moosavi-Dezfooli et al. 2017, with the runner's push) and its
  stochastic-gradient variant, both computed on the training photos, and each random
  delta; Algorithm 1's rate on its own training photos is reported beside it;
- ``random``, a Monte Carlo estimate with a 95% interval: deltas drawn uniformly on
  S_eps (the cube's surface for linf, the sphere for l2), each applied to every
  held-out photo, drawn until the interval's half-width is at most ``half_width``.

Every random delta is a universal candidate and every universal flip a pointwise one,
so ``random <= universal <= pointwise`` holds by construction, as in 2D. Photos whose
label is known count only when the model gets them right (clean accuracy is reported
over them); photos without a label count with the model's own prediction.

Example:
    >>> est = estimate(classifier.logits_fn, train_x, val_x, val_labels, norm="inf", eps=10.0,
    ...                key=jax.random.key(0))                    # doctest: +SKIP
    >>> est.random <= est.universal <= est.pointwise  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import attacks
from categories import verdict
from imagenet.runconfig import PUSH

Z95 = 1.96   # the normal quantile of a 95% interval


class FractionSettings(NamedTuple):
    """The attacks' budgets (the defaults are the command's)."""

    pgd_steps: int = 20
    pgd_restarts: int = 2
    passes: int = 3           # Algorithm 1's and SGD's passes over the training photos
    batch: int = 8            # photos per update and per forward pass
    top_k: int = 5            # DeepFool's candidate classes
    half_width: float = 0.02  # random's 95% interval, at most this wide on each side
    max_deltas: int = 2000    # random deltas at most
    delta_batch: int = 16     # random deltas per round


class Estimate(NamedTuple):
    """The four fractions at one eps, each with the direction of its bound."""

    eps: float
    robust: float               # an upper bound
    pointwise: float            # a lower bound
    universal: float            # a lower bound (held-out photos)
    universal_train: float      # Algorithm 1 on its own training photos
    random: float               # Monte Carlo
    random_interval: tuple      # its 95% interval
    random_deltas: int
    by_attack: dict             # each attack's own share of the counted photos
    universal_delta: np.ndarray  # f32[res, res, 3] the best universal perturbation found
    fooled: np.ndarray          # bool[n] the held-out photos some delta fools


def _batched(fn, *arrays, batch: int):
    """``fn`` over leading-axis slices of ``batch`` rows (memory stays bounded), joined."""
    n = arrays[0].shape[0]
    parts = [fn(*(a[i:i + batch] for a in arrays)) for i in range(0, n, batch)]
    return np.concatenate([np.asarray(p) for p in parts]) if parts else np.zeros(0)


def predictions(logits_fn, x, batch: int = 8) -> np.ndarray:
    """``f(x)`` of many photos, ``batch`` at a time."""
    return _batched(lambda b: attacks.predict(logits_fn, jnp.asarray(b)), x, batch=batch)


def _flips(logits_fn, x, delta, pred, batch):
    """Which photos ``x + delta`` (one delta, or one per photo) moves off ``pred``."""
    delta = np.broadcast_to(np.asarray(delta, np.float32), x.shape)
    moved = _batched(lambda a, d: attacks.predict(logits_fn, jnp.asarray(a + d)), x, delta,
                     batch=batch)
    return moved != pred


def _pair_flips(logits_fn, x, deltas, pred, rows: int) -> np.ndarray:
    """``bool[D, n]``: which photo each delta moves off ``pred``, ``rows`` (photo, delta)
    pairs a forward pass (the pairs are built chunk by chunk: memory stays bounded)."""
    d_idx, x_idx = (a.reshape(-1) for a in np.meshgrid(np.arange(len(deltas)),
                                                       np.arange(len(x)), indexing="ij"))
    moved = []
    for i in range(0, d_idx.size, rows):
        batch = x[x_idx[i:i + rows]] + deltas[d_idx[i:i + rows]]
        moved.append(np.asarray(attacks.predict(logits_fn, jnp.asarray(batch))))
    return (np.concatenate(moved) != pred[x_idx]).reshape(len(deltas), len(x))


def random_estimate(logits_fn, x, pred, counted, *, norm, eps, key, settings: FractionSettings):
    """Monte Carlo ``random`` over deltas shared by every photo (each a universal candidate).

    The deltas' fooling rates are independent draws of one variable in [0, 1]: their
    mean estimates ``random``; the 95% interval's half-width is the normal one,
    ``1.96 s / sqrt(K)``, but at least ``3 / K`` (the rule of three: with no flip in K
    draws, a flip's chance is below 3/K at 95%). Deltas are drawn until it is at most
    ``settings.half_width``, or ``settings.max_deltas`` are spent.

    Returns:
      ``(random, (lo, hi), K, fooled bool[n], best_delta, best_rate)``.
    """
    count = max(int(counted.sum()), 1)
    rates, fooled = [], np.zeros(len(x), bool)
    best, best_rate = np.zeros(x.shape[1:], np.float32), -1.0
    half = np.inf
    while half > settings.half_width and len(rates) < settings.max_deltas:
        key, sub = jax.random.split(key)
        deltas = np.asarray(attacks.sample_sphere(sub, (settings.delta_batch,) + x.shape[1:],
                                                  norm, eps))
        flips = _pair_flips(logits_fn, x, deltas, pred, 4 * settings.batch) & counted[None]
        fooled |= flips.any(0)
        rates.extend(flips.sum(1) / count)
        top = int(np.argmax(flips.sum(1)))
        if rates[-len(deltas) + top] > best_rate:
            best, best_rate = deltas[top], rates[-len(deltas) + top]
        k, s = len(rates), float(np.std(rates, ddof=1))
        half = max(Z95 * s / np.sqrt(k), 3.0 / k)
    mean = float(np.mean(rates))
    return (mean, (max(0.0, mean - half), min(1.0, mean + half)), len(rates), fooled, best,
            float(best_rate))


def universal_candidates(logits_fn, train_x, *, norm, eps, key, settings: FractionSettings):
    """Algorithm 1 and the SGD variant on the training photos (labels: the model's own).

    Returns:
      ``{"universal (DeepFool)": v, "universal (SGD)": v}`` and Algorithm 1's training rate.
    """
    k_df, k_sgd = jax.random.split(key)
    x = jnp.asarray(train_x)
    pred = attacks.predict(logits_fn, x)
    v_df = attacks.universal_perturbation(
        logits_fn, x, pred, norm=norm, eps=eps, key=k_df, batch_size=settings.batch,
        max_passes=settings.passes, restarts=1, top_k=settings.top_k, push=PUSH)
    v_sgd = attacks.sgd_universal(logits_fn, x, pred, norm=norm, eps=eps, key=k_sgd,
                                  batch_size=settings.batch, max_passes=settings.passes,
                                  restarts=1)
    train_rate = float(np.mean(_flips(logits_fn, train_x, v_df, np.asarray(pred),
                                      settings.batch)))
    return {"universal (DeepFool)": np.asarray(v_df), "universal (SGD)": np.asarray(v_sgd)}, \
        train_rate


def minimal_deltas(logits_fn, x, pred, *, norm, top_k: int, batch: int) -> np.ndarray:
    """DeepFool's (approximately) minimal perturbations: one per photo, whatever eps."""
    return _batched(lambda a, p: attacks.deepfool(logits_fn, jnp.asarray(a), jnp.asarray(p),
                                                  norm=norm, top_k=top_k), x, pred, batch=batch)


def counted_photos(pred, labels) -> tuple[np.ndarray, float | None]:
    """The photos the fractions count (a known label the model gets right, or no label),
    and the clean accuracy over the labelled ones (None when none is labelled)."""
    labels = np.asarray(labels)
    known = labels >= 0
    counted = ~known | (pred == labels)
    return counted, (float((pred == labels)[known].mean()) if known.any() else None)


def estimate(logits_fn, train_x, val_x, val_labels, *, norm, eps, key,
             settings: FractionSettings = FractionSettings(), pred=None,
             deepfool=None) -> Estimate:
    """The four fractions of the held-out photos ``val_x`` at ``eps`` (see the module).

    Args:
      logits_fn: the classifier, ``f32[n, res, res, 3]`` pixels in [0, 255] -> logits.
      train_x: ``f32[m, res, res, 3]`` photos the universal perturbations are computed on.
      val_x, val_labels: the held-out photos and their labels (-1: unknown).
      norm, eps: the ball, in pixel units.
      key: a ``jax.random.key`` (split for PGD, the universal algorithms, random).
      pred: :func:`predictions` of ``val_x`` if already computed (eps-independent).
      deepfool: :func:`minimal_deltas` of ``val_x`` if already computed (eps-independent).

    Returns:
      :class:`Estimate`.
    """
    norm = attacks.parse_norm(norm)
    if pred is None:
        pred = predictions(logits_fn, val_x, settings.batch)
    counted, _ = counted_photos(pred, val_labels)
    count = max(int(counted.sum()), 1)
    k_pgd, k_uap, k_rand = jax.random.split(key, 3)
    d_pgd = _batched(lambda a, p: attacks.pgd(
        logits_fn, jnp.asarray(a), jnp.asarray(p), norm=norm, eps=eps, key=k_pgd,
        steps=settings.pgd_steps, restarts=settings.pgd_restarts, loss="margin"),
        val_x, pred, batch=settings.batch)
    if deepfool is None:
        deepfool = minimal_deltas(logits_fn, val_x, pred, norm=norm, top_k=settings.top_k,
                                  batch=settings.batch)
    within = np.asarray(attacks.lp_norm(jnp.asarray(deepfool), norm)) <= eps
    flips = {"pgd": _flips(logits_fn, val_x, d_pgd, pred, settings.batch),
             "deepfool": within & _flips(logits_fn, val_x, deepfool, pred, settings.batch)}
    cands, train_rate = universal_candidates(logits_fn, train_x, norm=norm, eps=eps, key=k_uap,
                                             settings=settings)
    flips.update({n: _flips(logits_fn, val_x, v, pred, settings.batch) for n, v in cands.items()})
    rnd, interval, k, f_rand, best_rand, _ = random_estimate(
        logits_fn, val_x, pred, counted, norm=norm, eps=eps, key=k_rand, settings=settings)
    cands["random (best delta)"] = best_rand
    flips["random (best delta)"] = _flips(logits_fn, val_x, best_rand, pred, settings.batch)
    by = {n: float((f & counted).sum() / count) for n, f in flips.items()}
    best = max(cands, key=lambda n: by[n])
    fooled = (flips["pgd"] | flips["deepfool"] | flips[best] | f_rand) & counted
    pointwise = float(fooled.sum() / count)
    by["random"] = rnd
    return Estimate(float(eps), 1.0 - pointwise, pointwise, by[best], train_rate, rnd, interval,
                    k, by, np.asarray(cands[best], np.float32), fooled)


def fractions_of(e: Estimate) -> dict:
    return {"robust": e.robust, "pointwise": e.pointwise, "universal": e.universal,
            "random": e.random}


def verdict_with_caveats(e: Estimate, tau: float, clean_accuracy: float | None = None,
                         least_accuracy: float = 0.9) -> tuple:
    """The verdict of the estimates at ``tau`` and what keeps it from being proven.

    Attacks bound from one side only: a pointwise or universal estimate below tau does
    not show the true fraction is below it, and a robust estimate (an upper bound) at or
    above tau does not show it is that high. Random's interval may straddle tau.

    Returns:
      ``(verdict, [caveat, ...])``.
    """
    v = verdict(fractions_of(e), tau)
    notes = []
    lo, hi = e.random_interval
    if lo < tau <= hi:
        notes.append(f"random's 95% interval [{lo:.3f}, {hi:.3f}] contains tau = {tau:g}: "
                     "category 4 is neither shown nor excluded")
    rank = {4: 4, 3: 3, 2: 2, 1: 1, "1-2": 0}[v]
    if rank < 3 and e.universal < tau:
        notes.append(f"universal {e.universal:.3f} is a lower bound (the best delta found): a "
                     "better delta could reach tau, which would make the verdict 3")
    if rank < 2 and e.pointwise < tau:
        notes.append(f"pointwise {e.pointwise:.3f} is a lower bound: stronger attacks could "
                     "reach tau, which would make the verdict 2")
    if v == 1:
        notes.append("robust is an upper bound: attacks that find no delta do not prove there "
                     "is none, so category 1 is not proven")
    if clean_accuracy is not None and clean_accuracy < least_accuracy:
        notes.append(f"the model is right on only {clean_accuracy:.0%} of the labelled photos; "
                     "the fractions count only those (and the unlabelled ones)")
    return v, notes


__all__ = ["Estimate", "FractionSettings", "counted_photos", "estimate", "fractions_of",
           "minimal_deltas", "predictions", "random_estimate", "universal_candidates",
           "verdict_with_caveats"]
