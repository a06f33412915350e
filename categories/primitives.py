"""How each primitive maps abstract values: the rules of the bound-propagation engine.

:func:`interpret` walks a flat jaxpr (:func:`categories.bounds.trace_program`) with
concrete arrays where a value does not depend on the input and abstract values
(:mod:`categories.relax`) where it does. A linear primitive maps the affine form
exactly; an elementwise one goes through two parallel lines over its input's interval
(sigmoid-like: the flatter end slope; convex or concave: the chord and a tangent; any
other with a bounded derivative: the mean value theorem), within the image of that
interval; a comparison gives a :class:`categories.relax.Cond` and a ``select_n`` on it
the hull of its cases where the comparison is undecided.

Example:
    >>> sorted(SUPPORTED)[:4]
    ['abs', 'add', 'add_any', 'and']
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from categories import relax
from categories.relax import Affine, Cond

# jointly linear in the float operands, and positive (|op(x)| <= op(|x|))
_LINEAR = {"add", "add_any", "broadcast_in_dim", "reshape", "squeeze", "expand_dims",
           "transpose", "concatenate", "slice", "dynamic_slice", "gather", "reduce_sum",
           "convert_element_type", "copy", "copy_p", "stop_gradient", "rev", "pad",
           "select_n", "cumsum", "reduce_precision", "optimization_barrier", "stack", "split"}
_BILINEAR = {"mul", "dot_general", "conv_general_dilated"}
_SIGMOID = {"tanh", "logistic", "erf", "erfc", "atan"}
_CONVEX = {"exp", "expm1", "square", "abs"}
_CONCAVE = {"log", "log1p", "sqrt"}
_COMPARE = {"gt": lambda l, u: (u <= 0, l > 0), "ge": lambda l, u: (u < 0, l >= 0),
            "lt": lambda l, u: (l >= 0, u < 0), "le": lambda l, u: (l > 0, u <= 0),
            "eq": lambda l, u: ((l > 0) | (u < 0), (l == 0) & (u == 0)),
            "ne": lambda l, u: ((l == 0) & (u == 0), (l > 0) | (u < 0))}
_OTHER = {"neg", "sub", "div", "max", "min", "clamp", "integer_pow", "rsqrt", "sin", "cos",
          "reduce_max", "reduce_min", "and", "or", "not"}
SUPPORTED = tuple(sorted(_LINEAR | _BILINEAR | _SIGMOID | _CONVEX | _CONCAVE | set(_COMPARE)
                         | _OTHER))


def is_linear(name: str, moving) -> bool:
    """Whether the primitive ``name`` is affine in the input's values, given which of its
    operands depend on the input (``moving``)."""
    if name in _LINEAR | {"neg", "sub"}:
        return not (name == "select_n" and moving[0])
    if name in _BILINEAR:
        return sum(moving) == 1
    return name == "div" and list(moving) == [True, False]


class UnsupportedPrimitive(ValueError):
    """``logits_fn`` applies to its input a primitive the engine cannot bound."""


def _bind(eqn):
    return lambda *a: eqn.primitive.bind(*a, **eqn.params)


def _unary(name: str, params: dict, f, x: Affine) -> Affine:
    """An elementwise function ``f`` (the primitive ``name``) of one abstract value,
    through two parallel lines, within the image of the input's interval."""
    l, u = x.bounds()
    y = params.get("y")
    if name in _SIGMOID:
        lines = relax.sigmoid_lines(f, l, u)
    elif name in _CONVEX or (name == "integer_pow" and y % 2 == 0):
        lines = relax.convex_lines(f, l, u)
    elif name in _CONCAVE:
        lines = relax.convex_lines(f, l, u, sign=-1.0)
    elif name in ("sin", "cos"):
        return relax.apply_lines(x, *relax.slope_lines(f, l, u, -1.0, 1.0)).within(-1.0, 1.0)
    elif name == "rsqrt" or (name == "integer_pow" and y < 0):
        return _reciprocal_like(f, x, l, u, odd=name == "integer_pow" and y % 2 == 1)
    elif name == "integer_pow":          # odd positive power: f' = y x^(y-1) >= 0
        if y == 1:
            return x
        dl, du = y * l ** (y - 1), y * u ** (y - 1)
        d_lo = jnp.where((l < 0) & (u > 0), 0.0, jnp.minimum(dl, du))
        lines = relax.slope_lines(f, l, u, d_lo, jnp.maximum(dl, du))
    else:
        raise UnsupportedPrimitive(_unsupported(name))
    fl, fu = f(l), f(u)
    if name in ("square", "abs") or name == "integer_pow" and y % 2 == 0:
        lo, hi = f(jnp.clip(0.0, l, u)), jnp.maximum(fl, fu)   # even: least at 0
    else:                                 # monotone: the image of the ends
        lo, hi = jnp.minimum(fl, fu), jnp.maximum(fl, fu)
    return relax.apply_lines(x, *lines).within(lo, hi)


