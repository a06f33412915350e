"""Which model a ``--model`` names: a registered family's model, or the user's ``MODULE:FUNCTION``.

The project's own models are entries of the same mechanism the user's model goes
through: each family is one :class:`Family` line below, naming its models (and their
input sides), their aliases and its loader as ``MODULE:FUNCTION``, imported only when
one of its models is loaded. Adding a family is one module with its loader and one line
here. Anything else with a colon is the user's builder (see :mod:`store.modelspec`).

Example:
    >>> choose_model("lite1")
    ModelChoice(spec='efficientnet-lite1', family='efficientnet-lite', resolution=240)
    >>> choose_model("mymodel:build").family is None, choose_model("mymodel:build").folder
    (True, 'mymodel-build')
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from imagenet.runconfig import ArgumentError
from imagenet.specs import ALIASES, MODELS
from store import parse_spec, spec_slug


class Family(NamedTuple):
    """A family of registered models.

    Attributes:
      name: the family's name.
      models: canonical model name -> input side in pixels.
      aliases: short name -> canonical name.
      loader: ``"MODULE:FUNCTION"`` of ``FUNCTION(name, *, cache_dir, depthwise) ->
        imagenet.Classifier`` (``name`` canonical).
    """

    name: str
    models: Mapping[str, int]
    aliases: Mapping[str, str]
    loader: str


# the --model help of every imagenet command
MODEL_HELP = ("efficientnet-lite0|1|2 or lite0|1|2, or your model as MODULE:FUNCTION (FUNCTION() returns an "
              "imagenet.Classifier; MODULE is looked for in the current folder first)")

FAMILIES = (
    Family("efficientnet-lite", MODELS, ALIASES, "imagenet.models:load_efficientnet_lite"),
)


class ModelChoice(NamedTuple):
    """What a ``--model`` value names, known before anything is imported.

    Attributes:
      spec: the canonical name of a registered model, or the user's ``MODULE:FUNCTION``.
      family: the registered family's name; None for the user's model.
      resolution: a registered model's input side; None until the user's builder has run.
    """

    spec: str
    family: str | None
    resolution: int | None

    @property
    def folder(self) -> str:
        """The model's part of a default run folder name: ``efficientnet-lite0``, ``pkg.mod-build``."""
        return self.spec if self.family is not None else spec_slug(self.spec)


def registered_names() -> list[str]:
    """Every registered name: canonical names, then aliases."""
    return [*(m for f in FAMILIES for m in f.models), *(a for f in FAMILIES for a in f.aliases)]


def find_registered(name: str) -> tuple[Family, str] | None:
    """``(family, canonical name)`` of a registered name or alias (case-insensitive), else None."""
    key = str(name).strip().lower()
    for family in FAMILIES:
        canonical = family.aliases.get(key, key)
        if canonical in family.models:
            return family, canonical
    return None


def choose_model(text: str, flag: str | None = "--model") -> ModelChoice:
    """The model a ``--model`` value names; a cheap check, before anything is imported.

    Args:
      text: a registered name or alias (``efficientnet-lite0``, ``lite0``), or
        ``MODULE:FUNCTION``.
      flag: the option, named first in a message (None: a library call, no option).

    Returns:
      A :class:`ModelChoice`.

    Raises:
      ArgumentError: neither a registered name nor a well-formed ``MODULE:FUNCTION``.
    """
    found = find_registered(text)
    if found is not None:
        family, canonical = found
        return ModelChoice(canonical, family.name, family.models[canonical])
    if ":" not in str(text):
        names = ", ".join(registered_names())
        raise ArgumentError(f"{flag + ': ' if flag else ''}unknown model {text!r}; choose one of {names}, "
                            "or give MODULE:FUNCTION (a function returning an imagenet.Classifier)")
    module, function = parse_spec(text, flag=flag)
    return ModelChoice(f"{module}:{function}", None, None)
