"""Settings read off a function's signature, the one walker for every kind of plugin
function: a model's ``build`` (its keyword-only parameters are the model's settings), a
loss factory (its keyword parameters are the loss's options) and a dataset loader (it may
leave out the keywords it does not need). As torchvision's ``get_model(name, **config)``
does, keywords go straight to the function; what it names is what it takes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

SETTING_TYPES = (bool, int, float, str)


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter] | None:
    """The parameters of ``function``, or None when Python cannot read its signature."""
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None


def setting_defaults(function: Callable[..., Any], *, keyword_only: bool = True,
                     skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``function``'s parameters that take a keyword and default to a setting value (bool,
    int, float or str), in signature order; with ``keyword_only``, only the keyword-only
    ones (``build(*, latent_dim=100)``)."""
    kinds = (inspect.Parameter.KEYWORD_ONLY,) if keyword_only else (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: p.default for p in _parameters(function) or []
            if p.kind in kinds and p.name not in skip and isinstance(p.default, SETTING_TYPES)}


def accepted(function: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``values`` that ``function``'s signature names (all of them if it takes
    ``**kwargs``, or if its signature cannot be read)."""
    parameters = _parameters(function)
    if parameters is None or any(p.kind is p.VAR_KEYWORD for p in parameters):
        return dict(values)
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {key: value for key, value in values.items() if key in names}
