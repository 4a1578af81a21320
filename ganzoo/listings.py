"""What is installed, in detail: one mapping per model, recipe, dataset, metric and plugin,
as the listings print them (``ganzoo models --json``) and ``ganzoo.api.catalog`` returns."""

from __future__ import annotations

import dataclasses
from typing import Any

from .models import model_settings
from .plugins import get_host
from .recipes import describe
from .zoo import get_model_spec, list_models, model_owner


def models() -> list[dict[str, Any]]:
    host = get_host()
    return [{"name": name, "conditional": spec.conditional, "plugin": model_owner(name), "loss": spec.loss,
             "description": spec.description, "settings": model_settings(spec), "train_defaults": spec.train_defaults,
             "step": spec.step.__name__ if spec.step else "AdversarialStep", "tunings": host.tuned_recipes(name),
             "presets": spec.presets}
            for name, spec in ((n, get_model_spec(n)) for n in list_models())] + contested_models()


def contested_models() -> list[dict[str, Any]]:
    """Model names that several plugins register, so none has them: who, and how to choose."""
    models = get_host().models
    return [{"name": name, "contested_by": list(models.contested[name]), "note": models.contest_note[name]}
            for name in sorted(models.contested)]


def recipes() -> list[dict[str, Any]]:
    host = get_host()
    return [{"name": name, "owner": source.owner, "description": describe(source), "path": source.path,
             "tuned_by": {model: host.tuning(model, name).path for model in host.tuned_models(name)}}
            for name, source in ((n, host.recipes.get(n)) for n in host.recipes)]


def datasets() -> list[dict[str, Any]]:
    host = get_host()
    return [{"name": name, "plugin": host.datasets.owner(name), "description": host.datasets.get(name).description}
            for name in host.datasets]


def metrics() -> list[dict[str, Any]]:
    host = get_host()
    return [{"name": m.name, "plugin": host.metrics.owner(m.name), "label": m.label, "better": m.better,
             "applies": m.applies, "description": m.description} for m in host.metrics.in_order()]


def plugins() -> list[dict[str, Any]]:
    return [dataclasses.asdict(info) for info in get_host().plugins]
