"""IBM ART on EfficientNet-Lite0: its ``UniversalPerturbation`` pass by pass, and its DeepFool step.

The ART side of :mod:`bench.imagenet_art` (ART is an optional peer; every function
here imports it when called):

- :func:`art_universal` runs ``UniversalPerturbation`` (attacker ``"deepfool"``, ART's
  defaults otherwise) once and keeps the perturbation after each of its passes, with the
  time it was reached, from a :class:`PyTorchClassifier` subclass that sees ART's
  end-of-pass evaluation (so one run gives the whole history; a run with a smaller
  ``max_iter`` ends with the same perturbation, ``tests/test_bench_imagenet_art.py``);
- :func:`deepfool_step_ratio` measures ART DeepFool's first step against the distance to
  the decision boundary along it, the check of the defect :func:`defect_line` finds in
  ART's source.

Inputs are ``f32[n, 3, h, w]`` in ``[0, 1]`` (channels first, as torch wants);
``clip_values`` is ``(0, 1)``.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np
import torch

from bench.peers import _seed_globals, art_pass_end

# ART 1.20.1, art/attacks/evasion/deepfool.py, the line after labels_indices is computed:
# the label's logit is taken at the label's position in the top-k set, not at the label
DEFECT_SNIPPET = "f_batch[np.arange(len(f_batch)), labels_indices]"


def classifier(net: torch.nn.Module, shape: tuple[int, ...], num_classes: int, *, recording: bool = False):
    """ART's ``PyTorchClassifier`` of ``net`` on ``[0, 1]`` inputs of ``shape`` (channels first).

    Args:
      net: the torch module (logits out).
      shape: one input's shape, e.g. ``(3, 224, 224)``.
      num_classes: its classes.
      recording: a subclass that times its torch calls, counts them, and keeps the
        perturbation of ``UniversalPerturbation`` after each pass (see :func:`art_universal`).

    Returns:
      The classifier.
    """
    from art.estimators.classification import PyTorchClassifier

    kwargs = dict(model=net, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(shape),
                  nb_classes=num_classes, clip_values=(0.0, 1.0), channels_first=True,
                  device_type="cpu")
    if not recording:
        return PyTorchClassifier(**kwargs)
    from art.attacks.evasion import UniversalPerturbation

    class Recording(PyTorchClassifier):
        """PyTorchClassifier keeping ``UniversalPerturbation``'s ``noise`` after each pass."""

        def reset(self) -> None:
            self.passes, self.torch_s, self.forwards, self.gradients = [], 0.0, 0, 0
            self.start = time.perf_counter()

        def predict(self, x, batch_size=128, training_mode=False, **kwargs):
            t0 = time.perf_counter()
            out = super().predict(x, batch_size=batch_size, training_mode=training_mode, **kwargs)
            now = time.perf_counter()
            self.torch_s += now - t0
            self.forwards += len(x)
            caller = art_pass_end(sys._getframe(1), x, UniversalPerturbation)
            if caller is not None:
                own = float(np.mean(np.argmax(out, axis=1) != caller["y_index"]))
                self.passes.append({"noise": np.array(caller["noise"][0]),
                                    "s": now - self.start, "own_rate": own})
            return out

        def class_gradient(self, x, label=None, training_mode=False, **kwargs):
            t0 = time.perf_counter()
            out = super().class_gradient(x, label=label, training_mode=training_mode, **kwargs)
            self.torch_s += time.perf_counter() - t0
            self.gradients += out.shape[0] * out.shape[1]
            return out

    clf = Recording(**kwargs)
    clf.reset()
    return clf


def art_universal(clf, x01: np.ndarray, *, eps: float, passes: int, seed: int,
                  delta: float = 0.2) -> dict:
    """ART's ``UniversalPerturbation`` (DeepFool, ART's defaults) on ``x01``, pass by pass.

    Python's, numpy's and torch's generators are seeded from ``seed`` first (ART draws
    its pass orders from Python's ``random``), so the run is deterministic.

    Args:
      clf: a ``classifier(..., recording=True)``.
      x01: ``f32[n, 3, h, w]`` in ``[0, 1]``.
      eps: the linf radius on the ``[0, 1]`` scale.
      passes: ART's ``max_iter``.
      seed: the seed.
      delta: ART's ``delta`` (it stops once its fooling rate reaches ``1 - delta``; 0.2 is its default).

    Returns:
      ``{"noise": f32[3, h, w] final, "passes": [{"noise", "s" (since the start), "own_rate"
      (ART's own fooling rate, on inputs clipped to [0, 1])}], "wall_s", "torch_s" (in the
      classifier's predict and class_gradient), "forwards", "gradients" (class gradients,
      each a forward and a backward pass of one image), "own_fooling_rate"}``.
    """
    from art.attacks.evasion import UniversalPerturbation

    _seed_globals(seed)
    attack = UniversalPerturbation(clf, attacker="deepfool", attacker_params={"verbose": False},
                                   delta=delta, max_iter=passes, eps=eps, norm=np.inf, verbose=False)
    clf.reset()
    attack.generate(np.asarray(x01, np.float32))
    wall = time.perf_counter() - clf.start
    return {"noise": np.asarray(attack.noise[0], np.float32), "passes": clf.passes, "wall_s": wall,
            "torch_s": clf.torch_s, "forwards": clf.forwards, "gradients": clf.gradients,
            "own_fooling_rate": float(attack.fooling_rate)}


