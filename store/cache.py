"""The one cache directory: ``$ROBUSTNESS_CACHE``, else ``~/.cache/robustness-geometry``.

Trained plane models live in ``toymodels/``, converted ImageNet weights at the top, the
compiled native kernel in ``native/``, JAX's compiled programs in ``jax-compilation/``.
A long-lived process drops its compiled programs from memory with
:func:`release_compiled_programs` before they exhaust the kernel's memory mappings.

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


def _mapping_share() -> float | None:
    """This process's memory mappings over the kernel's limit (``vm.max_map_count``);
    None where /proc cannot tell (not Linux)."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
        with open("/proc/self/maps") as f:
            count = sum(1 for _ in f)
    except (OSError, ValueError):
        return None
    return count / limit


def release_compiled_programs(share: float = 0.5) -> bool:
    """Drops JAX's compiled programs once this process holds over ``share`` of the
    kernel's limit of memory mappings; returns whether it did.

    Every program XLA:CPU compiles keeps about six mappings (its machine code) until its
    cache entry goes, and at the limit (65530 by default) a compilation's ``mmap`` fails
    and XLA:CPU segfaults. A long-lived process that compiles for ever new shapes (the
    app's server, a test worker) calls this now and then; later calls compile again, or
    load from :func:`enable_compilation_cache`'s folder where that is on.

    Args:
      share: the fraction of ``vm.max_map_count`` above which the programs go.

    Returns:
      True when the caches were cleared (never where /proc cannot tell).

    Example:
        >>> release_compiled_programs(share=1.0)
        False
    """
    held = _mapping_share()
    if held is None or held <= share:
        return False
    import gc

    import jax      # only here, as in enable_compilation_cache

    jax.clear_caches()
    gc.collect()
    return True
