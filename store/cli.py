"""The one argparse error helper of the project's command lines.

Bad command-line input is reported as one line on stderr with exit code 2, no usage
dump and no traceback: :class:`OneLineParser` raises :class:`UsageError`, which each
command line's ``main`` prints as ``error: <message>``.

Example:
    >>> p = OneLineParser(prog="demo")
    >>> _ = p.add_argument("--n", type=int)
    >>> try:
    ...     p.parse_args(["--n", "x"])
    ... except UsageError as e:
    ...     print(e)
    argument --n: invalid int value: 'x'
"""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`UsageError` (one line)."""

    def error(self, message):
        raise UsageError(message)
