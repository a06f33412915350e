"""Content hashes that name cached files.

Example:
    >>> config_digest({"b": 1, "a": 2}) == config_digest({"a": 2, "b": 1})
    True
    >>> len(content_digest(b"x", "y"))
    64
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np


def content_digest(*parts) -> str:
    """SHA-256 (hex) of ``parts`` in order: bytes as they are, strings as UTF-8, arrays
    as their contiguous bytes."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode("utf-8")
        elif isinstance(part, np.ndarray):
            part = np.ascontiguousarray(part).tobytes()
        h.update(part)
    return h.hexdigest()


def config_digest(config) -> str:
    """16 hex digits naming a configuration (a dataclass or a JSON-ready dict): the hash
    of its JSON with sorted keys, so equal configurations share one file."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return content_digest(json.dumps(config, sort_keys=True))[:16]