def _labels(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(np.asarray(x, np.float32))).argmax(1).numpy()


def boundary_distance(net: torch.nn.Module, x: np.ndarray, direction: np.ndarray, *,
                      scan: tuple[float, float] = (1 / 16, 64), per_octave: int = 3,
                      bisections: int = 16, chunk: int = 16) -> float | None:
    """The smallest ``t`` with ``f(x + t d) != f(x)``, ``d = direction / |direction|_2``.

    The ray is scanned at ``|direction|_2`` times ``2^(k / per_octave)`` from ``scan[0]``
    to ``scan[1]`` (``chunk`` images a forward pass), then the first change is bisected
    ``bisections`` times (relative precision ``2^(-bisections / per_octave)``).

    Returns:
      ``t`` (l2 length), or ``None`` if the label does not change up to ``scan[1]`` steps.
    """
    length = float(np.linalg.norm(direction))
    d = direction / length
    label = _labels(net, x[None])[0]
    octaves = np.log2(scan)
    ts = length * 2.0 ** (np.arange(octaves[0] * per_octave, octaves[1] * per_octave + 1) / per_octave)
    changed = np.concatenate([_labels(net, x[None] + t[:, None, None, None] * d[None]) != label
                              for t in np.array_split(ts, -(-len(ts) // chunk))])
    if not changed.any():
        return None
    k = int(np.argmax(changed))
    lo, hi = (0.0 if k == 0 else ts[k - 1]), ts[k]
    for _ in range(bisections):
        mid = (lo + hi) / 2
        if _labels(net, (x + mid * d)[None])[0] != label:
            hi = mid
        else:
            lo = mid
    return float(hi)


def deepfool_step_ratio(net: torch.nn.Module, x01: np.ndarray, num_classes: int, *, nb_grads: int = 10) -> dict:
    """ART DeepFool's first step on one image against the distance to the boundary along it.

    ART ``DeepFool(max_iter=1, nb_grads=nb_grads)`` (its overshoot default) moves the
    image once; the torch model is then searched along that step's direction for the
    smallest length that changes the label (:func:`boundary_distance`). A correct
    DeepFool step on a locally linear model has a ratio near 1; ART's, with ``nb_grads``
    below the number of classes, divides the logit gap to the wrong class
    (:func:`defect_line`), and is 0 when that class is in the top-k set: DeepFool then
    stands still for all its iterations.

    Args:
      net: the torch model; x01: ``f32[c, h, w]`` in ``[0, 1]``; num_classes: its classes;
      nb_grads: ART's top-k.

    Returns:
      ``{"step": |step|_2, "boundary": the distance along it (None: a zero step, or no
      change up to 64 steps), "ratio": step / boundary (None likewise)}``.
    """
    from art.attacks.evasion import DeepFool

    clf = classifier(net, x01.shape, num_classes)
    attack = DeepFool(clf, max_iter=1, nb_grads=nb_grads, verbose=False)
    x = np.asarray(x01, np.float32)
    step = attack.generate(x[None])[0] - x
    length = float(np.linalg.norm(step))
    t = boundary_distance(net, x, step) if length > 0 else None
    return {"step": length, "boundary": t, "ratio": None if t is None else length / t}


def defect_line() -> dict | None:
    """Where the installed ART computes DeepFool's logit differences against the wrong logit.

    Returns:
      ``{"file": "art/attacks/evasion/deepfool.py", "line": n, "text": the line}``, or
      ``None`` when ART is missing or the line is not there (fixed).
    """
    if importlib.util.find_spec("art") is None:
        return None
    path = importlib.util.find_spec("art.attacks.evasion.deepfool").origin
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.lstrip().startswith("f_diff =") and DEFECT_SNIPPET in line:
                return {"file": "art/attacks/evasion/deepfool.py", "line": n, "text": line.strip()}
    return None
