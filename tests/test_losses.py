"""The core's standard losses and regularisers, on inputs whose answers are known."""

import math

import pytest
import torch

import ganzoo
from ganzoo.losses import gradient_penalty, r1_penalty

out = ganzoo.DiscriminatorOutput
LABELS = torch.zeros(2, dtype=torch.long)


class LinearCritic(ganzoo.Discriminator):
    """D(x) = <w, x>: its input gradient is w everywhere, so every penalty is known."""

    def __init__(self, w: torch.Tensor):
        super().__init__(num_classes=0, image_shape=tuple(w.shape))
        self.w = torch.nn.Parameter(w)

    def forward(self, images, labels=None):
        return ganzoo.DiscriminatorOutput((images * self.w).flatten(1).sum(1))


def test_the_standard_losses_are_registered_by_the_builtin_plugin(fresh_plugins):
    for name in ("non-saturating", "hinge", "wasserstein", "least-squares"):
        assert fresh_plugins.losses.owner(name) == "standard"


def test_hinge_on_known_logits():
    hinge = ganzoo.get_loss("hinge")
    d = hinge.discriminator_loss(out(torch.tensor([2.0, 0.0])), out(torch.tensor([-2.0, 0.5])), LABELS, LABELS)
    assert d.item() == pytest.approx(0.5 + 0.75)  # mean(relu(1 - [2, 0])) + mean(relu(1 + [-2, 0.5]))
    assert hinge.generator_loss(out(torch.tensor([1.0, 3.0])), LABELS).item() == pytest.approx(-2.0)
    wide = ganzoo.get_loss("hinge", hinge_margin=2.0)
    assert wide.discriminator_loss(out(torch.tensor([2.0, 0.0])), out(torch.tensor([-2.0, 0.5])), LABELS,
                                   LABELS).item() == pytest.approx(1.0 + 1.25)


def test_non_saturating_on_known_logits():
    ns = ganzoo.get_loss("non-saturating")
    assert ns.generator_loss(out(torch.zeros(2)), LABELS).item() == pytest.approx(math.log(2))
    d = ns.discriminator_loss(out(torch.tensor([0.0])), out(torch.tensor([0.0])), LABELS[:1], LABELS[:1])
    assert d.item() == pytest.approx(2 * math.log(2))
    # non-saturating: G's loss is -log D(G(z)), large when D is sure the fake is fake
    assert ns.generator_loss(out(torch.tensor([-10.0])), LABELS[:1]).item() == pytest.approx(10.0, abs=1e-3)


def test_wasserstein_on_known_scores():
    w = ganzoo.get_loss("wasserstein")
    assert w.discriminator_loss(out(torch.tensor([3.0])), out(torch.tensor([1.0])), LABELS, LABELS).item() == -2.0
    assert w.generator_loss(out(torch.tensor([1.0, 3.0])), LABELS).item() == -2.0


def test_least_squares_in_both_of_the_papers_settings():
    real, fake = out(torch.tensor([1.0, 0.0])), out(torch.tensor([0.0, 2.0]))
    zero_one = ganzoo.get_loss("least-squares")  # a=0, b=1, c=1
    # 1/2 mean((real - 1)^2) + 1/2 mean((fake - 0)^2) = 1/2 * 0.5 + 1/2 * 2
    assert zero_one.discriminator_loss(real, fake, LABELS, LABELS).item() == pytest.approx(0.25 + 1.0)
    assert zero_one.generator_loss(fake, LABELS).item() == pytest.approx(0.5 * (1 + 1) / 2)
    pearson = ganzoo.get_loss("least-squares", ls_a=-1.0, ls_b=1.0, ls_c=0.0)
    assert pearson.discriminator_loss(real, fake, LABELS, LABELS).item() == pytest.approx(0.25 + 0.5 * (1 + 9) / 2)
    assert pearson.generator_loss(fake, LABELS).item() == pytest.approx(0.5 * (0 + 4) / 2)


def test_gradient_penalty_matches_its_closed_form():
    critic = LinearCritic(torch.full((1, 4, 4), 0.5))  # ||w|| = 2 for every interpolate
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    penalty = gradient_penalty(critic.critic, real, fake, None)
    assert penalty.item() == pytest.approx((2.0 - 1.0) ** 2)
    penalty.backward()  # differentiable in the critic's weights (double backward)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 0.5 everywhere
    torch.testing.assert_close(critic.w.grad, torch.full((1, 4, 4), 0.5))


def test_r1_matches_its_closed_form():
    critic = LinearCritic(torch.full((1, 4, 4), 0.5))
    real = torch.randn(8, 1, 4, 4).requires_grad_(True)
    penalty = r1_penalty(critic(real).source, real)
    assert penalty.item() == pytest.approx(4.0)  # ||w||^2
    penalty.backward()
    torch.testing.assert_close(critic.w.grad, 2 * critic.w.detach())  # d/dw ||w||^2 = 2w


def test_a_losss_options_are_settings_whichever_model_trains(fresh_plugins):
    from ganzoo.recipes import load_recipe, resolve

    name, raw = load_recipe("mnist", fresh_plugins.recipes)
    settings = resolve(ganzoo.get_model_spec("dcgan"), name, raw, {"loss": "hinge", "hinge_margin": 0.5})
    assert settings["hinge_margin"] == 0.5
    built = ganzoo.zoo.build_model("dcgan", settings, 10)
    assert built.loss.margin == 0.5
    with pytest.raises(ganzoo.UsageError, match="unknown setting 'hinge_margin'"):
        resolve(ganzoo.get_model_spec("dcgan"), name, raw, {"hinge_margin": 0.5})  # not with dcgan's own loss
    lsgan = resolve(ganzoo.get_model_spec("cgan"), name, {**raw, "loss": "least-squares"}, {"ls_c": 0})
    assert (lsgan["ls_a"], lsgan["ls_b"], lsgan["ls_c"]) == (0.0, 1.0, 0.0)