def _reciprocal_like(f, x: Affine, l, u, *, odd: bool) -> Affine:
    """``1 / x``, ``x ** -n``, ``rsqrt``: convex and decreasing where x > 0 (odd powers
    concave where x < 0); unbounded across 0, which proves nothing (NaN)."""
    lam, lo, hi = relax.convex_lines(f, l, u)
    lam2, lo2, hi2 = relax.convex_lines(f, l, u, sign=-1.0)
    neg = (u < 0) & odd
    bad = ~((l > 0) | neg)

    def pick(a, b):
        return jnp.where(bad, jnp.nan, jnp.where(neg, b, a))
    fl, fu = f(l), f(u)
    out = relax.apply_lines(x, pick(lam, lam2), pick(lo, lo2), pick(hi, hi2))
    return out.within(pick(fu, fu), pick(fl, fl))


def _unsupported(name: str) -> str:
    return (f"bound propagation cannot bound the primitive '{name}' that logits_fn applies "
            f"to its input; it bounds {', '.join(SUPPORTED)}")


def _select(pred, cases, k):
    """``select_n`` of abstract cases by a concrete or abstract predicate."""
    like = next(c for c in cases if isinstance(c, Affine))
    cases = [relax.lift(c, k, like) for c in cases]
    if not isinstance(pred, Cond):
        return relax.map_linear(lambda p, *cs: jax.lax.select_n(p, *cs), [pred, *cases], k)
    if len(cases) != 2:
        raise UnsupportedPrimitive(_unsupported("select_n of more than two cases"))
    a, b = cases
    both = relax.hull(a, b)
    only_a, only_b = ~pred.can_true, ~pred.can_false

    def pick(xa, xb, xh):
        shape = lambda m: m if m.ndim == xh.ndim else m[None]  # noqa: E731
        return jnp.where(shape(only_a), xa, jnp.where(shape(only_b), xb, xh))
    ends = [pick(*t) for t in zip(a.bounds(), b.bounds(), both.bounds())]
    return Affine(pick(a.c, b.c, both.c), pick(a.g, b.g, both.g), pick(a.r, b.r, both.r),
                  *ends)


def _compare(name, a, b, k):
    a, b = relax.lift(a, k, b), relax.lift(b, k, a)
    l, u = relax.sub(a, b).bounds()
    false_for_sure, true_for_sure = _COMPARE[name](l, u)
    return Cond(~true_for_sure, ~false_for_sure)


def _logic(name, args):
    conds = [a if isinstance(a, Cond) else Cond(~a, a) for a in args]
    if name == "not":
        return Cond(conds[0].can_true, conds[0].can_false)
    x, y = conds
    if name == "and":
        return Cond(x.can_false | y.can_false, x.can_true & y.can_true)
    return Cond(x.can_false & y.can_false, x.can_true | y.can_true)


def _as_float(eqn, x: Cond, k):
    """A boolean turned into 0/1 floats: the interval of what it may be."""
    dtype = eqn.params["new_dtype"]
    lo = jnp.where(x.can_false, 0, 1).astype(dtype)
    hi = jnp.where(x.can_true, 1, 0).astype(dtype)
    return relax.interval(lo, hi, k)


def _reduce(eqn, x: Affine, k):
    l, u = x.bounds()
    f = _bind(eqn)
    return relax.interval(f(l), f(u), k)


def _ends(v):
    return v.bounds() if isinstance(v, Affine) else (v, v)


def _rule(eqn, args, k: int):
    """The abstract value of one equation with at least one abstract argument."""
    out = _form(eqn, args, k)
    name = eqn.primitive.name
    # an interval an operand carries beyond its form (x * x >= 0) survives the
    # elementwise arithmetic that follows (1 + x * x > 0)
    if name in ("add", "sub", "mul") and any(isinstance(a, Affine) and a.lo is not None
                                             for a in args):
        (la, ua), (lb, ub) = _ends(args[0]), _ends(args[1])
        if name == "add":
            return out.within(la + lb, ua + ub)
        if name == "sub":
            return out.within(la - ub, ua - lb)
        ends = jnp.stack(jnp.broadcast_arrays(la * lb, la * ub, ua * lb, ua * ub))
        return out.within(ends.min(0), ends.max(0))
    return out


