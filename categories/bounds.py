"""The one bound-propagation engine: it reads the jaxpr of any ``logits_fn`` and bounds
the classification margin over boxes of inputs.

:func:`trace_program` turns a classifier (a plain ``jnp`` function, a ``jax.tree_util.Partial``,
a Flax NNX or Linen model applied to its parameters, jitted or not) into a
:class:`Program`: its jaxpr at one input, with every call (``jit``, ``custom_jvp``,
``custom_vjp``, ``checkpoint``) inlined, and its weights as constants. Each primitive
is then interpreted on abstract values (:mod:`categories.relax`): linear ones exactly,
elementwise ones through two parallel lines over the interval of their input. A
primitive the engine cannot bound is a one-line :class:`UnsupportedPrimitive` naming
it, raised by :func:`trace_program`.

For a box ``x0 + [dlo, dhi]`` and a label ``c`` the margin ``m = min_{j != c} (z_c -
z_j)`` is bounded from the abstract logits; the interval part of the last nonlinear
values is carried to the margin through the exact linear tail of the network (its
vector-Jacobian product, CROWN's back-substitution over the last layer), not through
the logits one by one. ``m > 0`` over a box proves no input of it changes the label;
``m < 0`` that every input does.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1)     # class 0 where x > 0
    >>> p = trace_program(f, (2,))
    >>> lb, ub, _ = bound_boxes(p, [[0.5, 0.0]], [[-0.1, -0.1]], [[0.1, 0.1]],
    ...                         [[0.0, 0.0]], [0], norm="inf", eps=0.1)
    >>> bool(lb[0] > 0.7), bool(ub[0] < 1.3)                # m = 2 x over [0.4, 0.6]
    (True, True)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

from categories import relax
from categories.primitives import SUPPORTED, UnsupportedPrimitive, interpret, is_linear
from categories.relax import Affine

MARGIN = 1e-6   # a decided box needs a margin beyond this (float32 rounding)
SLACK = 1e-6    # boxes are widened by this against float32 rounding
CHUNKS = (512, 4096)  # the compiled batch sizes of boxes

_CALLS = ("jaxpr", "call_jaxpr", "fun_jaxpr")   # where a call primitive keeps its body


class Program(NamedTuple):
    """A classifier's flat jaxpr at one input ``f32[1, *in_shape]``, for bounding.

    ``consts`` are the weights (passed to the compiled bound as arguments: a new model
    of the same architecture reuses it); ``key`` names the computation.
    """

    jaxpr: jcore.Jaxpr
    consts: tuple
    in_shape: tuple
    classes: int
    tail: frozenset          # indices of the equations of the linear tail
    frontier: tuple          # the abstract variables the tail reads
    key: str


def _body(eqn):
    """The jaxpr (and its constants) a call-like equation runs, or None."""
    for name in _CALLS:
        sub = eqn.params.get(name)
        if isinstance(sub, jcore.ClosedJaxpr):
            return sub.jaxpr, sub.consts
        if isinstance(sub, jcore.Jaxpr):
            return sub, ()
    return None


def _inline(jaxpr, consts, *args):
    """Evaluates ``jaxpr`` binding every primitive, with call bodies evaluated in place
    (under ``make_jaxpr`` this writes one flat jaxpr)."""
    env = {}
    read = lambda v: v.val if isinstance(v, jcore.Literal) else env[v]  # noqa: E731
    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        vals = [read(v) for v in eqn.invars]
        body = _body(eqn)
        if body is not None:
            outs = _inline(*body, *vals)
        else:
            outs = eqn.primitive.bind(*vals, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update((v, o) for v, o in zip(eqn.outvars, outs)
                   if not isinstance(v, jcore.DropVar))
    return [read(v) for v in jaxpr.outvars]


def _abstract_vars(jaxpr) -> set:
    """The variables that depend on the input."""
    dep = set(jaxpr.invars)
    for eqn in jaxpr.eqns:
        if any(not isinstance(v, jcore.Literal) and v in dep for v in eqn.invars):
            dep.update(eqn.outvars)
    return dep


def _is_affine(eqn, dep) -> bool:
    moving = [not isinstance(v, jcore.Literal) and v in dep for v in eqn.invars]
    return is_linear(eqn.primitive.name, moving)


def _linear_tail(jaxpr, dep):
    """The equations after the last nonlinear one (affine in the input's values), and
    the abstract variables they read from before it."""
    users = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if not isinstance(v, jcore.Literal):
                users.setdefault(v, []).append(i)
    out = set(jaxpr.outvars)
    tail = set()
    for i in reversed(range(len(jaxpr.eqns))):
        eqn = jaxpr.eqns[i]
        if not any(v in dep for v in eqn.outvars) or not _is_affine(eqn, dep):
            continue
        if all(v in out or all(u in tail for u in users.get(v, ())) for v in eqn.outvars):
            tail.add(i)
    made = {v for i in tail for v in jaxpr.eqns[i].outvars}
    frontier = []
    for i in sorted(tail):
        for v in jaxpr.eqns[i].invars:
            if not isinstance(v, jcore.Literal) and v in dep and v not in made \
                    and v not in frontier:
                frontier.append(v)
    if not tail:
        frontier = [v for v in jaxpr.outvars if v in dep]
    return frozenset(tail), tuple(frontier)


def trace_program(logits_fn, in_shape) -> Program:
    """The :class:`Program` of ``logits_fn`` at inputs of shape ``in_shape``.

    Args:
      logits_fn: any JAX classifier ``f32[n, *in_shape] -> f32[n, classes]``.
      in_shape: one input's shape, e.g. ``(2,)``.

    Returns:
      :class:`Program`.

    Raises:
      UnsupportedPrimitive: a primitive the engine cannot bound is applied to the input.
      ValueError: ``logits_fn`` does not return ``[1, classes]`` floats for one input.
    """
    in_shape = tuple(int(s) for s in in_shape)
    x = jax.ShapeDtypeStruct((1,) + in_shape, jnp.float32)
    closed = jax.make_jaxpr(logits_fn)(x)
    flat = jax.make_jaxpr(functools.partial(_inline, closed.jaxpr, closed.consts))(x)
    (out,) = flat.out_avals if len(flat.out_avals) == 1 else (None,)
    if out is None or out.ndim != 2 or out.shape[0] != 1 or \
            not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"logits_fn must map f32[n, {', '.join(map(str, in_shape))}] to "
                         f"f32[n, classes]; for one input it returned "
                         f"{[str(a) for a in flat.out_avals]}")
    jaxpr = flat.jaxpr
    dep = _abstract_vars(jaxpr)
    tail, frontier = _linear_tail(jaxpr, dep)
    key = "\n".join([str(jaxpr), str(in_shape)] +
                    [f"{jnp.shape(c)}{jnp.result_type(c)}" for c in flat.consts])
    program = Program(jaxpr, tuple(flat.consts), in_shape, int(out.shape[1]), tail,
                      frontier, key)
    _check(program)
    return program


def _check(program: Program) -> None:
    """Traces the bound once (shapes only), so an unsupported primitive fails here."""
    s = program.in_shape
    box = jax.ShapeDtypeStruct((1,) + s, jnp.float32)
    jax.eval_shape(_kernel(program), program.consts, box, box, box, box,
                   jax.ShapeDtypeStruct((1,), jnp.int32), jnp.float32(1), jnp.bool_(False))


def _tail_residual(program: Program, env, cot):
    """``sum |A| r`` over the tail's inputs, ``A`` the cotangent ``cot`` pulled back
    through the linear tail: the residual of ``<cot, logits>`` for each row of ``cot``."""
    jaxpr = program.jaxpr
    front = [env[v] for v in program.frontier]

    def tail(*values):
        local = dict(env)
        local.update(zip(program.frontier, values))
        read = lambda v: v.val if isinstance(v, jcore.Literal) else local[v]  # noqa: E731
        for i in sorted(program.tail):
            eqn = jaxpr.eqns[i]
            out = eqn.primitive.bind(*[read(v) for v in eqn.invars], **eqn.params)
            local.update(zip(eqn.outvars, out if eqn.primitive.multiple_results else [out]))
        return read(jaxpr.outvars[0])

    _, pull = jax.vjp(tail, *[f.c for f in front])
    pulled = jax.vmap(pull)(cot)
    return sum((jnp.abs(a) * f.r[None]).reshape(a.shape[0], -1).sum(1)
               for a, f in zip(pulled, front))


def _margins(program: Program, consts, x0, dlo, dhi, label):
    """Bounds of ``z_label - z_j`` for every class j over ``x0 + [dlo, dhi]``, and the
    input-symbol coefficients of each (``f32[C]``, ``f32[C]``, ``f32[C, K]``)."""
    k = int(np.prod(program.in_shape))
    half = 0.5 * (dhi - dlo) + SLACK
    g = (jnp.eye(k, dtype=jnp.float32) * half.reshape(-1)).reshape((k, 1) + program.in_shape)
    x = Affine((x0 + 0.5 * (dlo + dhi))[None], g, jnp.zeros((1,) + program.in_shape))
    env = interpret(program.jaxpr, consts, x)
    z = env["out"]
    if not isinstance(z, Affine):                 # the logits do not depend on the input
        z = relax.constant(z, k)
    classes = program.classes
    own = jax.nn.one_hot(label, classes, dtype=jnp.float32)
    cot = (own[None] - jnp.eye(classes, dtype=jnp.float32))[:, None, :]  # [C, 1, C]
    c = jnp.einsum("jbc,bc->j", cot, z.c)
    coef = jnp.einsum("jbc,kbc->jk", cot, z.g)
    if program.frontier and all(isinstance(env[v], Affine) for v in program.frontier):
        resid = _tail_residual(program, env, cot)
    else:
        resid = jnp.einsum("jbc,bc->j", jnp.abs(cot), z.r)
    rad = jnp.abs(coef).sum(1) + resid
    return c - rad, c + rad, coef


def _box(program: Program, consts, x0, dlo, dhi, dcand, label, eps, l2):
    """One box: margin bounds, the flip at ``dcand`` and at the box's corner where the
    weakest class's linear bound is lowest (projected onto B_eps)."""
    lo, hi, coef = _margins(program, consts, x0, dlo, dhi, label)
    other = jnp.arange(program.classes) != label
    lo, hi = jnp.where(other, lo, jnp.inf), jnp.where(other, hi, jnp.inf)
    weakest = coef[jnp.argmin(lo)].reshape(program.in_shape)
    corner = 0.5 * (dlo + dhi) - jnp.sign(weakest) * 0.5 * (dhi - dlo)
    size = jnp.sqrt((corner ** 2).sum())
    shrink = eps * (1 - 1e-6)
    corner = jnp.where(l2, corner * jnp.minimum(1.0, shrink / jnp.maximum(size, 1e-30)),
                       jnp.clip(corner, -shrink, shrink))

    def flips(d):
        z = interpret(program.jaxpr, consts, (x0 + d)[None])["out"]
        return z[0].argmax() != label

    return lo.min(), hi.min(), flips(dcand), flips(corner), corner


_KERNELS: dict = {}


def _kernel(program: Program):
    """The jitted, box-batched bound of ``program``'s computation (one per ``key``: the
    weights are arguments, so retrained models of one architecture share it)."""
    fn = _KERNELS.get(program.key)
    if fn is None:
        one = functools.partial(_box, program)
        fn = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0, 0, 0, None, None)))
        _KERNELS[program.key] = fn
    return fn


