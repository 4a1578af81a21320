import pytest
import torch

import ganzoo
from ganzoo import DiscriminatorOutput


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (1, 16)])
def test_shapes_for_every_recipe_size(channels, size):
    built = ganzoo.get_model("acgan", num_classes=10, channels=channels, image_size=size, latent_dim=32)
    z = torch.randn(5, 32)
    labels = torch.arange(5)
    images = built.generator(z, labels)
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    out = built.discriminator(images)
    assert isinstance(out, DiscriminatorOutput)
    assert out.source.shape == (5,) and out.classes.shape == (5, 10)


def test_heads_emit_logits_and_the_loss_uses_them():
    torch.manual_seed(0)
    built = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28)
    with torch.no_grad():
        for layer in (built.discriminator.source_head, built.discriminator.class_head):
            layer.bias.fill_(5.0)
        out = built.discriminator(torch.zeros(4, 1, 28, 28))
    assert (out.source > 1).all()  # a sigmoid could never exceed 1
    assert not torch.allclose(out.classes.softmax(1).sum(1), out.classes.sum(1))
    labels = torch.zeros(4, dtype=torch.long)
    expected = (
        torch.nn.functional.binary_cross_entropy_with_logits(out.source, torch.ones(4))
        + torch.nn.functional.cross_entropy(out.classes, labels)
    ) / 2
    assert torch.allclose(built.loss.generator_loss(out, labels), expected)


def test_discriminator_loss_is_the_reference_average():
    loss = ganzoo.get_loss("acgan")
    real = DiscriminatorOutput(torch.tensor([10.0, 10.0]), torch.tensor([[10.0, -10.0], [-10.0, 10.0]]))
    fake = DiscriminatorOutput(torch.tensor([-10.0, -10.0]), torch.tensor([[10.0, -10.0], [-10.0, 10.0]]))
    perfect = loss.discriminator_loss(real, fake, torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert perfect < 1e-3
    fooled = loss.discriminator_loss(fake, real, torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert fooled > 4.9  # (10 + 10) / 2 / 2 on the source terms


def test_reference_init_and_batchnorm_eps():
    torch.manual_seed(0)
    built = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28)
    convs = [m for m in built.generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(abs(float(c.weight.detach().std()) - 0.02) < 0.005 for c in convs[:2])
    norms = [m for m in built.discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [n.eps for n in norms] == [1e-5, 1e-5, 1e-5]  # ganzoo's default; the reference's 0.8 is a preset away
    assert all(float(n.bias.detach().abs().max()) == 0 and abs(float(n.weight.detach().mean()) - 1) < 0.02 for n in norms)
    other = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28, bn_eps=0.8)
    assert {m.eps for m in other.discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.8}


def test_labels_change_the_output():
    torch.manual_seed(0)
    g = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28).generator.eval()
    z = torch.randn(1, 100).repeat(2, 1)
    a, b = g(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)


def test_bad_image_size_is_explained():
    with pytest.raises(ValueError, match="multiple of 4"):
        ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=30)
