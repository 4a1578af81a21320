"""Shared building blocks: the upsampling convolution and its fused forms, the narrow
convolution and its split form, and the speed plan that picks them."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import ganzoo
from ganzoo.blocks import NarrowConv2d, UpsampleConv2d, set_fused_upsample, set_split_narrow
from ganzoo.speed import plan_speed

BENCH = Path(__file__).parent / "bench"


def _upsample_then_conv(layer: UpsampleConv2d) -> nn.Sequential:
    conv = nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1, bias=layer.bias is not None)
    plain = nn.Sequential(nn.Upsample(scale_factor=2), conv)
    plain[1].load_state_dict(layer.state_dict())
    return plain


def _in_form(layer: UpsampleConv2d, form: str) -> UpsampleConv2d:
    """The layer set to compute in ``form``: the phase and Winograd forms run on channels-last weights."""
    layer.fused, layer.winograd = form != "plain", form == "winograd"
    if form in ("phases", "winograd"):
        layer.to(memory_format=torch.channels_last)
    assert layer.form == form
    return layer


FORMS = ["plain", "transposed", "phases", "winograd"]


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


@pytest.mark.parametrize("form", ["phases", "winograd"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_and_winograd_sums_have_exact_first_and_second_derivatives(channels_last, form):
    # The phase form's interleave, the Winograd form's sums and their backwards are
    # hand-written: check them (and the backward of the backward, which a gradient
    # penalty through the layer would take)
    # against finite differences, with the output and its gradients in either layout.
    torch.manual_seed(0)
    layer = _in_form(UpsampleConv2d(3, 2, fused=True).double(), form)
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
    for form in ("transposed", "phases", "winograd"):
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
        set_fused_upsample(ours, form != "plain", winograd=form == "winograd")
        set_split_narrow(ours, form != "plain")  # the to-image NarrowConv2d split with them
        if form in ("phases", "winograd"):
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


@pytest.mark.parametrize("flags, said", [
    ({"avx2", "fma"}, "15x slower than fp32"),  # an AVX2-only CPU (AMD EPYC): bf16 emulated
    ({"avx2", "avx512f", "avx512_bf16"}, "1.45x slower than fp32"),  # AVX512-BF16, no AMX
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, None),  # AMX: bf16 is the fast path
])
def test_bf16_on_a_cpu_where_fp32_is_faster_says_so_and_auto_picks_fp32(flags, said, monkeypatch):
    from ganzoo import machine, speed

    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    note = speed.slow_bf16_note(speed.plan_speed({"precision": "bf16"}, cpu))
    if said is None:
        assert note is None
    else:
        assert said in note and "precision=fp32" in note and "\n" not in note
    assert speed.plan_speed({"precision": "auto"}, cpu).precision == ("fp32" if said else "bf16")
    assert speed.slow_bf16_note(speed.plan_speed({"precision": "fp32"}, cpu)) is None


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("kernel, in_channels, out_channels", [(3, 16, 1), (3, 16, 3), (5, 4, 2)])
def test_split_narrow_conv_is_the_conv_in_value_and_gradient(kernel, in_channels, out_channels, channels_last):
    torch.manual_seed(0)
    layer = NarrowConv2d(in_channels, out_channels, kernel)
    plain = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
    plain.load_state_dict(layer.state_dict())  # the same parameters and state dict
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    layer.to(memory_format=fmt)
    x = torch.randn(4, in_channels, 9, 7).contiguous(memory_format=fmt).requires_grad_()
    expected = plain(x)
    grad = torch.randn_like(expected)
    wanted = torch.autograd.grad(expected, [x, plain.weight, plain.bias], grad)
    layer.split = True
    out = layer(x)
    got = torch.autograd.grad(out, [x, layer.weight, layer.bias], grad)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(got, wanted):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert got[0].is_contiguous(memory_format=fmt)  # the input's gradient keeps its layout


def test_split_narrow_conv_has_exact_first_and_second_derivatives():
    layer = NarrowConv2d(3, 2, 3, split=True).double()
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    assert torch.autograd.gradgradcheck(layer, (x,))  # e.g. a gradient penalty through it


class _AtenOps(TorchDispatchMode):
    """Records the ATen operators run inside it."""

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_the_cpu_fp32_path_runs_its_products_as_convolutions_not_blas_matrix_products():
    # MKL's sgemm has run SSE code on AMD CPUs with AVX2: the Winograd form through it was
    # 1.56x the reference loop there against 2.64x as a 1x1 convolution, which oneDNN
    # runs with the kernels of the CPU's instruction sets (docs/performance.md, AVX2 only).
    torch.manual_seed(0)
    layers = [_in_form(UpsampleConv2d(8, 4), "winograd"),
              NarrowConv2d(4, 1, 3, split=True).to(memory_format=torch.channels_last)]
    x = torch.randn(2, 8, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    with _AtenOps() as seen:
        out = layers[1](layers[0](x))
        out.sum().backward()
    assert "convolution" in seen.ops and "convolution_backward" in seen.ops
    assert not seen.ops & {"mm", "addmm", "bmm", "matmul", "baddbmm"}, seen.ops
    assert x.grad is not None and layers[0].weight.grad is not None


def test_narrow_conv_needs_an_odd_kernel():
    with pytest.raises(ValueError, match="odd kernel"):
        NarrowConv2d(8, 1, 4)


@pytest.mark.parametrize(
    "settings, device, channels_last, narrow",
    [
        ({"precision": "fp32"}, "cpu", True, True),  # the fp32 CPU path: channels-last, split
        ({"precision": "bf16"}, "cpu", True, False),  # AMX's bf16 path as measured before 0.5
        ({"precision": "bf16", "narrow_conv": "on"}, "cpu", True, True),
        ({"precision": "fp32"}, "cuda", True, False),  # not measured on a GPU: cuDNN's conv
        ({"precision": "fp32", "channels_last": "off", "narrow_conv": "off"}, "cpu", False, False),
        ({"precision": "fp32", "narrow_conv": "on"}, "cuda", True, True),
        ({"precision": "fp32", "winograd_upsample": "off"}, "cpu", True, True),
    ],
)
def test_speed_plan_picks_channels_last_and_split_narrow_conv(settings, device, channels_last, narrow, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    plan = plan_speed({"cuda_graph": "off", **settings}, torch.device(device))
    assert (plan.channels_last, plan.narrow_conv) == (channels_last, narrow)
    # the Winograd form of the fused upsampling: fp32, channels-last, on the CPU
    winograd = device == "cpu" and channels_last and plan.precision == "fp32" and "winograd_upsample" not in settings
    assert plan.winograd_upsample is winograd and plan.describe()["winograd_upsample"] is winograd
    assert plan.describe()["narrow_conv"] is narrow and plan.describe()["channels_last"] is channels_last


@pytest.mark.parametrize("setting, device, has_glibc, kept", [
    ("auto", "cpu", True, True),
    ("auto", "cpu", False, False),  # musl, macOS, Windows: nothing to tune
    ("auto", "cuda", True, False),  # the GPU's memory has PyTorch's own caching allocator
    ("on", "cuda", True, True),
    ("off", "cpu", True, False),
])
def test_speed_plan_keeps_freed_memory_on_the_cpu_where_malloc_is_glibcs(setting, device, has_glibc, kept, monkeypatch):
    from ganzoo import speed

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    monkeypatch.setattr(speed, "glibc", lambda: object() if has_glibc else None)
    plan = plan_speed({"precision": "fp32", "cuda_graph": "off", "keep_freed_memory": setting}, torch.device(device))
    assert plan.keep_freed_memory is kept and plan.describe()["keep_freed_memory"] is kept


def test_keep_freed_memory_on_without_glibc_is_a_usage_error(monkeypatch):
    from ganzoo.errors import UsageError
    from ganzoo import speed

    monkeypatch.setattr(speed, "glibc", lambda: None)
    with pytest.raises(UsageError, match="keep_freed_memory=on needs glibc"):
        plan_speed({"precision": "fp32", "keep_freed_memory": "on"}, torch.device("cpu"))


FAULTS_OF_BIG_BLOCKS = """
import resource, sys, torch
from ganzoo.machine import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else 0
def faults():  # five 64 MiB tensors made and freed in turn, as a step makes its activations
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.empty(64 << 20, dtype=torch.uint8).fill_(1)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults(); faults()  # the heap grows to its size
print(kept, faults())
"""


def test_kept_freed_memory_is_reused_without_page_faults():
    from ganzoo.machine import glibc

    if glibc() is None:
        pytest.skip("keep_freed_memory tunes glibc's malloc; this C library is not glibc")

    def kept_and_faults(mode: str) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", FAULTS_OF_BIG_BLOCKS, mode], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        kept, faults = done.stdout.split()
        return int(kept), int(faults)

    _, faults_by_default = kept_and_faults("default")
    assert faults_by_default > 5 * 16384 * 0.9  # glibc maps each block afresh: every 4 KiB page faults
    kept, faults = kept_and_faults("keep")
    if kept < 64 << 20:
        pytest.skip(f"this glibc keeps blocks only up to {kept >> 20} MiB")
    assert faults < 500


def test_speed_drift_names_what_changed_and_knows_nothing_of_a_run_without_a_record():
    from ganzoo.speed import speed_drift

    now = {"precision": "fp32", "channels_last": True, "fused_upsample": True, "winograd_upsample": True,
           "narrow_conv": True, "cuda_graph": False, "keep_freed_memory": True, "cpu_threads": 2}
    assert speed_drift(dict(now), now) == []
    assert speed_drift({}, now) == []  # no record: nothing known to compare
    # a 0.4 record (no narrow_conv, no Winograd form, no keep_freed_memory): those were off
    old = {"precision": "bf16", "channels_last": True, "fused_upsample": True, "cuda_graph": False, "cpu_threads": 2}
    assert speed_drift(old, now) == [
        ("precision", "bf16", "fp32", "--set precision=bf16"),
        ("winograd_upsample", "off", "on", "--set winograd_upsample=off"),
        ("narrow_conv", "off", "on", "--set narrow_conv=off"),
    ]
    assert speed_drift({**now, "cuda_graph": True, "keep_freed_memory": False}, now) == []  # same numbers


@pytest.mark.parametrize("setting, device, omp_threads, shared", [
    ("auto", "cpu", None, True),
    ("auto", "cpu", "1", False),  # threads the user (or torchrun) set are kept
    ("auto", "cuda", None, False),
    ("on", "cpu", "1", True),
    ("off", "cpu", None, False),
])
def test_speed_plan_shares_the_cores_on_the_cpu_unless_the_threads_were_set(setting, device, omp_threads, shared,
                                                                           monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    if omp_threads is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp_threads)
    plan = plan_speed({"precision": "fp32", "cuda_graph": "off", "share_cores": setting}, torch.device(device))
    assert plan.share_cores is shared and plan.describe()["share_cores"] is shared
