"""The one argparse helper of the project's command lines.

Bad command-line input is reported as one line on stderr with exit code 2, no usage
dump and no traceback: :class:`OneLineParser` raises :class:`UsageError`, which each
command line's ``main`` prints as ``error: <message>``. Its ``--help`` names each
flag's default once (:class:`DefaultsOnceFormatter`).

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


class DefaultsOnceFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: X)`` to a flag's help, once: not when the help already says its
    default, and not for flags without one (``None``, ``False``, suppressed)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default is argparse.SUPPRESS or not action.option_strings
                or action.nargs == 0):
            return text
        return f"{text} (default: {default})" if text else f"(default: {default})"


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors raise :class:`UsageError` (one line) and
    whose help names each default once (:class:`DefaultsOnceFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsOnceFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)
