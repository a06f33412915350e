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
import sys
from typing import Any, Callable, Sequence


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


def run_main(argv: Sequence[str] | None, parse: Callable[[Sequence[str]], Any],
             work: Callable[[Any], Any], show: Callable[[Any, Any], str | None], *,
             disk_hint: str = "", interrupted: str = "interrupted") -> int:
    """The one ``main`` of a subcommand: parse, work, print what ``show`` makes of it.

    Bad input is one line on stderr and exit code 2, never a traceback: a
    :class:`UsageError`, a ``ValueError`` (the project's input checks raise them) or an
    ``OSError`` (a path refused, a disk that fills up or goes away). Ctrl-C is one line
    and exit code 130.

    Args:
      argv: the arguments after the subcommand (None: ``sys.argv[1:]``).
      parse: ``argv -> args``.
      work: ``args -> result``.
      show: ``(args, result) ->`` the text to print, or None (e.g. on all hosts but one).
      disk_hint: what to do about an ``OSError``, appended to its line.
      interrupted: the line printed on Ctrl-C.

    Returns:
      The exit code: 0, 2 or 130.

    Example:
        >>> run_main(["3"], lambda a: int(a[0]), lambda n: n * n, lambda a, r: f"{r}")
        9
        0
    """
    try:
        args = parse(sys.argv[1:] if argv is None else list(argv))
        result = work(args)
    except (UsageError, ValueError, OSError) as err:
        hint = f"; {disk_hint}" if disk_hint and isinstance(err, OSError) else ""
        print(f"error: {' '.join(str(err).split())}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    text = show(args, result)
    if text is not None:
        print(text)
    return 0
