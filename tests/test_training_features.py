"""The generic training features every model gets from the recipe (EMA of G, DiffAugment,
R1, separate learning rates and betas for G and D, a linear learning-rate schedule): each
is checked against its formula, so that a feature that is silently off fails here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.augment import DiffAugment, cutout, translation
from ganzoo.data import ImageData
from ganzoo.recipes import resolve
from ganzoo.train.ema import EMA
from ganzoo.train.loop import Trainer
from ganzoo.train.session import seed_everything

from conftest import blob_images

SIZE = 8


class ToyGenerator(ganzoo.Generator):
    def __init__(self, latent_dim: int = 4):
        super().__init__(latent_dim=latent_dim, num_classes=0, image_shape=(1, SIZE, SIZE))
        self.net = nn.Sequential(nn.Linear(latent_dim, SIZE * SIZE), nn.BatchNorm1d(SIZE * SIZE), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(z).view(-1, 1, SIZE, SIZE)


class LinearCritic(ganzoo.Discriminator):
    """D(x) = <w, x> + b: R1 and its gradient have a closed form."""

    def __init__(self):
        super().__init__(num_classes=0, image_shape=(1, SIZE, SIZE))
        self.w = nn.Parameter(torch.randn(1, SIZE, SIZE) * 0.1)
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, images, labels=None):
        return ganzoo.DiscriminatorOutput((images * self.w).flatten(1).sum(1) + self.b)


SPEC = ganzoo.ModelSpec(name="toy", build=lambda **_: (ToyGenerator(), LinearCritic()), loss="non-saturating")


def toy_trainer(**settings) -> Trainer:
    images, labels = blob_images(8, size=SIZE, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [str(k) for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "batch_size": 16, "epochs": 100,
              "max_steps": 4, "precision": "fp32", "log_every": 1, **settings}
    resolved = resolve(SPEC, "blobs", recipe)
    seed_everything(0)
    model = ganzoo.BuiltModel(SPEC, ToyGenerator(), LinearCritic(), ganzoo.get_loss("non-saturating"))
    return Trainer(model, resolved, data, device="cpu", progress=False)


# -- EMA ----------------------------------------------------------------------------------
def test_ema_follows_its_formula_step_by_step():
    trainer = toy_trainer(ema=0.9)
    expected = [p.detach().clone() for p in trainer.generator.parameters()]  # the copy starts as G
    for t in range(4):
        trainer.run_step()
        beta = min(0.9, (1 + t) / (10 + t))
        expected = [beta * e + (1 - beta) * p.detach() for e, p in zip(expected, trainer.generator.parameters())]
    for average, want, current in zip(trainer.ema.model.parameters(), expected, trainer.generator.parameters()):
        torch.testing.assert_close(average, want)
        assert not torch.equal(average, current)  # an average, not G itself
    for average, current in zip(trainer.ema.model.buffers(), trainer.generator.buffers()):
        assert torch.equal(average, current)  # BatchNorm statistics are copied
    assert trainer.ema.updates.item() == 4 and trainer.sampling_generator is trainer.ema.model


def test_without_ema_the_generator_samples():
    trainer = toy_trainer()
    assert trainer.ema is None and trainer.sampling_generator is trainer.generator


def test_ema_warm_up_then_fixed_decay():
    module = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(module.weight)
    ema = EMA(module, decay=0.5)
    with torch.no_grad():
        module.weight.fill_(1.0)
    ema.update(module)  # t = 0: beta = min(0.5, 1/10) = 0.1
    assert ema.model.weight.item() == pytest.approx(0.9)
    for _ in range(20):
        ema.update(module)
    with torch.no_grad():
        module.weight.fill_(0.0)
    ema.update(module)  # t = 21: beta = min(0.5, 22/31) = 0.5
    assert ema.model.weight.item() == pytest.approx(0.5 * 1.0, abs=1e-6)


# -- DiffAugment ----------------------------------------------------------------------------
def test_augmentation_changes_what_d_sees_and_lets_gradients_through():
    torch.manual_seed(0)
    images = torch.rand(16, 3, 16, 16) * 2 - 1
    images.requires_grad_(True)
    augmented = DiffAugment("color,translation,cutout")(images)
    assert augmented.shape == images.shape and not torch.allclose(augmented, images)
    augmented.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_translation_moves_pixels_and_its_gradient_is_the_mask_of_what_stays():
    torch.manual_seed(1)
    images = torch.arange(1.0, 1 + 16 * 16).view(1, 1, 16, 16).repeat(32, 1, 1, 1).requires_grad_(True)
    moved = translation(images)
    assert set(moved.unique().tolist()) <= set(images.unique().tolist()) | {0.0}  # pixels move, none is made up
    assert (moved != images).flatten(1).any(1).sum() > 16  # most images moved (shifts of up to 2 pixels)
    moved.sum().backward()
    kept = (moved != 0).flatten(1).sum(1).float()
    assert set(images.grad.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(images.grad.flatten(1).sum(1), kept)


def test_cutout_zeroes_at_most_a_half_side_square():
    torch.manual_seed(2)
    images = torch.ones(64, 1, 16, 16)
    holes = (cutout(images) == 0).flatten(1).sum(1)
    assert holes.max() <= 64 and holes.min() > 0 and (holes == 64).any()


def test_the_step_augments_real_and_fake_images_before_d(monkeypatch):
    trainer = toy_trainer(augment="translation,cutout")
    seen = []
    original = trainer.discriminator.forward
    monkeypatch.setattr(trainer.discriminator, "forward", lambda images, labels=None: seen.append(images) or original(images))
    batch = trainer.draw_batch()
    real, _ = trainer._real_batch(batch.index[0])
    trainer.run_step()
    assert len(seen) == 3  # real and fake in the D update, fake in the G update
    assert seen[0].shape == real.shape and not torch.equal(seen[0], real)
    assert (seen[0] == -1).sum() + (seen[0] == 0).sum() > (real == -1).sum()  # holes and borders of zeros


# -- R1 ----------------------------------------------------------------------------------
def d_gradient(trainer: Trainer) -> torch.Tensor:
    step = trainer.train_step
    batch = trainer.draw_batch()
    real, labels = trainer._real_batch(batch.index[0])
    fake = trainer.generator(batch.z[0]).detach()
    terms, _ = step.discriminator_losses(real, labels, fake, batch.fake_labels[0], batch.z[0])
    trainer.discriminator.zero_grad()
    sum(terms.values()).backward()
    return trainer.discriminator.w.grad.clone()


def test_r1_adds_gamma_times_w_to_a_linear_ds_gradient():
    plain, with_r1 = toy_trainer(), toy_trainer(r1_gamma=2.0)
    w = with_r1.discriminator.w.detach().clone()
    assert torch.equal(w, plain.discriminator.w.detach())  # the same start
    difference = d_gradient(with_r1) - d_gradient(plain)
    torch.testing.assert_close(difference, 2.0 * w)  # d/dw [gamma/2 ||w||^2] = gamma w
    with_r1.run_step()
    assert "d_r1" in with_r1.sums.names


# -- TTUR and the schedule -------------------------------------------------------------------
def test_separate_learning_rates_and_betas_move_g_and_d_by_their_own_rate():
    trainer = toy_trainer(lr_g=1e-3, lr_d=1e-5, betas_d=[0.0, 0.9])
    assert trainer.opt_g.param_groups[0]["betas"] == (0.5, 0.999) and trainer.opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    g0 = [p.detach().clone() for p in trainer.generator.parameters()]
    d0 = [p.detach().clone() for p in trainer.discriminator.parameters()]
    trainer.run_step()
    # Adam's first step moves each weight with a gradient by its learning rate
    g_moved = max((p - q).abs().max().item() for p, q in zip(trainer.generator.parameters(), g0))
    d_moved = max((p - q).abs().max().item() for p, q in zip(trainer.discriminator.parameters(), d0))
    assert g_moved == pytest.approx(1e-3, rel=1e-2) and d_moved == pytest.approx(1e-5, rel=1e-2)


def test_linear_schedule_decays_every_rate_to_zero_over_the_budget():
    trainer = toy_trainer(lr_schedule="linear", lr_g=4e-4, lr_d=2e-4)
    seen = []
    for _ in range(4):
        trainer.run_step()
        trainer.step += 1
        seen += [trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]]
    assert seen == pytest.approx([rate * f for f in (1.0, 0.75, 0.5, 0.25) for rate in (4e-4, 2e-4)])
    constant = toy_trainer()
    constant.run_step()
    assert constant.opt_g.param_groups[0]["lr"] == 2e-4


# -- all of them at once, resumed ---------------------------------------------------------------
def test_every_feature_on_resumes_bitwise(mnist_like_root, tmp_path):
    """A run with every feature on, resumed from its step-7 checkpoint, ends where the
    uninterrupted run ended (the schedule's horizon is the same 12 steps)."""
    import shutil

    from ganzoo.runs.checkpoint import load_checkpoint
    from ganzoo.train.session import resume_run, train_run

    sets = ["precision=fp32", "batch_size=16", "log_every=1", "sample_every=1000", "checkpoint_every=7",
            "ema=0.99", "augment=color,translation,cutout", "r1_gamma=1.0", "lr_g=3e-4", "lr_d=1e-4",
            "betas_d=0.0,0.99", "lr_schedule=linear", "max_steps=12", "width=8"]
    runs = tmp_path / "runs"
    straight = train_run("dcgan", "mnist", overrides=sets, data_dir=mnist_like_root, runs_dir=runs, device="cpu",
                         progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(straight, broken)
    checkpoints = broken / "checkpoints"
    (checkpoints / "last.pt").unlink()
    shutil.copy(checkpoints / "step_0000007.pt", checkpoints / "last.pt")
    resume_run("dcgan", broken, overrides=[], data_dir=mnist_like_root, runs_dir=runs, device="cpu", progress=False)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (straight, broken))
    assert a["step"] == b["step"] == 12
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key}"
    for key, value in a["generator_ema"]["weights"].items():
        assert torch.equal(value, b["generator_ema"]["weights"][key]), f"ema {key}"
    assert a["optimizer_g"]["param_groups"][0]["lr"] == b["optimizer_g"]["param_groups"][0]["lr"]
    assert a["generator_ema"]["updates"].item() == 12
    assert not torch.equal(a["generator_ema"]["weights"]["project.weight"], a["generator"]["project.weight"])
