"""Training steps: what a model does with one batch, and what it is given to do it.

The loop (``loop.py``) owns everything that is not the model's business: devices,
precision, memory format, CUDA graphs, DDP, the run's random draws, metric sums,
signals, checkpoints and logs. Each step it draws a :class:`Batch` and calls the model's
:class:`TrainStep`, which updates the networks and returns named 0-d tensors; the loop
sums them on the device and logs their means under those names.

The default step is :class:`AdversarialStep`: ``n_critic`` D updates, then one G update,
with the recipe's augmentation and regularisers. A model whose training differs (an
InfoGAN's mutual-information term, a twin classifier) subclasses it, or
:class:`TrainStep`, and names the class in ``ModelSpec.step``.

What a step must not do, so that the loop can capture it in a CUDA graph: read a value
back to the host (``.item()``, ``float(t)``, ``print(t)``, an ``if`` on a tensor), change
a tensor's shape from one step to the next, draw random numbers from anything but
torch's generators, or read a Python value that changes between steps (use a tensor
buffer, as the EMA's update counter does). A step that breaks these rules still trains
eagerly: the loop falls back with one line on stderr when capture fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..augment import DiffAugment
from ..contracts import Discriminator, DiscriminatorOutput, Generator
from ..losses import gradient_penalty, r1_penalty
from ..settings import RunSettings


@dataclass
class Batch:
    """The random inputs the loop drew for one step, one row per D update: row indices
    of the real data, noise (``generator.sample_latent``), and labels for the fakes (drawn
    uniformly over the classes; all 0 for data of one class, and an unconditional
    generator never reads them)."""

    index: torch.Tensor  # (updates, n) int64
    z: torch.Tensor  # (updates, n, ...) noise
    fake_labels: torch.Tensor  # (updates, n) int64, drawn uniformly over the classes

    @property
    def updates(self) -> int:
        return int(self.index.shape[0])


@dataclass
class DUpdate:
    """One D update, as :meth:`AdversarialStep.discriminator_update` gets it: the images as
    D saw them and what it said of them.

    ``real`` and ``fake`` are the images D was given: with ``augment`` set, already
    augmented (DiffAugment); ``fake`` detached from G; ``real`` requiring its gradient when
    ``r1_gamma`` is set. ``real_out`` and ``fake_out`` are D's outputs on them. ``labels``
    are the real images' classes, ``fake_labels`` those G was asked for, ``z`` its noise.
    ``critic(images, labels)`` calls D again the right way (through DDP), for a term that
    needs D on other images (consistency regularisation: D on ``augmented(real)``)."""

    real: torch.Tensor
    fake: torch.Tensor
    real_out: DiscriminatorOutput
    fake_out: DiscriminatorOutput
    labels: torch.Tensor
    fake_labels: torch.Tensor
    z: torch.Tensor
    critic: Callable[[torch.Tensor, torch.Tensor | None], DiscriminatorOutput]


@dataclass
class GUpdate:
    """G's update, as :meth:`AdversarialStep.generator_update` gets it: ``fake`` (G's
    images as the frozen D saw them, augmented with ``augment``, with G's graph) and
    ``fake_out``, D's output on them; ``fake_labels`` and ``z`` they were made from. For a
    loss that compares with the real batch (a relativistic one): ``real`` and ``real_out``,
    the last D update's real images and D's output on them, detached (from before that
    update's optimiser step: no D pass is spent on them again)."""

    fake: torch.Tensor
    fake_out: DiscriminatorOutput
    fake_labels: torch.Tensor
    z: torch.Tensor
    real: torch.Tensor | None  # None when a step's own discriminator_losses does not call the default one
    real_out: DiscriminatorOutput | None


class StepContext:
    """What a training step works with; the loop builds one per run.

    Networks: ``generator`` and ``discriminator`` are the modules themselves (their
    attributes, their parameters); :meth:`generate` and :meth:`critic` call them the
    right way (through DDP under torchrun, with labels only where they read them).
    Optimisers: ``opt_g`` and ``opt_d``. ``loss`` is the run's loss object, ``settings``
    every resolved setting, a :class:`ganzoo.settings.RunSettings` (``settings.n_critic``,
    ``settings["n_critic"]``).
    """

    def __init__(
        self,
        *,
        generator: Generator,
        discriminator: Discriminator,
        loss: Any,
        settings: Mapping[str, Any],
        real_batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        autocast: Callable[..., Any],
        wrap: Callable[[nn.Module], nn.Module],
        device: torch.device,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.settings = settings if isinstance(settings, RunSettings) else RunSettings(settings)
        self.device = device
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.graphed = False  # True while the loop captures the step in a CUDA graph
        self._real_batch = real_batch
        self._autocast = autocast
        self._wrap = wrap
        self._g_call = wrap(generator)
        self._d_call = wrap(discriminator)
        self.augment = DiffAugment(settings.get("augment", "none"))

    # -- data ----------------------------------------------------------------------
    def real(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real images in [-1, 1] (the run's memory format) and their labels."""
        return self._real_batch(index)

    # -- calling the networks ----------------------------------------------------------
    def generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """G(z, labels) through DDP; an unconditional generator gets no labels."""
        return self._g_call(z, labels if self.generator.conditional else None)

    def critic(self, images: torch.Tensor, labels: torch.Tensor | None) -> DiscriminatorOutput:
        """D(images[, labels]) through DDP, for D updates."""
        if self.discriminator.uses_labels:
            return self._d_call(images, labels)
        return self._d_call(images)

    def distributed(self, module: nn.Module) -> nn.Module:
        """A step-owned module wrapped the way G and D are (DDP under torchrun)."""
        return self._wrap(module)

    @contextmanager
    def frozen(self, module: nn.Module) -> Iterator[None]:
        """``module``'s weights get no gradient inside the block. For G's update through
        D: call ``discriminator.critic`` itself there, not :meth:`critic` (DDP would wait
        for gradients that never come)."""
        module.requires_grad_(False)
        try:
            yield
        finally:
            module.requires_grad_(True)

    # -- precision and updates ----------------------------------------------------------
    def autocast(self):
        """The run's precision (bf16 autocast or nothing) for forward passes."""
        return self._autocast(for_graph=self.graphed)

    def update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """Zero the gradients, back-propagate ``loss``, step ``optimizer``."""
        optimizer.zero_grad(set_to_none=not self.graphed)  # a captured graph keeps its gradient buffers
        loss.backward()
        optimizer.step()


class TrainStep(nn.Module):
    """A model's training step. Subclass, implement :meth:`forward`, name the class in
    ``ModelSpec.step``; the loop builds it as ``Step(context)`` once per run.

    A step is a module: networks it owns (a Q head, a twin classifier) are its
    submodules and go with it to the device and into every checkpoint, as does state
    returned by ``get_extra_state``. Optimisers it owns are returned by
    :meth:`optimizers` (the loop saves, restores and schedules them). Settings of its
    own are declared in ``settings`` (name -> default; they become run settings like the
    model's, read back as ``context.settings.NAME``).
    """

    settings: dict[str, Any] = {}

    def __init__(self, context: StepContext):
        super().__init__()
        self.context = context

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Update the networks on ``batch``; return named 0-d tensors to log."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The step's own optimisers, by name (none by default)."""
        return {}


class AdversarialStep(TrainStep):
    """The default step: ``n_critic`` D updates, each on a new real batch, then one G
    update on the last fake batch.

    D's loss is the run loss's ``discriminator_loss`` plus the regularisers the settings
    turn on: the loss's own ``discriminator_penalty`` (logged as ``d_penalty``),
    ``gp_weight`` x the gradient penalty (``d_gp``), ``r1_gamma`` / 2 x R1 (``d_r1``).
    With ``augment`` set, everything D sees passes through DiffAugment. A discriminator
    with a class head also logs how often it names the class (``d_class_accuracy``).

    Subclasses change one part by overriding, from the narrowest to the widest:
    :meth:`discriminator_terms` / :meth:`generator_terms` (terms of D's outputs, which the
    step computes once); :meth:`discriminator_update` / :meth:`generator_update` (terms
    with the whole update at hand: the images as D saw them, its outputs, and in G's the
    last D update's real outputs, :class:`DUpdate` / :class:`GUpdate`);
    :meth:`discriminator_losses` / :meth:`generator_losses` (the whole of one update's
    loss, regularisers included). ``discriminator_losses`` returns ``(terms, extras)``:
    ``terms`` are summed into D's loss, ``extras`` only logged (``d_class_accuracy``);
    every value of both is logged under its name, so ``d_loss`` is the run loss's term
    alone, not D's whole loss.
    """

    def __init__(self, context: StepContext):
        super().__init__(context)
        self._last_real: tuple[torch.Tensor, DiscriminatorOutput] | None = None  # for generator_update

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        ctx = self.context
        updates = batch.updates
        logged: dict[str, torch.Tensor] = {}
        fake = None
        for i in range(updates):
            real, labels = ctx.real(batch.index[i])
            fake_labels = batch.fake_labels[i]
            with ctx.autocast():
                with torch.set_grad_enabled(i == updates - 1):  # only the last fake batch feeds the G step
                    fake = ctx.generate(batch.z[i], fake_labels)
                terms, extras = self.discriminator_losses(real, labels, fake.detach(), fake_labels, batch.z[i])
            total = None
            for value in terms.values():
                total = value if total is None else total + value
            ctx.update(ctx.opt_d, total)
            with torch.no_grad():
                for name, value in {**terms, **extras}.items():
                    share = value.detach().float() / updates
                    logged[name] = share if name not in logged else logged[name] + share
        with ctx.frozen(ctx.discriminator):
            with ctx.autocast():
                g_terms = self.generator_losses(fake, batch.fake_labels[-1], batch.z[-1])
            total = None
            for value in g_terms.values():
                total = value if total is None else total + value
            ctx.update(ctx.opt_g, total)
        with torch.no_grad():
            logged.update({name: value.detach().float() for name, value in g_terms.items()})
        return _ordered(logged)

    def discriminator_losses(
        self, real: torch.Tensor, labels: torch.Tensor, fake: torch.Tensor, fake_labels: torch.Tensor, z: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``(terms summed into D's loss, other values to log)`` for one D update; ``fake``
        (detached) was made from the noise ``z`` and the labels ``fake_labels``."""
        ctx, s = self.context, self.context.settings
        seen_real, seen_fake = ctx.augment(real), ctx.augment(fake)
        if s.r1_gamma:
            seen_real = seen_real.detach().requires_grad_(True)
        d_real = ctx.critic(seen_real, labels)
        d_fake = ctx.critic(seen_fake, fake_labels)
        update = DUpdate(seen_real, seen_fake, d_real, d_fake, labels, fake_labels, z, ctx.critic)
        self._last_real = (seen_real.detach(), _detached(d_real))
        terms = self.discriminator_update(update)
        own_penalty = getattr(ctx.loss, "discriminator_penalty", None)
        if callable(own_penalty):
            terms["d_penalty"] = own_penalty(ctx.critic, seen_real, seen_fake, labels, fake_labels)
        if s.gp_weight:
            terms["d_gp"] = gradient_penalty(ctx.critic, seen_real, seen_fake, labels) * s.gp_weight
        if s.r1_gamma:
            terms["d_r1"] = r1_penalty(d_real.source, seen_real) * (s.r1_gamma / 2)
        extras = {}
        if d_real.classes is not None:
            extras["d_class_accuracy"] = class_accuracy(d_real, d_fake, labels, fake_labels)
        return terms, extras

    def generator_losses(self, fake: torch.Tensor, fake_labels: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's loss terms (summed into G's loss) through the frozen D, called as the module
        itself, not through DDP; ``fake`` was made from ``z`` and ``fake_labels``."""
        ctx = self.context
        seen = ctx.augment(fake)
        scores = ctx.discriminator.critic(seen, fake_labels)
        real, real_out = self._last_real if self._last_real is not None else (None, None)
        return self.generator_update(GUpdate(seen, scores, fake_labels, z, real, real_out))

    def discriminator_update(self, d: DUpdate) -> dict[str, torch.Tensor]:
        """D's loss terms of one update, with everything of it at hand (:class:`DUpdate`).
        The default is :meth:`discriminator_terms` of the outputs; override this one for a
        term that needs the images too (consistency regularisation). Each term is summed
        into D's loss and logged under its name; ``d_loss`` is the run loss's term alone."""
        return self.discriminator_terms(d.real_out, d.fake_out, d.labels, d.fake_labels)

    def generator_update(self, g: GUpdate) -> dict[str, torch.Tensor]:
        """G's loss terms, with everything of its update at hand (:class:`GUpdate`), the
        last D update's real outputs included (a relativistic loss). The default is
        :meth:`generator_terms` of the fakes' outputs."""
        return self.generator_terms(g.fake_out, g.fake_labels)

    def discriminator_terms(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput, labels: torch.Tensor, fake_labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """D's loss terms from its outputs on one real and one fake batch (the run loss's
        ``d_loss``); a model adds terms of its own heads here (a twin classifier)."""
        return {"d_loss": self.context.loss.discriminator_loss(real, fake, labels, fake_labels)}

    def generator_terms(self, fake: DiscriminatorOutput, fake_labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's loss terms from the frozen D's outputs on the fakes (the run loss's ``g_loss``)."""
        return {"g_loss": self.context.loss.generator_loss(fake, fake_labels)}


LOG_ORDER = ("d_loss", "g_loss", "d_class_accuracy", "d_penalty", "d_gp", "d_r1")


def _ordered(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The usual names first, in a fixed order, then the rest as they came."""
    first = {name: values[name] for name in LOG_ORDER if name in values}
    return {**first, **{name: value for name, value in values.items() if name not in first}}


def _detached(output: DiscriminatorOutput) -> DiscriminatorOutput:
    """``output`` with every tensor detached (its other fields as they are)."""
    return output._replace(**{name: value.detach() for name, value in output._asdict().items()
                              if isinstance(value, torch.Tensor)})


def class_accuracy(
    real: DiscriminatorOutput, fake: DiscriminatorOutput, labels: torch.Tensor, fake_labels: torch.Tensor
) -> torch.Tensor:
    """How often D's class head names the right class, on real and generated images."""
    hits = (real.classes.argmax(1) == labels).sum() + (fake.classes.argmax(1) == fake_labels).sum()
    return hits.float() / (labels.numel() + fake_labels.numel())
