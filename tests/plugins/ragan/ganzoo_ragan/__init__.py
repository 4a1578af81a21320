"""Relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018) for ganzoo: DCGAN's
networks, its own loss, and a step that overrides one hook of the default step,
``generator_update``, where G's loss gets the real batch's logits (from the last D
update, so no D pass is spent on them again). A test plugin of the step API."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ganzoo_dcgan import build

from ganzoo import AdversarialStep, ModelSpec, hookimpl


def relativistic_average(pushed_up: torch.Tensor, pushed_down: torch.Tensor) -> torch.Tensor:
    """-E[log sigmoid(up - E[down])] - E[log(1 - sigmoid(down - E[up]))]: ``pushed_up``
    should score above the average of ``pushed_down``, and the other way round."""
    up, down = pushed_up.float(), pushed_down.float()
    return F.softplus(-(up - down.mean())).mean() + F.softplus(down - up.mean()).mean()


class RelativisticAverageLoss:
    """D's side: real above the average fake, fake below the average real."""

    def discriminator_loss(self, real, fake, real_labels, fake_labels):
        return relativistic_average(real.source, fake.source)

    def generator_loss(self, fake, fake_labels):
        raise NotImplementedError("the relativistic G loss needs the real logits: RelativisticStep gives them")


class RelativisticStep(AdversarialStep):
    """G's side, the same comparison turned round: fakes above the average real."""

    def generator_update(self, g):
        return {"g_loss": relativistic_average(g.fake_out.source, g.real_out.source)}


@hookimpl
def register_losses(register):
    register("relativistic-average", RelativisticAverageLoss)


@hookimpl
def register_models(register):
    register(ModelSpec(name="ragan", build=build, loss="relativistic-average", step=RelativisticStep,
                       conditional=False,
                       description="Relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018), DCGAN's networks"))
