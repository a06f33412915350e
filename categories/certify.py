"""A certified lower bound on ``robust``: interval bound propagation with input splitting.

For a point I of D with label ``c = f(I)``, the perturbation set B_eps is covered by a
box (linf: B_eps itself; l2: the square ``[-eps, eps]^2`` containing the disk, sub-boxes
that miss the disk dropped). Interval bound propagation (IBP) pushes a sub-box
``[lo, hi]`` through the MLP: affine layers map centre and radius exactly
(``W mu + b``, ``|W| r``); monotone activations (relu, sigmoid, tanh) map the
interval's ends; GELU, decreasing then increasing, is bounded by its ends and, when
the interval holds its minimiser, by its global minimum. The last layer bounds the
logit *differences* ``z_c - z_j`` directly (tighter than ``lower z_c - upper z_j``).

A sub-box is *decided* when the lower bound of ``min_j (z_c - z_j) > 0``: no point of
it changes the label. The undecided sub-boxes are split in four, level after level,
up to ``max_levels`` and a budget of sub-boxes per point. A point is *certified* when
every sub-box is decided; it is *refuted* (and its search stops) when the centre of
a sub-box inside B_eps changes the label, a witness that ``rho <= eps``.

Soundness: the cover contains B_eps and each bound holds for every point of its box
(up to float32 rounding, against which the boxes are widened by a tiny slack and a
decided box needs a margin above ``1e-6``), so ``certified <= robust``: never more
than the exact robust fraction. Certification is a fraction of the correctly
classified points of D, like the four fractions.

The bookkeeping of boxes happens level by level on flat arrays; the bounds are one
jitted function of a fixed-size chunk of boxes, so one compilation serves every level,
eps, model of the same architecture and sample size.

Example:
    >>> c = certify_points(logits_fn, x, y, norm="inf", eps=0.15)  # doctest: +SKIP
    >>> float(c.certified_robust) <= exact_robust
    True
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from attacks import parse_norm

_MARGIN = 1e-6   # a decided box needs a margin lower bound above this
_SLACK = 1e-6    # boxes are widened by this against float32 rounding


class Certificate(NamedTuple):
    """Per-point certification at one eps."""

    eps: float
    certified: np.ndarray      # bool[n] certified robust (and correctly classified)
    refuted: np.ndarray        # bool[n] a label change found inside B_eps
    correct: np.ndarray        # bool[n] f(x) == y
    boxes: np.ndarray          # i32[n]  sub-boxes bounded per point
    certified_robust: float    # share of the correct points certified
    clean_accuracy: float


def mlp_layers(logits_fn):
    """The weights of a plane MLP classifier, for bounding.

    Args:
      logits_fn: a ``Partial(toymodels.mlp.apply_state, graphdef, state)`` (what
        ``toymodels.train`` and ``toymodels.modelfile.load_model`` return).

    Returns:
      ``(layers, activation)``: ``layers`` a tuple of ``(W f32[a, b], b f32[b])`` from
      input to logits, ``activation`` the hidden layers' activation name.

    Raises:
      ValueError: for any other classifier (IBP needs the weights).
    """
    from toymodels import ACTIVATIONS, MLP, apply_state

    args = getattr(logits_fn, "args", ())
    if getattr(logits_fn, "func", None) is not apply_state or len(args) != 2:
        raise ValueError("certification needs a toymodels MLP (a Partial of "
                         "toymodels.mlp.apply_state), not an arbitrary classifier")
    model = nnx.merge(*args)
    if not isinstance(model, MLP) or model.activation not in ACTIVATIONS:
        raise ValueError("certification needs a toymodels MLP")
    layers = [(layer.kernel[...], layer.bias[...]) for layer in model.hidden]
    layers.append((model.out.kernel[...], model.out.bias[...]))
    return tuple((jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in layers), \
        model.activation


def _gelu_minimum():
    """``(argmin, min)`` of ``jax.nn.gelu`` (the tanh form the MLP uses), found densely."""
    t = np.linspace(-3.0, 0.0, 300001, dtype=np.float64)
    g = np.asarray(jax.nn.gelu(jnp.asarray(t, jnp.float32)), np.float64)
    i = int(g.argmin())
    return float(t[i]), float(g[i])


_GELU_ARGMIN, _GELU_MIN = _gelu_minimum()


def activation_bounds(name: str, lo, hi):
    """Sound elementwise bounds of ``act([lo, hi])``.

    Args:
      name: relu, sigmoid, tanh or gelu.
      lo, hi: ``f32[...]`` with ``lo <= hi``.

    Returns:
      ``(lower, upper)`` of the same shape.
    """
    if name == "relu":
        return jax.nn.relu(lo), jax.nn.relu(hi)
    if name == "sigmoid":
        return jax.nn.sigmoid(lo), jax.nn.sigmoid(hi)
    if name == "tanh":
        return jnp.tanh(lo), jnp.tanh(hi)
    if name == "gelu":
        glo, ghi = jax.nn.gelu(lo), jax.nn.gelu(hi)
        tol = 1e-3  # on each side of the minimiser the function is monotone
        lower = jnp.where(hi < _GELU_ARGMIN - tol, ghi,
                          jnp.where(lo > _GELU_ARGMIN + tol, glo,
                                    jnp.minimum(jnp.minimum(glo, ghi), _GELU_MIN - 1e-6)))
        return lower, jnp.maximum(glo, ghi)
    raise ValueError(f"no interval bounds for activation {name!r}: use relu, sigmoid, tanh "
                     f"or gelu")


@functools.partial(jax.jit, static_argnames=("activation",))
def margin_lower_bounds(layers, lo, hi, label, *, activation):
    """Lower bounds of ``min_{j != label} (z_label - z_j)`` over boxes of inputs.

    Args:
      layers: ``((W, b), ...)`` from :func:`mlp_layers`.
      lo, hi: ``f32[B, 2]`` the boxes' corners.
      label: ``i32[B]`` the class to keep per box.
      activation: the hidden activation (static).

    Returns:
      ``f32[B]``; positive means no input of the box changes the label.
    """
    for w, b in layers[:-1]:
        mu, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
        zm, zr = mu @ w + b, rad @ jnp.abs(w)
        lo, hi = activation_bounds(activation, zm - zr, zm + zr)
    w, b = layers[-1]
    mu, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
    dw = w.T[label][:, :, None] - w[None]                        # [B, width, classes]
    db = b[label][:, None] - b[None]                             # [B, classes]
    low = jnp.einsum("bh,bhc->bc", mu, dw) - jnp.einsum("bh,bhc->bc", rad, jnp.abs(dw)) + db
    own = jax.nn.one_hot(label, w.shape[1], dtype=jnp.bool_)
    return jnp.where(own, jnp.inf, low).min(1)


@jax.jit
def _labels(logits_fn, pts):
    return logits_fn(pts).argmax(-1).astype(jnp.int32)


_CHUNK = 4096  # boxes per call: one compiled shape serves every level, eps and sample size


def _run(fn, *arrays):
    """Calls a jitted batch function on fixed-size chunks (the last one padded)."""
    n = arrays[0].shape[0]
    out = []
    for start in range(0, n, _CHUNK):
        part = [a[start:start + _CHUNK] for a in arrays]
        m = part[0].shape[0]
        part = [np.concatenate([p, np.repeat(p[:1], _CHUNK - m, 0)]) for p in part]
        out.append(np.asarray(fn(*part))[:m])
    return np.concatenate(out) if out else np.zeros(0)


def certify_points(logits_fn, x, y, *, norm, eps, initial: int = 4, max_levels: int = 6,
                   budget: int = 2048) -> Certificate:
    """Certifies each point of D at radius ``eps`` by IBP with input splitting.

    Args:
      logits_fn: a plane MLP (see :func:`mlp_layers`).
      x: ``f32[n, 2]`` points of D; y: ``i32[n]`` their labels.
      norm: 2 or inf.
      eps: the radius (> 0).
      initial: the first split is ``initial x initial`` sub-boxes.
      max_levels: further rounds of splitting the undecided sub-boxes in four.
      budget: most sub-boxes bounded per point at one level; beyond, the point stays
        uncertified.

    Returns:
      :class:`Certificate`.
    """
    norm = parse_norm(norm)
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    layers, activation = mlp_layers(logits_fn)
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    n = x.shape[0]
    pred = _run(functools.partial(_labels, logits_fn), x)
    correct = pred == y
    bound = jax.tree_util.Partial(margin_lower_bounds, layers, activation=activation)
    # Level 0: initial x initial sub-boxes of [-eps, eps]^2 per correctly classified point.
    edges = np.linspace(-eps, eps, initial + 1)
    cells = np.stack(np.meshgrid(np.arange(initial), np.arange(initial), indexing="ij"),
                     -1).reshape(-1, 2)
    lo0, hi0 = edges[cells], edges[cells + 1]
    owner = np.repeat(np.flatnonzero(correct), len(cells))
    lo = np.tile(lo0, (int(correct.sum()), 1))
    hi = np.tile(hi0, (int(correct.sum()), 1))
    refuted = np.zeros(n, bool)
    failed = ~correct
    boxes = np.zeros(n, np.int64)
    for level in range(max_levels + 1):
        if norm == "2":  # drop the sub-boxes that miss the disk
            gap = np.maximum(np.maximum(lo, -hi), 0.0)
            keep = (gap ** 2).sum(1) <= eps ** 2
            owner, lo, hi = owner[keep], lo[keep], hi[keep]
        keep = ~failed[owner]
        owner, lo, hi = owner[keep], lo[keep], hi[keep]
        if owner.size == 0:
            break
        np.add.at(boxes, owner, 1)
        label = pred[owner]
        blo = (x[owner] + lo - _SLACK).astype(np.float32)
        bhi = (x[owner] + hi + _SLACK).astype(np.float32)
        margin = _run(bound, blo, bhi, label.astype(np.int32))
        # A centre inside B_eps with another label refutes the point.
        centre = 0.5 * (lo + hi)
        inside = (np.sqrt((centre ** 2).sum(1)) if norm == "2" else np.abs(centre).max(1)) <= eps
        moved = _run(functools.partial(_labels, logits_fn), (x[owner] + centre).astype(np.float32))
        hit = inside & (moved != label)
        refuted[owner[hit]] = True
        failed |= refuted
        open_ = ~(margin > _MARGIN) & ~failed[owner]
        owner, lo, hi = owner[open_], lo[open_], hi[open_]
        if level == max_levels:
            failed[owner] = True
            break
        counts = np.bincount(owner, minlength=n)
        failed |= 4 * counts > budget
        keep = ~failed[owner]
        owner, lo, hi = owner[keep], lo[keep], hi[keep]
        mid = 0.5 * (lo + hi)
        quads = [(lo, mid), (np.stack([mid[:, 0], lo[:, 1]], 1), np.stack([hi[:, 0], mid[:, 1]], 1)),
                 (np.stack([lo[:, 0], mid[:, 1]], 1), np.stack([mid[:, 0], hi[:, 1]], 1)),
                 (mid, hi)]
        owner = np.tile(owner, 4)
        lo = np.concatenate([q[0] for q in quads])
        hi = np.concatenate([q[1] for q in quads])
    certified = correct & ~failed
    count = max(int(correct.sum()), 1)
    return Certificate(eps=eps, certified=certified, refuted=refuted & correct, correct=correct,
                       boxes=boxes.astype(np.int32),
                       certified_robust=float(certified.sum() / count),
                       clean_accuracy=float(correct.mean()) if n else 0.0)


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


__all__ = ["Certificate", "certify_sweep", "certify_curve", "mlp_layers", "activation_bounds", "margin_lower_bounds",
           "certify_points", "certify_measure", "certify_report", "attack_robust"]
