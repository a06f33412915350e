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
