"""Progress bars of the imagenet commands: tqdm on stderr, named after the stage.

A bar is shown unless the user asked for quiet, and not in ``--json`` mode when
stderr is not a terminal (a script reading the JSON wants a clean stderr), the
same rule as the ``categories`` command line.
"""

from __future__ import annotations

import sys


def wanted(quiet: bool = False, json_mode: bool = False) -> bool:
    """Whether to show a bar: not ``quiet``, and not ``json_mode`` with stderr redirected."""
    return not quiet and not (json_mode and not sys.stderr.isatty())


def bar(total: int, desc: str, *, unit: str, show: bool = True):
    """A tqdm bar over ``total`` steps on stderr (disabled, but usable, when not ``show``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=not show,
                leave=False)
