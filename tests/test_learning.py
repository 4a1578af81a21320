"""ACGAN really learns: generated samples show the class they were conditioned on."""

import ganzoo
import math

import pytest
import torch

from ganzoo.data import ImageData
from ganzoo.blocks import NarrowConv2d, UpsampleConv2d
from ganzoo.zoo import build_model
from ganzoo.recipes import resolve
from ganzoo.generation import generate
from ganzoo.train.loop import Trainer
from ganzoo.machine import cpu_has_native_bf16
from ganzoo.train.session import seed_everything

from conftest import blob_images

SIZE = 16


class NearestCentroid:
    """A classifier trained on the real set: each class is the mean of its images.

    An image goes to the class whose centred mean it correlates with most; GAN artefacts
    outside the lit cell barely move that score, so the judge measures the class shown.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        x = images.float().flatten(1) / 255
        self.mean = x.mean(0)
        self.centroids = torch.stack([x[labels == k].mean(0) for k in range(int(labels.max()) + 1)]) - self.mean

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        scores = (images.float().flatten(1) / 255 - self.mean) @ self.centroids.T
        return float((scores.argmax(1) == labels).float().mean())


NATIVE_BF16 = cpu_has_native_bf16()
EMULATED = pytest.mark.skipif(
    not NATIVE_BF16,
    reason="this CPU has no native bf16 (AVX512-BF16 or AMX): emulated bf16 trains ~15x slower than fp32, so the "
    "400-step learning run would take tens of minutes; test_bf16_steps_train_where_bf16_is_emulated_too covers the path",
)


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=EMULATED)])
def test_acgan_learns_to_draw_the_conditioned_class(precision):
    images, labels = blob_images(100, size=SIZE, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])
    spec = ganzoo.get_model_spec("acgan")
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "epochs": 1000, "max_steps": 400,
              "batch_size": 64, "log_every": 100, "seed": 0, "precision": precision}
    settings = resolve(spec, "blobs", recipe)
    seed_everything(settings["seed"])
    model = build_model("acgan", settings, data.num_classes)
    trainer = Trainer(model, settings, data, device="cpu", progress=False)
    assert trainer.plan.precision == precision
    # both paths train channels-last with the fused upsampling (fp32: Winograd's form and
    # the to-image convolution split; bf16: the phase form, AMX's path as before)
    forms = [layer.form for layer in model.generator.modules() if isinstance(layer, UpsampleConv2d)]
    assert forms == [{"fp32": "winograd", "bf16": "phases"}[precision]] * 2
    assert [layer.split for layer in model.generator.modules() if isinstance(layer, NarrowConv2d)] == [precision == "fp32"]
    result = trainer.fit()
    assert result.steps == 400
    assert all(math.isfinite(m["d_loss"]) and math.isfinite(m["g_loss"]) for m in trainer.history)
    assert result.last_metrics["d_class_accuracy"] > 0.5

    judge = NearestCentroid(images, labels)
    held_out, held_out_labels = blob_images(20, size=SIZE, seed=99)
    assert judge.accuracy(held_out, held_out_labels) >= 0.98  # the judge itself is reliable

    wanted = torch.arange(10).repeat_interleave(50)
    fakes = generate(model.generator.eval(), wanted, seed=1, device=torch.device("cpu"))
    assert fakes.shape == (500, 1, SIZE, SIZE) and fakes.dtype == torch.uint8
    conditioned = judge.accuracy(fakes, wanted)
    print(f"{precision}: {conditioned:.1%} of samples show their class")
    assert conditioned >= 0.90, f"only {conditioned:.1%} of samples show their class"
    assert judge.accuracy(fakes, wanted.roll(50)) <= 0.2  # the labels matter, not just the judge


def test_bf16_steps_train_where_bf16_is_emulated_too():
    """A few bf16 steps on any CPU: the path runs, in the phase form, with finite losses."""
    images, labels = blob_images(20, size=SIZE, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "epochs": 100, "max_steps": 6,
              "batch_size": 32, "log_every": 3, "precision": "bf16"}
    settings = resolve(ganzoo.get_model_spec("acgan"), "blobs", recipe)
    seed_everything(0)
    model = build_model("acgan", settings, data.num_classes)
    trainer = Trainer(model, settings, data, device="cpu", progress=False)
    assert [layer.form for layer in model.generator.modules() if isinstance(layer, UpsampleConv2d)] == ["phases"] * 2
    before = model.generator.project.weight.detach().clone()
    trainer.fit()
    assert all(math.isfinite(m["d_loss"]) and math.isfinite(m["g_loss"]) for m in trainer.history)
    assert not torch.equal(model.generator.project.weight, before)
