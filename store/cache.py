"""The one cache directory: ``$ROBUSTNESS_CACHE``, else ``~/.cache/robustness-geometry``.

Trained plane models live in ``toymodels/``, converted ImageNet weights at the top, the
compiled native kernel in ``native/``, JAX's compiled programs in ``jax-compilation/``.

Example:
    >>> import os
    >>> os.environ["ROBUSTNESS_CACHE"] = "/tmp/rg-cache"
    >>> str(cache_dir("toymodels"))
    '/tmp/rg-cache/toymodels'
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$ROBUSTNESS_CACHE`` if set, else ``~/.cache/robustness-geometry`` (not created)."""
    env = os.environ.get("ROBUSTNESS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "robustness-geometry"


def cache_dir(*parts: str) -> Path:
    """A folder under :func:`cache_root` (not created; writers create what they need)."""
    return cache_root().joinpath(*parts)


def enable_compilation_cache() -> str | None:
    """Keeps JAX's compiled programs on disk next to the model cache, so a restarted app
    skips most compilation; returns the folder (None when ``$ROBUSTNESS_JAX_CACHE`` is 0).

    The test suite turns it off, so that the tests never write to the user's cache
    directory and every test compiles what it runs.
    """
    if os.environ.get("ROBUSTNESS_JAX_CACHE") == "0":
        return None
    import jax      # only here: the rest of store imports nothing heavy

    folder = str(cache_dir("jax-compilation"))
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