def bound_boxes(program: Program, x0, dlo, dhi, dcand, label, *, norm: str, eps: float,
                corners: bool = False):
    """Margin bounds and candidate flips of boxes ``x0 + [dlo, dhi]``, in fixed chunks.

    Args:
      program: from :func:`trace_program`.
      x0, dlo, dhi, dcand: ``f32[B, *in_shape]`` origins, box corners and a candidate delta.
      label: ``i32[B]`` the label to keep.
      norm, eps: the ball a corner candidate is projected onto.
      corners: also try each box's corner where the linear bound is lowest.

    Returns:
      ``(lb, ub, flip_at_cand)``, and with ``corners`` also ``flip_at_corner, corner``,
      as numpy arrays: ``lb > MARGIN`` proves no point of the box flips, ``ub < -MARGIN``
      that all do.
    """
    arrays = [np.asarray(a, np.float32).reshape((-1,) + program.in_shape)
              for a in (x0, dlo, dhi, dcand)] + [np.asarray(label, np.int32).reshape(-1)]
    n = arrays[0].shape[0]
    kernel = _kernel(program)
    outs, start = [], 0
    while start < n:
        size = next((s for s in CHUNKS if s >= n - start), CHUNKS[-1])
        part = [a[start:start + size] for a in arrays]
        m = part[0].shape[0]
        if m < size:
            part = [np.concatenate([p, np.repeat(p[:1], size - m, 0)]) for p in part]
        res = kernel(program.consts, *part, np.float32(eps), np.bool_(norm == "2"))
        outs.append([np.asarray(r)[:m] for r in res[:5 if corners else 3]])
        start += size
    if not outs:
        e = np.zeros(0, np.float32)
        empty = (e, e, e.astype(bool))
        return empty + ((e.astype(bool), np.zeros((0,) + program.in_shape, np.float32))
                        if corners else ())
    return tuple(np.concatenate(col) for col in zip(*outs))


__all__ = ["CHUNKS", "MARGIN", "SLACK", "SUPPORTED", "Program", "UnsupportedPrimitive",
           "bound_boxes", "interpret", "trace_program"]