def _form(eqn, args, k: int):
    name = eqn.primitive.name
    if name in ("and", "or", "not"):
        return _logic(name, args)
    if name in _COMPARE:
        if eqn.invars[0] is eqn.invars[1]:      # x > x, x == x: known without bounds
            same = name in ("ge", "le", "eq")
            full = jnp.full(jnp.shape(args[0].c), same)
            return Cond(~full, full)
        return _compare(name, *args, k)
    if name == "convert_element_type" and isinstance(args[0], Cond):
        return _as_float(eqn, args[0], k)
    if any(isinstance(a, Cond) for a in args) and name != "select_n":
        raise UnsupportedPrimitive(_unsupported(f"{name} of a boolean"))
    if name == "select_n":
        return _select(args[0], args[1:], k)
    if name == "convert_element_type" and not jnp.issubdtype(eqn.params["new_dtype"],
                                                             jnp.floating):
        raise UnsupportedPrimitive(_unsupported(f"convert_element_type to "
                                                f"{eqn.params['new_dtype']}"))
    if name in _LINEAR:
        return relax.map_linear(_bind(eqn), args, k)
    if name == "mul" and all(isinstance(a, Affine) for a in args):
        if eqn.invars[0] is eqn.invars[1]:       # x * x: a square, never negative
            return _unary("square", {}, jnp.square, args[0])
        return relax.product(*args)
    if name in _BILINEAR:
        return relax.map_bilinear(_bind(eqn), *args, k)
    return _nonlinear(eqn, args, k)


def _nonlinear(eqn, args, k: int):
    name = eqn.primitive.name
    if name == "neg":
        return relax.neg(args[0])
    if name == "sub":
        a, b = args
        return relax.sub(relax.lift(a, k, b), relax.lift(b, k, a))
    if name == "max":
        return relax.maximum(*args, k)
    if name == "min":
        return relax.minimum(*args, k)
    if name == "clamp":                         # clamp(lo, x, hi)
        return relax.minimum(relax.maximum(args[1], args[0], k), args[2], k)
    if name == "div":
        a, b = args
        if not isinstance(b, Affine):
            return Affine(a.c / b, a.g / b, a.r / jnp.abs(b))
        # 1 / b as b ** -1: convex where b > 0, concave where b < 0
        recip = _unary("integer_pow", {"y": -1}, lambda t: 1.0 / t, b)
        return relax.product(a, recip) if isinstance(a, Affine) else \
            relax.map_bilinear(jax.lax.mul, a, recip, k)
    if name in ("reduce_max", "reduce_min"):
        return _reduce(eqn, args[0], k)
    if len(args) == 1:
        return _unary(name, eqn.params, _bind(eqn), args[0])
    raise UnsupportedPrimitive(_unsupported(name))


def interpret(jaxpr, consts, x):
    """Every variable of ``jaxpr`` (a flat one, its calls inlined) for an input ``x``,
    concrete or :class:`Affine`; ``env["out"]`` its first output.

    Returns:
      ``{var: value}``: arrays where the value does not depend on an abstract input,
      :class:`Affine` or :class:`Cond` where it does.
    """
    k = x.g.shape[0] if isinstance(x, Affine) else 0
    env = dict(zip(jaxpr.constvars, consts))
    env[jaxpr.invars[0]] = x
    read = lambda v: v.val if isinstance(v, jcore.Literal) else env[v]  # noqa: E731
    for eqn in jaxpr.eqns:
        args = [read(v) for v in eqn.invars]
        if any(isinstance(a, (Affine, Cond)) for a in args):
            if eqn.primitive.name not in SUPPORTED:
                raise UnsupportedPrimitive(_unsupported(eqn.primitive.name))
            outs = _rule(eqn, args, k)
            outs = outs if isinstance(outs, list) else [outs]
        else:
            outs = eqn.primitive.bind(*args, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update((v, o) for v, o in zip(eqn.outvars, outs)
                   if not isinstance(v, jcore.DropVar))
    env["out"] = read(jaxpr.outvars[0])
    return env




__all__ = ["SUPPORTED", "UnsupportedPrimitive", "interpret", "is_linear"]
