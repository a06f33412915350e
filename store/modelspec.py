"""The user's model named as ``MODULE:FUNCTION``: imported, called, every failure one line.

Both command lines take ``--model MODULE:FUNCTION`` (``pkg.mod:build``): the module is
imported the way ``python -m`` users expect, from the current folder first and then
``sys.path``, and ``FUNCTION()`` is called with no argument. What it must return is the
caller's business (a ``logits_fn``, an ``imagenet.Classifier``); here every way the
import or the call can fail becomes one :class:`SpecError` line (a
:class:`~store.cli.UsageError`, so a command line's ``main`` reports it with exit code
2, and a ``ValueError`` for library callers), never a traceback.

Example:
    >>> parse_spec("pkg.mod:build"), spec_slug("pkg.mod:build")
    (('pkg.mod', 'build'), 'pkg.mod-build')
    >>> call_spec("math:pi")
    Traceback (most recent call last):
    ...
    store.modelspec.SpecError: math:pi is not a function (it is of type float)
    >>> call_spec("json", flag="--model")
    Traceback (most recent call last):
    ...
    store.modelspec.SpecError: --model: 'json' is not MODULE:FUNCTION (e.g. mymodel:build)
"""

from __future__ import annotations

import importlib
import os
import re
import sys

from store.cli import UsageError

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class SpecError(UsageError, ValueError):
    """A ``MODULE:FUNCTION`` that cannot give a model (reported in one line, exit code 2)."""


def one_line(err: BaseException, limit: int = 300) -> str:
    """``Type: message`` of an exception, its whitespace collapsed, at most ``limit`` characters."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(message: str, flag: str | None) -> SpecError:
    return SpecError(f"{flag}: {message}" if flag else message)


def parse_spec(spec: str, *, flag: str | None = None) -> tuple[str, str]:
    """``(module, function)`` of ``"MODULE:FUNCTION"``, both dotted Python names.

    Args:
      spec: the text given, e.g. ``"pkg.mod:build"`` (``FUNCTION`` may be dotted,
        ``mod:Models.build``).
      flag: the option it came from (``"--model"``), named first in the message.

    Returns:
      The module's and the function's dotted names.

    Raises:
      SpecError: no colon, more than one, or a part that is not a dotted Python name.
    """
    text = str(spec).strip()
    module, colon, function = text.partition(":")
    if not colon:
        raise _fail(f"{text!r} is not MODULE:FUNCTION (e.g. mymodel:build)", flag)
    if not _DOTTED.match(module) or not _DOTTED.match(function):
        raise _fail(f"{text!r} is not MODULE:FUNCTION: both parts must be Python names "
                    "(dotted for a package, e.g. pkg.mod:build)", flag)
    return module, function


def spec_slug(spec: str) -> str:
    """A file-name-safe form of a spec for folder names: ``"pkg.mod:build"`` -> ``"pkg.mod-build"``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(spec).strip().replace(":", "-")).lstrip(".") or "model"


def _cwd_first() -> None:
    """The current folder at the head of ``sys.path``, as ``python -m`` puts it (also for other launchers)."""
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a module written since the interpreter started is seen


def import_spec(spec: str, *, flag: str | None = None):
    """The object ``FUNCTION`` of ``MODULE``, imported but not called.

    Args:
      spec: ``"MODULE:FUNCTION"``.
      flag: the option it came from, named first in a message.

    Returns:
      The callable.

    Raises:
      SpecError: a bad spec, a module not found, a module whose import raised, a
        missing attribute, or one that is not callable.
    """
    module_name, function = parse_spec(spec, flag=flag)
    _cwd_first()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise _fail(f"module {module_name!r} not found in the current folder ({os.getcwd()}) "
                        "or on sys.path", flag) from None
        raise _fail(f"importing {module_name!r} failed: {one_line(err)}", flag) from None
    except Exception as err:  # noqa: BLE001 - the user's module may raise anything on import
        raise _fail(f"importing {module_name!r} failed: {one_line(err)}", flag) from None
    target = module
    for part in function.split("."):
        if not hasattr(target, part):
            raise _fail(f"module {module_name!r} has no {function!r} (the part after the colon)", flag)
        target = getattr(target, part)
    if not callable(target):
        raise _fail(f"{module_name}:{function} is not a function (it is of type {type(target).__name__})", flag)
    return target


def call_spec(spec: str, *, flag: str | None = None):
    """``FUNCTION()`` of ``MODULE``: what the user's builder returns.

    Args:
      spec: ``"MODULE:FUNCTION"``, e.g. ``"mymodel:build"``; ``MODULE`` is looked for
        in the current folder first, then on ``sys.path``.
      flag: the option it came from (``"--model"``), named first in a message.

    Returns:
      Whatever ``FUNCTION()`` returned (the caller checks it).

    Raises:
      SpecError: as :func:`import_spec`, or ``FUNCTION()`` raised (its exception type
        and message, in one line).
    """
    builder = import_spec(spec, flag=flag)
    try:
        return builder()
    except Exception as err:  # noqa: BLE001 - the user's builder may raise anything
        module, function = parse_spec(spec)
        raise _fail(f"{module}:{function}() raised {one_line(err)}", flag) from None
