"""Shared building blocks: the upsampling convolution and its fused form."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import ganzoo
from ganzoo.blocks import UpsampleConv2d, set_fused_upsample
from ganzoo.train.speed import plan_speed

BENCH = Path(__file__).parent / "bench"


def _upsample_then_conv(layer: UpsampleConv2d) -> nn.Sequential:
    conv = nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1, bias=layer.bias is not None)
    plain = nn.Sequential(nn.Upsample(scale_factor=2), conv)
    plain[1].load_state_dict(layer.state_dict())
    return plain


def _in_form(layer: UpsampleConv2d, form: str) -> UpsampleConv2d:
    """The layer set to compute in ``form``: the phase form runs on channels-last weights."""
    layer.fused = form != "plain"
    if form == "phases":
        layer.to(memory_format=torch.channels_last)
    assert layer.form == form
    return layer


FORMS = ["plain", "transposed", "phases"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("shape, bias", [((3, 8, 7, 7), True), ((2, 5, 4, 9), False), ((1, 3, 1, 1), True)])
def test_upsample_conv_is_upsample_then_conv_in_value_and_gradient(form, shape, bias):
    torch.manual_seed(0)
    layer = UpsampleConv2d(shape[1], 6, bias=bias)
    plain = _upsample_then_conv(layer)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    layer = _in_form(layer.double(), form)
    plain.double()
    y, expected = layer(x), plain(x)
    assert y.shape == (shape[0], 6, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, *layer.parameters()], upstream)
    want = torch.autograd.grad(expected, [x, *plain[1].parameters()], upstream)
    assert len(got) == 2 + bias
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_interleaving_has_exact_first_and_second_derivatives(channels_last):
    # The phase form's interleave and its backward are hand-written: check them (and the
    # backward of the backward, which a gradient penalty through the layer would take)
    # against finite differences, with the output and its gradients in either layout.
    torch.manual_seed(0)
    layer = _in_form(UpsampleConv2d(3, 2, fused=True).double(), "phases")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    assert layer(x).is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(layer, (x,))
    assert torch.autograd.gradgradcheck(layer, (x,))


def test_fused_forms_agree_in_float32_and_bf16():
    torch.manual_seed(0)
    layer = UpsampleConv2d(16, 8)
    x = torch.randn(4, 16, 7, 7)
    plain = layer(x)
    for form in ("transposed", "phases"):
        _in_form(layer, form)
        assert "fused=True" in repr(layer)
        torch.testing.assert_close(layer(x), plain, rtol=1e-5, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fused_bf16 = layer(x)
        assert fused_bf16.dtype == torch.bfloat16
        assert (fused_bf16.float() - plain).abs().max() < 0.05 * plain.abs().max()


def test_acgan_generator_is_the_reference_generator_in_every_form():
    sys.path.insert(0, str(BENCH))
    try:
        import reference_acgan
    finally:
        sys.path.remove(str(BENCH))
    torch.manual_seed(0)
    reference = reference_acgan.Generator()
    ours = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28, bn_eps=0.8).generator  # the reference eps
    theirs = reference.state_dict()
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in theirs.values()]
    assert "blocks.2.weight" in ours.state_dict() and "blocks.6.weight" in ours.state_dict()  # the reference numbering
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.values())))
    z, labels = torch.randn(8, 100), torch.arange(8)
    expected = reference(z, labels)
    for form in FORMS:
        set_fused_upsample(ours, form != "plain")
        if form == "phases":
            ours.to(memory_format=torch.channels_last)
        assert [m.form for m in ours.modules() if isinstance(m, UpsampleConv2d)] == [form] * 2
        torch.testing.assert_close(ours(z, labels), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "settings, device, fused",
    [
        ({"precision": "fp32"}, "cpu", True),
        ({"precision": "bf16"}, "cpu", True),  # channels-last with bf16: the phase form
        ({"precision": "bf16", "channels_last": "off"}, "cpu", False),
        ({"precision": "bf16"}, "cuda", True),  # channels-last is CUDA's default: the phase form
        ({"precision": "bf16", "channels_last": "off"}, "cuda", False),
        ({"precision": "fp32"}, "cuda", True),
        ({"precision": "fp32", "fused_upsample": "off"}, "cpu", False),
        ({"precision": "bf16", "channels_last": "off", "fused_upsample": "on"}, "cpu", True),
    ],
)
def test_speed_plan_fuses_upsampling_where_measured_faster_unless_told(settings, device, fused, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # a CUDA plan sets it
    plan = plan_speed({"cuda_graph": "off", **settings}, torch.device(device))
    assert plan.fused_upsample is fused and plan.describe()["fused_upsample"] is fused


@pytest.mark.parametrize("flags, warned", [({"avx2", "fma"}, True), ({"avx2", "avx512f", "amx_bf16"}, False),
                                           ({"avx2", "avx512_bf16"}, False)])
def test_bf16_on_a_cpu_that_only_emulates_it_says_so(flags, warned, monkeypatch):
    from ganzoo.train import speed

    monkeypatch.setattr(speed, "cpu_flags", lambda: frozenset(flags))
    bf16 = speed.plan_speed({"precision": "bf16"}, torch.device("cpu"))
    note = speed.bf16_emulation_note(bf16)
    assert (note is not None) == warned
    if warned:
        assert "emulated" in note and "13x slower than fp32" in note and "\n" not in note
    assert speed.bf16_emulation_note(speed.plan_speed({"precision": "fp32"}, torch.device("cpu"))) is None
    auto = speed.plan_speed({"precision": "auto"}, torch.device("cpu"))
    assert auto.precision == ("fp32" if warned else "bf16")  # auto never picks the emulated path
