"""Abstract values and the rule of every primitive the bound-propagation engine reads.

An abstract value (:class:`Affine`) is an affine form of the input's noise symbols plus
an interval: ``c + sum_k g[k] e_k + [-r, r]`` with ``e`` in ``[-1, 1]^K`` (one symbol
per input coordinate; a box of inputs is ``centre + diag(half-width) e``). Linear
operations map it exactly (the residual ``r`` through the absolute value of the
operation); a nonlinear elementwise function ``f`` is replaced, over the interval
``[l, u]`` its input can take, by two parallel lines ``lam x + m_lo <= f(x) <= lam x +
m_hi`` (:func:`relax_unary`), the zonotope relaxation of DeepZ (Singh et al., NeurIPS
2018), whose ReLU case is CROWN's triangle. A boolean computed from abstract values is a
:class:`Cond`: which of false and true it may be.

Every rule is sound for every input of the box, in exact arithmetic; against float32
rounding the engine (:mod:`categories.bounds`) widens boxes and asks for a margin. A
NaN or an infinite bound never proves anything: every decision is a comparison that a
NaN fails.

Example:
    >>> import jax.numpy as jnp
    >>> x = Affine(jnp.array([0.0]), jnp.array([[1.0]]), jnp.array([0.0]))  # [-1, 1]
    >>> [float(b[0]) for b in relu_of(x).bounds()]       # relu over [-1, 1], relaxed
    [-0.5, 1.0]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Affine(NamedTuple):
    """``c + sum_k g[k] e_k + [-r, r]``, ``e`` in ``[-1, 1]^K``, within ``[lo, hi]``.

    ``c: f32[*S]``, ``g: f32[K, *S]``, ``r: f32[*S]`` (``r >= 0``); ``lo``, ``hi``: an
    interval known to hold the value besides the form (the exact image of a monotone
    function, ``x * x >= 0``), or None. The two domains side by side: the form keeps
    the correlations between units, the interval what a line cannot (an exponential
    stays positive), and each bound takes the tighter of the two.
    """

    c: jax.Array
    g: jax.Array
    r: jax.Array
    lo: jax.Array | None = None
    hi: jax.Array | None = None

    def radius(self) -> jax.Array:
        return jnp.abs(self.g).sum(0) + self.r

    def bounds(self):
        """``(lower, upper)`` of every element over the whole box."""
        rad = self.radius()
        lo, hi = self.c - rad, self.c + rad
        if self.lo is not None:
            lo, hi = jnp.maximum(lo, self.lo), jnp.minimum(hi, self.hi)
        return lo, hi

    def within(self, lo, hi) -> "Affine":
        """The same form, known to lie in ``[lo, hi]`` as well."""
        if self.lo is not None:
            lo, hi = jnp.maximum(lo, self.lo), jnp.minimum(hi, self.hi)
        return self._replace(lo=lo, hi=hi)


class Cond(NamedTuple):
    """A boolean of abstract values: ``can_false``, ``can_true`` (``bool[*S]``)."""

    can_false: jax.Array
    can_true: jax.Array


def constant(v, k: int, shape=None) -> Affine:
    """A concrete float array (broadcast to ``shape``) as an abstract value of ``k`` symbols."""
    v = jnp.asarray(v)
    if shape is not None:
        v = jnp.broadcast_to(v, shape)
    return Affine(v, jnp.zeros((k,) + v.shape, v.dtype), jnp.zeros_like(v))


def lift(v, k: int, like) -> Affine:
    """``v`` as an abstract value: itself, or a constant of the shape of ``like``'s values."""
    if isinstance(v, Affine):
        return v
    other = like.c if isinstance(like, Affine) else jnp.asarray(like)
    return constant(v, k, jnp.broadcast_shapes(jnp.shape(v), other.shape))


def _is_float(v) -> bool:
    return jnp.issubdtype(jnp.result_type(v), jnp.floating)


