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
    """Register GAN models: ``register(ModelSpec(...))`` once per model.

    A :class:`ganzoo.ModelSpec` names the model, its ``build`` function (whose
    keyword-only parameters are the model's settings), its default loss and, when the
    default adversarial step does not fit, its own training ``step``.
    """


@hookspec
def register_losses(register):
    """Register losses: ``register(name, factory)``.

    ``factory(**options)`` returns an object with ``discriminator_loss(real, fake,
    real_labels, fake_labels)`` and ``generator_loss(fake, fake_labels)`` (see
    :class:`ganzoo.Loss`); its keyword parameters become settings whenever it is chosen.
    """


@hookspec
def register_recipes(register):
    """Register recipes.

    ``register(name, path)`` adds the YAML recipe file ``path``; ``register(name, path,
    model=MODEL)`` ships MODEL's tuning of the recipe ``name`` (a YAML mapping of
    settings applied on top of it), for a model this plugin registers.
    """


@hookspec
def register_datasets(register):
    """Register datasets: ``register(name, load, description="")``.

    ``load(root, *, train, channels, image_size)`` (it may leave out the keywords it does
    not need) returns a :class:`ganzoo.data.ImageData` or ``(images, labels,
    class_names)``: uint8 images ``(N, C, H, W)``, int64 labels ``(N,)``. ``root`` is
    the data folder (``--data-dir``).
    """


@hookspec
def register_metrics(register):
    """Register evaluation metrics: ``register(ganzoo.Metric(name, compute, ...))``.

    ``compute(inputs)`` gets the evaluator's generated and real sets
    (:class:`ganzoo.evaluate.MetricInputs`) and returns a JSON-able mapping with at least
    ``value``; reports and the leaderboard show it with no other change.
    """


@hookspec
def register_loggers(register):
    """Register training loggers: ``register(name, factory)``.

    ``factory(run_dir, settings)`` returns an object with ``scalars(metrics)``,
    ``evaluation(step, results)``, ``samples(step, grid)`` and ``close()`` (and optionally
    ``resumed(step)``, called first in a resumed run); a run uses it with ``--set logger=NAME``
    (beside others: ``--set logger=NAME,tensorboard``).
    """


@hookspec
def register_callbacks(register):
    """Register training callbacks: ``register(name, factory, description="")``.

    ``factory(settings)`` (the run's :class:`ganzoo.RunSettings`) returns a
    :class:`ganzoo.Callback` (called between training
    steps; its ``state_dict`` goes into every checkpoint); a run uses it with ``--set
    callbacks=NAME`` (several: ``--set callbacks=NAME,OTHER``).
    """
