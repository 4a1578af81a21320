"""The hook specifications of the ganzoo plugin API.

A plugin is a module (found through an entry point in the group ``ganzoo``) whose
functions are decorated with :data:`hookimpl` and named after one of the specs below.
Each hook receives a ``register`` callback: plugins never touch the registries directly.
A function decorated with ``hookimpl`` whose name matches no spec is an error.
"""

from __future__ import annotations

import pluggy

PROJECT = "ganzoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register):
    """Register GAN models.

    Call ``register(spec)`` once per model, with a :class:`ganzoo.ModelSpec`: its name,
    a ``build(**settings)`` function returning ``(generator, discriminator)``, the name
    of its default loss, the model's own setting defaults and, in ``train_defaults``, its
    own values for training settings such as ``lr``, ``betas`` or ``n_critic``.
    """


@hookspec
def register_losses(register):
    """Register losses.

    Call ``register(name, factory)``; ``factory(**options)`` returns an object with
    ``discriminator_loss(real, fake, real_labels, fake_labels)`` and
    ``generator_loss(fake, fake_labels)`` (see :class:`ganzoo.Loss`).
    """


@hookspec
def register_recipes(register):
    """Register recipes.

    Call ``register(name, path)`` with the path of a YAML recipe file the plugin ships;
    a recipe of the same name as a built-in one is an error.

    Call ``register(name, path, model=MODEL)`` to ship MODEL's tuning for the recipe
    ``name`` (for instance ``mnist``): a YAML mapping of settings applied on top of that
    recipe whenever MODEL trains on it. One tuning per model and recipe.
    """