def map_linear(fn, args, k: int) -> Affine:
    """A primitive that is jointly linear and positive in its float operands (a copy, a
    sum, a reshape, a selection by a concrete mask): concrete float operands are offsets;
    other concrete operands (indices, masks) are kept as they are.

    Returns:
      An :class:`Affine`, or a list of them for a primitive of several results.
    """
    def pick(part):
        out = []
        for a in args:
            if isinstance(a, Affine):
                out.append(getattr(a, part))
            elif _is_float(a) and part != "c":
                out.append(jnp.zeros_like(a))
            else:
                out.append(a)
        return out

    c = fn(*pick("c"))
    g = jax.vmap(fn, in_axes=[0 if isinstance(a, Affine) else None for a in args])(*pick("g"))
    r = fn(*pick("r"))
    if isinstance(c, (list, tuple)):             # split and the like: one value per output
        return [Affine(*parts) for parts in zip(c, g, r)]
    return Affine(c, g, r)


def map_bilinear(fn, a, b, k: int) -> Affine:
    """``fn(a, b)`` for a product-like ``fn`` (mul, dot_general, a convolution), for which
    ``|fn(x, y)| <= fn(|x|, |y|)`` elementwise."""
    if not isinstance(b, Affine):           # centre and symbols in one product
        cg = jax.vmap(lambda v: fn(v, b))(jnp.concatenate([a.c[None], a.g]))
        return Affine(cg[0], cg[1:], fn(a.r, jnp.abs(b)))
    if not isinstance(a, Affine):
        cg = jax.vmap(lambda v: fn(a, v))(jnp.concatenate([b.c[None], b.g]))
        return Affine(cg[0], cg[1:], fn(jnp.abs(a), b.r))
    # (ca + da)(cb + db) = ca cb + ca db + da cb + da db, |da| <= rad_a
    g = jax.vmap(lambda g: fn(a.c, g))(b.g) + jax.vmap(lambda g: fn(g, b.c))(a.g)
    r = fn(jnp.abs(a.c), b.r) + fn(a.r, jnp.abs(b.c)) + fn(a.radius(), b.radius())
    return Affine(fn(a.c, b.c), g, r)


def product(a: Affine, b: Affine) -> Affine:
    """``a * b`` elementwise: the bilinear form within the interval product."""
    out = map_bilinear(jax.lax.mul, a, b, 0)
    (la, ua), (lb, ub) = a.bounds(), b.bounds()
    ends = jnp.stack([la * lb, la * ub, ua * lb, ua * ub])
    return out.within(ends.min(0), ends.max(0))


def apply_lines(x: Affine, lam, m_lo, m_hi) -> Affine:
    """The value between ``lam x + m_lo`` and ``lam x + m_hi``."""
    return Affine(lam * x.c + 0.5 * (m_lo + m_hi), lam * x.g,
                  jnp.abs(lam) * x.r + 0.5 * (m_hi - m_lo))


def relu_lines(l, u):
    """``lam x + m_lo <= relu(x) <= lam x + m_hi`` on ``[l, u]``: the chord's slope."""
    on, off = l >= 0, u <= 0
    lam = jnp.where(on, 1.0, jnp.where(off, 0.0, u / jnp.maximum(u - l, 1e-30)))
    m_hi = jnp.where(on | off, 0.0, -lam * l)
    return lam, jnp.zeros_like(lam), m_hi


def relu_of(x: Affine) -> Affine:
    return apply_lines(x, *relu_lines(*x.bounds()))


def _value_and_slope(f, t):
    return jax.jvp(f, (t,), (jnp.ones_like(t),))


def sigmoid_lines(f, l, u):
    """Monotone f whose |f'| is unimodal on the line (tanh, logistic, erf, erfc, atan):
    the end slope of smaller size keeps ``f - lam x`` monotone, so its ends bound it."""
    fl, dl = _value_and_slope(f, l)
    fu, du = _value_and_slope(f, u)
    lam = jnp.where(jnp.abs(dl) < jnp.abs(du), dl, du)
    hl, hu = fl - lam * l, fu - lam * u
    return lam, jnp.minimum(hl, hu), jnp.maximum(hl, hu)


