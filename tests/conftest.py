"""Shared fixtures: trained preset models and converted ImageNet weights, cached for the whole session."""

import functools
import os
import sys

import tempfile

import pytest

# Tests never touch the user's cache: trained models and converted weights go to a
# fresh folder per session (unless the caller chose one).
os.environ.setdefault("ROBUSTNESS_CACHE", tempfile.mkdtemp(prefix="robustness-cache-"))
# No persistent JAX compilation cache in the test process: the app (run in-process by
# AppTest) would turn it on for every later test. (An XLA:CPU segfault compiling Lite1/Lite2
# late in a single-process run was first blamed on it, wrongly: JAX 0.10 compiles through
# the same path without a cache directory; see test_lite1_lite2_smoke.)
os.environ.setdefault("ROBUSTNESS_JAX_CACHE", "0")
# The suite compiles about 8,000 distinct programs and runs most of them once or twice:
# half of its time is XLA:CPU's backend compilation. The older (non-MLIR) fusion emitters
# compile about 40% faster (a report of two presets: 21.2 s of compilation against 13.4 s)
# and gave the same numbers to the last bit there, but their programs run slower (the
# exact scan of 1000 points 1.7-2x, Lite0's forward+gradient 6-8%), so only the tests use
# them; the app, the command lines and `python -m bench` keep XLA's default. Set before
# jax starts its backend, and inherited by the command lines the tests run.
if "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_use_fusion_emitters=false").strip()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drops JAX's compiled programs after a test file once the worker holds over a
    quarter of the kernel's limit of memory mappings: a worker compiles thousands of
    programs, about six mappings each, and XLA:CPU segfaults at the limit (seen twice on
    2026-12-07, with 53,809 of 65,530 mappings in the worker)."""
    yield
    from store import release_compiled_programs

    release_compiled_programs(share=0.25)


@functools.cache
def trained_preset(name: str, seed: int = 0):
    """A preset's model trained with its default configuration (memoised)."""
    import jax

    from toymodels.presets import preset_config
    from toymodels import get_task, train

    # optax's schedules mix Python floats and int32 step counts: train under the
    # standard promotion rules even in modules that test our code under strict ones.
    with jax.numpy_dtype_promotion("standard"):
        return train(get_task(name), preset_config(name, seed=seed))


@pytest.fixture(scope="session")
def trained():
    return trained_preset


def _hand_written_mlp(act, sizes=(2, 16, 16, 3), seed=0, scale=1.2):
    """``act(...act(x @ W0 + b0)...) @ Wn + bn`` in plain ``jnp`` (no Flax), as a
    ``jax.tree_util.Partial`` of its weights: a classifier the project did not build."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(seed)
    params = [(jnp.asarray(rng.normal(0, scale / np.sqrt(a), (a, b)), jnp.float32),
               jnp.asarray(rng.normal(0, 0.3, b), jnp.float32))
              for a, b in zip(sizes[:-1], sizes[1:])]

    def logits(p, x):
        for w, b in p[:-1]:
            x = act(x @ w + b)
        w, b = p[-1]
        return x @ w + b
    return jax.tree_util.Partial(logits, params)


@pytest.fixture(scope="session")
def hand_written_mlp():
    """The factory ``hand_written_mlp(act, sizes, seed, scale)`` of plain ``jnp`` MLPs."""
    return _hand_written_mlp


@pytest.fixture(scope="session")
def weight_cache(tmp_path_factory):
    """One converted-weights cache for the whole session (the ImageNet model tests share it)."""
    return tmp_path_factory.getbasetemp() / "imagenet-weights"


@pytest.fixture
def strict_dtype_promotion():
    """Runs a test under strict dtype promotion (restored afterwards): the attack tests'
    ``pytestmark = pytest.mark.usefixtures("strict_dtype_promotion")``, so an attack that
    mixes dtypes silently fails there rather than in a user's strict program."""
    import jax

    old = jax.config.jax_numpy_dtype_promotion
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    yield
    jax.config.update("jax_numpy_dtype_promotion", old)
