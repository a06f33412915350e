"""The settings of a universal-perturbation run (:class:`RunConfig`) and their checks.

Everything that determines the perturbation lives in one frozen dataclass, so a
checkpoint can tell whether it belongs to the run being resumed
(:func:`imagenet.checkpoint.fingerprint`). A bad value raises
:class:`ArgumentError`, which the command lines report as one line, exit code 2.

Example:
    >>> RunConfig(norm="l2", eps=2000).validated().norm
    '2'
    >>> RunConfig(batch=0).validated()
    Traceback (most recent call last):
    ...
    imagenet.runconfig.ArgumentError: --batch must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import math

import attacks
from store import UsageError

METHODS = ("deepfool", "sgd")
LOSSES = ("margin", "ce")
PAPER_EPS = {"inf": 10.0, "2": 2000.0}  # the paper's budgets in pixel scale [0, 255]
PUSH = 2.0  # Algorithm 1's inner-step overshoot on ImageNet, chosen by measurement (docs/imagenet.md)
CHUNK = 2  # Algorithm 1's images per sequential sub-update by default, chosen by measurement (docs/imagenet.md)
SEED_MAX = 2**31 - 1  # the categories command line's and the app's range too


class ArgumentError(UsageError, ValueError):
    """A bad command-line value (reported as one line, exit code 2)."""


def check_seed(seed) -> int:
    """``--seed`` as an int from 0 to :data:`SEED_MAX`, else ArgumentError (a huge one would overflow the key)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ArgumentError(f"--seed must be a whole number from 0 to {SEED_MAX}, got {seed}")
    return seed


def check_chunk(chunk, batch: int) -> int:
    """``--chunk`` checked against ``--batch`` (already at least 1); None: the default, :data:`CHUNK` or
    the largest divisor of ``batch`` below it (``batch`` itself is one update per batch).

    >>> check_chunk(4, 8), check_chunk(None, 8), check_chunk(None, 6), check_chunk(None, 3), check_chunk(None, 1)
    (4, 2, 2, 1, 1)
    """
    if chunk is None:
        return max(d for d in range(1, min(CHUNK, batch) + 1) if batch % d == 0)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1 or batch % chunk:
        raise ArgumentError(f"--chunk must be a whole number from 1 to --batch {batch} that divides it, got {chunk}")
    return chunk


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines the perturbation (and so must match on --resume).

    Attributes:
      norm: "2" or "inf" (see attacks.parse_norm).
      eps: radius of B_eps in pixel units [0, 255].
      method: "deepfool" (Algorithm 1) or "sgd" (stochastic ascent).
      batch: images per update.
      seed: seed of the one jax.random.key everything is drawn from.
      passes: most passes over the training images.
      target: stop once the fooling rate on the training images reaches this.
      top_k, overshoot, max_iter: DeepFool's.
      push: Algorithm 1's own overshoot: each unfooled image's DeepFool perturbation is
        added to v lengthened by (1 + push), so the image stays fooled after later updates.
      chunk: Algorithm 1's images per sequential sub-update inside a batch's update (each
        piece sees the v left by the previous one; a divisor of batch; batch: one update per
        batch, as before --chunk); None: :data:`CHUNK` (2), or 1 for an odd batch, resolved by
        :meth:`validated` (for sgd, always batch).
      step_size: sgd step length in the norm (None: eps / 4).
      loss: sgd loss, "margin" or "ce".
    """

    norm: str = "inf"
    eps: float = 10.0
    method: str = "deepfool"
    batch: int = 8
    seed: int = 0
    passes: int = 2
    target: float = 0.8
    top_k: int = 5
    overshoot: float = 0.02
    max_iter: int = 10
    push: float = PUSH
    chunk: int | None = None
    step_size: float | None = None
    loss: str = "margin"

    def validated(self) -> "RunConfig":
        """This config with the norm normalised; raises ArgumentError naming a bad value."""
        try:
            norm = attacks.parse_norm(self.norm)
        except ValueError as err:
            raise ArgumentError(f"--norm: {err}") from None
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ArgumentError(f"--eps must be a positive number of pixel units (0-255 scale), got {self.eps}")
        check_seed(self.seed)
        if self.method not in METHODS:
            raise ArgumentError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for flag, value, least in (("--batch", self.batch, 1), ("--passes", self.passes, 1),
                                   ("--top-k", self.top_k, 2), ("--max-iter", self.max_iter, 1)):
            if value < least:
                raise ArgumentError(f"{flag} must be at least {least}, got {value}")
        if not 0 < self.target <= 1:
            raise ArgumentError(f"--target must be in (0, 1], got {self.target}")
        if not (isinstance(self.push, (int, float)) and math.isfinite(self.push) and self.push >= 0):
            raise ArgumentError(f"--push must be a number >= 0 (0: DeepFool's step as it is), got {self.push}")
        chunk = check_chunk(self.chunk, self.batch)
        if self.method != "deepfool":
            chunk = self.batch  # no pieces in an ascent step: an sgd run's settings stay as before --chunk
        if self.step_size is not None and not self.step_size > 0:
            raise ArgumentError(f"--step-size must be positive, got {self.step_size}")
        if self.loss not in LOSSES:
            raise ArgumentError(f"loss must be margin or ce, got {self.loss!r}")
        return dataclasses.replace(self, norm=norm, eps=float(self.eps), push=float(self.push), chunk=chunk)