def convex_lines(f, l, u, sign=1.0):
    """Convex ``sign * f`` (exp, square, abs, ...; concave ones with ``sign=-1``): the
    chord bounds it above; the tangent at the middle, moved to the chord's slope, below."""
    fl, fu = f(l), f(u)
    m = 0.5 * (l + u)
    fm, dm = _value_and_slope(f, m)
    width = u - l
    lam = jnp.where(width > 0, (fu - fl) / jnp.where(width > 0, width, 1.0), dm)
    ends = fl - lam * l                      # h = f - lam x, equal at both ends
    middle = fm - lam * m - sign * jnp.abs(dm - lam) * 0.5 * width
    return (lam, middle, ends) if sign > 0 else (lam, ends, middle)


def slope_lines(f, l, u, d_lo, d_hi):
    """Any f with ``d_lo <= f' <= d_hi`` on ``[l, u]``: by the mean value theorem
    ``f(x) - lam x`` stays within ``(d_hi - d_lo) / 2`` of its value at the middle."""
    m = 0.5 * (l + u)
    lam = 0.5 * (d_lo + d_hi)
    half = 0.25 * (d_hi - d_lo) * (u - l)
    hm = f(m) - lam * m
    return lam, hm - half, hm + half


def max_const(x: Affine, k) -> Affine:
    """``max(x, k)`` for a concrete k: ``k + relu(x - k)``."""
    l, u = x.bounds()
    lam, m_lo, m_hi = relu_lines(l - k, u - k)
    out = apply_lines(x, lam, m_lo + k - lam * k, m_hi + k - lam * k)
    return out.within(jnp.maximum(l, k), jnp.maximum(u, k))


def neg(x: Affine) -> Affine:
    out = Affine(-x.c, -x.g, x.r)
    return out if x.lo is None else out.within(-x.hi, -x.lo)


def add(a: Affine, b: Affine) -> Affine:
    return Affine(a.c + b.c, a.g + b.g, a.r + b.r)


def sub(a: Affine, b: Affine) -> Affine:
    return Affine(a.c - b.c, a.g - b.g, a.r + b.r)


def maximum(a, b, k: int):
    """``max(a, b)`` of abstract or concrete values."""
    if not isinstance(b, Affine):
        return max_const(a, b)
    if not isinstance(a, Affine):
        return max_const(b, a)
    (la, ua), (lb, ub) = a.bounds(), b.bounds()
    return add(a, relu_of(sub(b, a))).within(jnp.maximum(la, lb), jnp.maximum(ua, ub))


def minimum(a, b, k: int):
    """``min(a, b) = -max(-a, -b)``."""
    flip = [neg(v) if isinstance(v, Affine) else -v for v in (a, b)]
    return neg(maximum(*flip, k))


def hull(a: Affine, b: Affine) -> Affine:
    """A value that is ``a`` or ``b``: their mean plus half their largest difference."""
    d = sub(a, b)
    (la, ua), (lb, ub) = a.bounds(), b.bounds()
    return Affine(0.5 * (a.c + b.c), 0.5 * (a.g + b.g),
                  0.5 * (a.r + b.r) + 0.5 * (jnp.abs(d.c) + d.radius()),
                  jnp.minimum(la, lb), jnp.maximum(ua, ub))


def interval(lo, hi, k: int) -> Affine:
    """The interval ``[lo, hi]`` as an abstract value with no symbols."""
    c = 0.5 * (lo + hi)
    return Affine(c, jnp.zeros((k,) + c.shape, c.dtype), 0.5 * (hi - lo), lo, hi)


__all__ = ["Affine", "Cond", "add", "apply_lines", "constant", "convex_lines", "hull",
           "interval", "lift", "map_bilinear", "map_linear", "max_const", "maximum", "minimum", "neg",
           "product",
           "relu_lines", "relu_of", "sigmoid_lines", "slope_lines", "sub"]
