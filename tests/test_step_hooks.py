"""The default step's hooks hand a loss what it needs: a relativistic GAN (G's loss needs
the real logits) and consistency regularisation (a D term needs the images and D's
scores of them) are each one overridden hook of ``AdversarialStep``, with no D pass
beyond the term's own, and each learns like the built-in models
(tests/plugins/ragan, tests/plugins/crgan: test plugins, registered here in-process)."""

from __future__ import annotations

import math
import sys

import pytest
import torch

import ganzoo
from ganzoo.generation import generate
from ganzoo.plugins import register_plugin

from conftest import REPO, blob_images
from test_learning import NearestCentroid
from test_zoo import SIZE, conditioned_accuracy, nearest_real_distance, train_on_blobs

PLUGINS = REPO / "tests" / "plugins"


@pytest.fixture(autouse=True)
def step_plugins(fresh_plugins, monkeypatch):
    for name in ("ragan", "crgan"):
        monkeypatch.syspath_prepend(str(PLUGINS / name))
        module = __import__(f"ganzoo_{name}")
        register_plugin(module, name)
    yield
    for name in ("ganzoo_ragan", "ganzoo_crgan"):
        sys.modules.pop(name, None)


def d_calls_in_one_step(model: str, **settings) -> int:
    """How many times D runs in one training step of ``model``."""
    trainer, _, _ = train_on_blobs(model, 1, **settings)
    calls = []
    hook = trainer.discriminator.register_forward_hook(lambda *args: calls.append(1))
    trainer.run_step()
    hook.remove()
    return len(calls)


def test_each_hook_costs_no_d_pass_beyond_its_own_term():
    default = d_calls_in_one_step("dcgan")
    assert default == 3  # D on the real batch and on the fakes, then on the fakes in G's update
    assert d_calls_in_one_step("ragan") == default  # the real logits in G's update are the D update's
    assert d_calls_in_one_step("crgan") == default + 1  # the consistency term's own pass on shifted images


def test_a_relativistic_gan_learns_the_data_and_covers_its_classes():
    images, labels = blob_images(100, size=SIZE, seed=0)
    torch.manual_seed(0)
    untrained = ganzoo.get_model("ragan", num_classes=10, channels=1, image_size=SIZE)
    before = nearest_real_distance(generate(untrained.generator.eval(), torch.zeros(500, dtype=torch.long), seed=1,
                                            device=torch.device("cpu")), images)
    trainer, built, _ = train_on_blobs("ragan", 600)
    assert trainer.settings["loss"] == "relativistic-average"
    assert all(math.isfinite(trainer.history[-1][key]) for key in ("d_loss", "g_loss"))
    fakes = generate(built.generator.eval(), torch.zeros(500, dtype=torch.long), seed=1, device=torch.device("cpu"))
    after = nearest_real_distance(fakes, images)
    judge = NearestCentroid(images, labels)
    shares = torch.bincount(((fakes.squeeze(1).float().flatten(1) / 255 - judge.mean) @ judge.centroids.T).argmax(1),
                            minlength=10).float() / len(fakes)
    print(f"ragan: median distance to the nearest real image {before:.2f} -> {after:.2f}; shares {shares.tolist()}")
    assert after < before / 2.5 and int((shares >= 0.02).sum()) >= 5  # dcgan's bars (test_zoo.py)


def test_consistency_regularisation_learns_to_draw_the_conditioned_class():
    trainer, built, data = train_on_blobs("crgan", 450)
    last = trainer.history[-1]
    assert trainer.settings["cr_weight"] == 1.0 and 0 < last["d_cr"] < 10  # logged on its own, finite
    right, shifted = conditioned_accuracy(built, data)
    print(f"crgan: {right:.1%} of samples show their class")
    assert right >= 0.9 and shifted <= 0.1  # the acgan family's bars (test_acgan_family.py)
