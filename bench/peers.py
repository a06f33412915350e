"""The peer libraries' attacks on the shared task, when they are installed.

IBM's adversarial-robustness-toolbox (ART): ``UniversalPerturbation`` (DeepFool inner
step, one point at a time), ``DeepFool`` (l2 only) and ``ProjectedGradientDescent``;
torchattacks: ``PGD`` (linf) and ``PGDL2``. Each runs on the torch copy of the shared
MLP (:mod:`bench.torch_mlp`) with the project's attack budgets (steps, step size,
overshoot, passes), and returns its perturbations in plane coordinates so the project
scores every result the same way.

The peers draw their randomness from Python's, numpy's and torch's global generators;
each call seeds them from the benchmark's seed first, so a run is reproducible.

Install them with ``pip install -r requirements-bench.txt`` and then
``pip install --no-deps torchattacks==3.5.1`` (its declared dependencies would pull in
torchvision and a CUDA build of torch).
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from typing import Callable

import numpy as np
import torch

from bench.torch_mlp import UNIT_SCALE, from_unit_box, to_unit_box, unit_box_model

PEERS = {"art": "adversarial-robustness-toolbox", "torchattacks": "torchattacks"}


def installed(peer: str) -> bool:
    """Whether the peer library (``"art"`` or ``"torchattacks"``) can be imported."""
    return importlib.util.find_spec(peer) is not None


def peer_version(peer: str) -> str | None:
    """The installed version of a peer, ``None`` when it is missing."""
    if not installed(peer):
        return None
    from importlib.metadata import version

    return version(PEERS[peer])


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _art_classifier(net: torch.nn.Module, num_classes: int):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=net, loss=torch.nn.CrossEntropyLoss(), input_shape=(2,),
                             nb_classes=num_classes, clip_values=None, device_type="cpu")


def _art_norm(norm: str):
    return np.inf if norm == "inf" else 2


def art_pass_end(frame, x, attack_type) -> dict | None:
    """The locals of the ``UniversalPerturbation.generate`` that called predict on ``x`` at
    the end of a pass, or None when this predict is not that call.

    ``generate`` ends each pass with ``predict(x_adv, batch_size=1)`` through ART's
    input-checking wrapper of predict, so the caller is at most three frames up.
    """
    for _ in range(3):
        if frame is None:
            return None
        caller = frame.f_locals
        if isinstance(caller.get("self"), attack_type):
            return caller if x is caller.get("x_adv") else None
        frame = frame.f_back
    return None


def _record_passes(classifier, start: float, attack_type) -> list:
    """Makes ``classifier`` note ``(seconds since start, noise f32[2])`` at the end of each
    pass of an ``attack_type.generate`` (from its end-of-pass predict); returns the list."""
    passes, predict = [], type(classifier).predict.__get__(classifier)

    def recording(x, *args, **kwargs):
        out = predict(x, *args, **kwargs)
        caller = art_pass_end(sys._getframe(1), x, attack_type)
        if caller is not None:
            passes.append((time.perf_counter() - start,
                           np.asarray(caller["noise"], np.float32).reshape(2)))
        return out

    classifier.predict = recording
    return passes


def art_universal(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, norm: str, eps: float,
                  num_classes: int, passes: int, overshoot: float, deepfool_iter: int,
                  top_k: int, seed: int, marks: list | None = None) -> Callable[[], np.ndarray]:
    """ART's ``UniversalPerturbation`` (Algorithm 1, DeepFool inner step), ready to time.

    It runs exactly ``passes`` passes over ``x`` (``delta=0``: no early stop short of
    fooling every point), like the project's ``universal_perturbation(max_passes=passes)``.
    With ``marks``, each run appends the list of its passes' ends, ``(seconds since the
    run's start, noise f32[2])``, seen from ART's end-of-pass predict (a frame lookup per
    predict call: microseconds against ART's seconds a pass).

    Returns:
      A function of no arguments returning the perturbation ``f32[2]``.
    """
    from art.attacks.evasion import UniversalPerturbation

    classifier = _art_classifier(net, num_classes)
    onehot = np.eye(num_classes, dtype=np.float32)[np.asarray(y)]
    xs = np.asarray(x, np.float32)

    def run():
        start = time.perf_counter()
        _seed_globals(seed)
        attack = UniversalPerturbation(
            classifier, attacker="deepfool",
            attacker_params={"max_iter": deepfool_iter, "epsilon": overshoot,
                             "nb_grads": top_k, "verbose": False},
            delta=0.0, max_iter=passes, eps=eps, norm=_art_norm(norm), verbose=False)
        if marks is not None:
            marks.append(_record_passes(classifier, start, UniversalPerturbation))
        attack.generate(xs, y=onehot)
        return np.asarray(attack.noise, np.float32).reshape(2)

    return run


def art_deepfool(net: torch.nn.Module, x: np.ndarray, *, num_classes: int, overshoot: float,
                 max_iter: int, top_k: int) -> Callable[[], np.ndarray]:
    """ART's ``DeepFool`` (l2) on all of ``x`` in one batch; returns ``f32[n, 2]`` perturbations."""
    from art.attacks.evasion import DeepFool

    classifier = _art_classifier(net, num_classes)
    xs = np.asarray(x, np.float32)
    attack = DeepFool(classifier, max_iter=max_iter, epsilon=overshoot, nb_grads=top_k,
                      batch_size=len(xs), verbose=False)

    def run():
        return attack.generate(xs) - xs

    return run


def art_pgd(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, norm: str, eps: float,
            num_classes: int, steps: int, step_size: float, seed: int) -> Callable[[], np.ndarray]:
    """ART's ``ProjectedGradientDescent`` (one random start) on all of ``x`` in one batch."""
    from art.attacks.evasion import ProjectedGradientDescent

    classifier = _art_classifier(net, num_classes)
    xs = np.asarray(x, np.float32)
    onehot = np.eye(num_classes, dtype=np.float32)[np.asarray(y)]
    attack = ProjectedGradientDescent(classifier, norm=_art_norm(norm), eps=eps,
                                      eps_step=step_size, max_iter=steps, num_random_init=1,
                                      batch_size=len(xs), verbose=False)

    def run():
        _seed_globals(seed)
        return attack.generate(xs, y=onehot) - xs

    return run


def torchattacks_pgd(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, norm: str,
                     eps: float, steps: int, step_size: float,
                     seed: int) -> Callable[[], np.ndarray]:
    """torchattacks' ``PGD`` (linf) or ``PGDL2`` with a random start, in plane coordinates.

    torchattacks clamps to ``[0, 1]``: the model is wrapped with the unit-box map of
    :mod:`bench.torch_mlp` and eps and the step size are scaled to match, so the attack
    does the same work on the same weights.
    """
    import torchattacks

    model = unit_box_model(net)
    cls = torchattacks.PGD if norm == "inf" else torchattacks.PGDL2
    attack = cls(model, eps=eps / UNIT_SCALE, alpha=step_size / UNIT_SCALE, steps=steps,
                 random_start=True)
    z = torch.from_numpy(to_unit_box(x).reshape(-1, 1, 1, 2))  # the image layout it assumes
    labels = torch.from_numpy(np.asarray(y, np.int64))

    def run():
        _seed_globals(seed)
        adv = attack(z, labels).detach().numpy()
        return (from_unit_box(adv) - from_unit_box(z.numpy())).reshape(-1, 2)

    return run
