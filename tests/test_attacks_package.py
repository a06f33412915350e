"""The attacks package: its exports, its runnable docstring examples, its independence."""

import doctest
import importlib
import pathlib
import re

import pytest

import attacks

pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")

# every module of the package, read from its folder, so a new one cannot be left out
# (attacks.passes was, while it was a hand-written list)
MODULES = ["attacks"] + [f"attacks.{p.stem}" for p in
                         sorted(pathlib.Path(attacks.__file__).parent.glob("*.py"))
                         if p.stem != "__init__"]


def test_attacks_take_numpy_float64_points_and_int64_labels_under_strict_promotion():
    # callers hand over numpy arrays (float64 points, int64 labels); under strict dtype
    # promotion any mixed-dtype arithmetic inside an attack raises, so this runs only if
    # every attack casts its inputs once at the boundary
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.tree_util import Partial

    assert jax.config.jax_numpy_dtype_promotion == "strict"
    f = Partial(_linear, jnp.array([1.0, 0.0], jnp.float32))
    x = np.array([[0.1, 0.0], [0.3, 1.0], [-0.05, 0.2]])          # float64
    labels = np.array([1, 1, 0])                                    # int64, all correct
    key = jax.random.key(0)
    for delta in (attacks.fgsm(f, x, labels, norm="inf", eps=0.2),
                  attacks.pgd(f, x, labels, norm="inf", eps=0.2, key=key),
                  attacks.deepfool(f, x, labels, norm="2")):
        assert delta.dtype == jnp.float32 and delta.shape == x.shape
    # the boundary is x1 = 0: eps 0.2 reaches it from 0.1 and -0.05, not from 0.3
    delta = attacks.pgd(f, x, labels, norm="inf", eps=0.2, key=key)
    assert np.asarray(attacks.predict(f, x + np.asarray(delta))).tolist() == [0, 1, 1]


def _linear(w, x):
    import jax.numpy as jnp

    z = x @ w
    return jnp.stack([jnp.zeros_like(z), z], axis=1)


def test_the_interface_is_exported():
    for name in ["parse_norm", "lp_norm", "project", "sample_sphere", "fgsm", "pgd", "deepfool",
                 "universal_perturbation", "universal_update", "sgd_universal",
                 "sgd_universal_step", "random_perturbation", "fooling_rate"]:
        assert callable(getattr(attacks, name)), name
        assert name in attacks.__all__


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


def test_attacks_imports_nothing_of_the_project():
    root = pathlib.Path(attacks.__file__).parent
    for path in root.glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+(\w+)", path.read_text(), re.M)
        assert not set(imports) & {"toymodels", "categories", "imagenet", "app"}, path.name
