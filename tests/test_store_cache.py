"""store.cache: the cache folder and the release of JAX's compiled programs."""

import sys

import jax
import jax.numpy as jnp
import pytest

from store import cache_dir, release_compiled_programs


def test_cache_dir_is_under_the_chosen_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBUSTNESS_CACHE", str(tmp_path))
    assert cache_dir("toymodels", "a") == tmp_path / "toymodels" / "a"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_compiled_programs_go_only_above_the_share_and_come_back_on_the_next_call():
    f = jax.jit(lambda x: x * 2.0 + 1.0)
    assert float(f(jnp.ones(3))[0]) == 3.0
    assert f._cache_size() == 1
    # no process holds more mappings than the kernel allows: nothing goes
    assert release_compiled_programs(share=1.0) is False
    assert f._cache_size() == 1
    # every process holds some: everything goes, and the next call compiles again
    assert release_compiled_programs(share=0.0) is True
    assert f._cache_size() == 0
    assert float(f(jnp.ones(3))[0]) == 3.0 and f._cache_size() == 1
