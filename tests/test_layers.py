"""Shared building blocks: the upsampling convolution and its fused form."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.layers import UpsampleConv2d, set_fused_upsample
from ganzoo.train.fast import plan_speed

BENCH = Path(__file__).parent / "bench"


def _upsample_then_conv(layer: UpsampleConv2d) -> nn.Sequential:
    plain = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1))
    plain[1].load_state_dict(layer.state_dict())
    return plain


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("shape", [(3, 8, 7, 7), (2, 5, 4, 9), (1, 3, 1, 1)])
def test_upsample_conv_is_upsample_then_conv_in_value_and_gradient(fused, shape):
    torch.manual_seed(0)
    layer = UpsampleConv2d(shape[1], 6, fused=fused)
    plain = _upsample_then_conv(layer)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    layer.double()
    plain.double()
    y, expected = layer(x), plain(x)
    assert y.shape == (shape[0], 6, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, layer.weight, layer.bias], upstream)
    want = torch.autograd.grad(expected, [x, plain[1].weight, plain[1].bias], upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def test_fused_form_agrees_in_float32_channels_last_and_bf16():
    torch.manual_seed(0)
    layer = UpsampleConv2d(16, 8).to(memory_format=torch.channels_last)
    x = torch.randn(4, 16, 7, 7).contiguous(memory_format=torch.channels_last)
    plain = layer(x)
    set_fused_upsample(nn.Sequential(layer), True)
    assert layer.fused and "fused=True" in repr(layer)
    torch.testing.assert_close(layer(x), plain, rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused_bf16 = layer(x)
    assert fused_bf16.dtype == torch.bfloat16
    assert (fused_bf16.float() - plain).abs().max() < 0.05 * plain.abs().max()


def test_acgan_generator_is_the_reference_generator_in_both_forms():
    sys.path.insert(0, str(BENCH))
    try:
        import reference_acgan
    finally:
        sys.path.remove(str(BENCH))
    torch.manual_seed(0)
    reference = reference_acgan.Generator()
    ours = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28).generator
    theirs = reference.state_dict()
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in theirs.values()]
    assert "blocks.2.weight" in ours.state_dict() and "blocks.6.weight" in ours.state_dict()  # the reference numbering
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.values())))
    z, labels = torch.randn(8, 100), torch.arange(8)
    expected = reference(z, labels)
    for fused in (False, True):
        set_fused_upsample(ours, fused)
        torch.testing.assert_close(ours(z, labels), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "settings, fused",
    [
        ({"precision": "fp32"}, True),
        ({"precision": "bf16"}, False),
        ({"precision": "fp32", "fused_upsample": "off"}, False),
        ({"precision": "bf16", "fused_upsample": "on"}, True),
    ],
)
def test_speed_plan_fuses_upsampling_in_fp32_unless_told(settings, fused):
    plan = plan_speed(settings, torch.device("cpu"))
    assert plan.fused_upsample is fused and plan.describe()["fused_upsample"] is fused
