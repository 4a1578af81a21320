"""Training speed: the reference ACGAN loop and ganzoo's trainer, same data, same batch.

    .venv/bin/python tests/bench/train_speed.py --data-dir ../shared/datasets/mnist-5k --steps 150

Each side runs in its own process (so peak memory is its own), on the same MNIST-format
data, for the same number of steps after the same warm-up; prints images/s, the ratio to
the reference loop and peak memory (resident, and GPU memory on CUDA). The sides take
turns for ``--rounds`` rounds (default 3), so slow and fast phases of a shared machine
fall on all of them; each ratio is the median of the per-round ratios. No files are
written by either side (no sample grids, checkpoints). ``--variants`` picks which of
ganzoo's speed paths to time (``auto`` = a recipe's default on this machine), e.g.

    .venv/bin/python tests/bench/train_speed.py --data-dir DIR --variants fp32-eager,bf16-eager
    .venv/bin/python tests/bench/train_speed.py --data-dir DIR --models acgan,tacgan,reacgan,sngan
    python tests/bench/train_speed.py --data-dir DIR --device cuda --variants fp32-eager,bf16-graph
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_memory(device: str) -> dict:
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        import torch

        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _timed(run, args) -> dict:
    """``run(on_step)`` trains ``args.steps`` steps calling ``on_step(i)`` after step i
    (1-based); the clock starts after the warm-up steps and stops when the device is idle."""
    marks = {}

    def on_step(step: int) -> None:
        if step == args.warmup:
            _sync(args.device)
            marks["start"] = time.perf_counter()

    run(on_step)
    _sync(args.device)
    elapsed = time.perf_counter() - marks["start"]
    return {"images_per_s": (args.steps - args.warmup) * args.batch_size / elapsed, **_peak_memory(args.device)}


def reference_root(data_dir: str) -> Path:
    """The root the reference loop's torchvision MNIST reads: the decompressed copy of the IDX files."""
    from ganzoo.datasets import MNIST, idx_root

    return idx_root(Path(data_dir), MNIST) or Path(data_dir)


def run_reference(args) -> dict:
    import torch

    sys.path.insert(0, str(HERE))
    import reference_acgan

    torch.manual_seed(0)
    root = reference_root(args.data_dir)
    return _timed(
        lambda on_step: reference_acgan.train(str(root), args.steps, args.batch_size, args.device, on_step), args
    )


def run_ganzoo(args, side: str) -> dict:
    from ganzoo import Callback
    from ganzoo.data import load_dataset
    from ganzoo.device import resolve_device
    from ganzoo.plugins import get_host
    from ganzoo.recipes import load_recipe, resolve
    from ganzoo.train.callbacks import default_callbacks
    from ganzoo.train.loop import Trainer
    from ganzoo.train.session import seed_everything
    from ganzoo.zoo import build_model, get_model_spec

    model, _, variant = side.rpartition(" ")
    model = model or "acgan"
    host = get_host()
    name, raw = load_recipe("mnist", host.recipes)
    overrides = {"max_steps": args.steps, "batch_size": args.batch_size, "log_every": args.steps}
    overrides.update(VARIANTS[variant])
    settings = resolve(get_model_spec(model), name, raw, overrides)
    data = load_dataset("mnist", args.data_dir, channels=1, image_size=28)
    marks = []

    class Mark(Callback):
        def after_step(self, trainer, last):
            marks[0](trainer.step)

    seed_everything(0)
    trainer = Trainer(build_model(model, settings, data.num_classes), settings, data,
                      device=resolve_device(args.device), progress=False, callbacks=default_callbacks([Mark()]))

    def run(on_step):
        marks.append(on_step)
        trainer.fit()

    result = _timed(run, args)
    result["plan"] = trainer.plan.describe()
    return result


# ganzoo's speed paths; "auto" is what a recipe gets by default on this machine.
VARIANTS = {
    "auto": {},
    "fp32-eager": {"precision": "fp32", "channels_last": "off", "cuda_graph": "off"},
    "fp32-unfused": {"precision": "fp32", "channels_last": "off", "cuda_graph": "off", "fused_upsample": "off"},
    "fp32-unsplit": {"precision": "fp32", "channels_last": "off", "cuda_graph": "off", "narrow_conv": "off"},
    "fp32-channels-last": {"precision": "fp32", "channels_last": "on", "cuda_graph": "off"},
    "fp32-phases": {"precision": "fp32", "channels_last": "on", "cuda_graph": "off", "winograd_upsample": "off"},
    "fp32-unkept": {"precision": "fp32", "cuda_graph": "off", "keep_freed_memory": "off"},
    "bf16-eager": {"precision": "bf16", "cuda_graph": "off"},
    "bf16-fused": {"precision": "bf16", "cuda_graph": "off", "fused_upsample": "on"},
    "bf16-unfused": {"precision": "bf16", "cuda_graph": "off", "fused_upsample": "off"},
    "bf16-split": {"precision": "bf16", "cuda_graph": "off", "narrow_conv": "on"},
    "bf16-unkept": {"precision": "bf16", "cuda_graph": "off", "keep_freed_memory": "off"},
    "fp32-graph": {"precision": "fp32", "cuda_graph": "on"},
    "bf16-graph": {"precision": "bf16", "cuda_graph": "on"},
    "bf16-graph-fused": {"precision": "bf16", "cuda_graph": "on", "fused_upsample": "on"},
}


def _run_side(side: str) -> dict | None:
    out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--side", side], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{side}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(args, rounds: dict[str, list[dict]]) -> None:
    """Per side: the median images/s over the rounds and the median of the per-round
    ratios (each against the reference loop of the same round)."""
    device_name = args.device
    if args.device.startswith("cuda"):
        import torch

        device_name = f"{args.device} ({torch.cuda.get_device_name()})"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {device_name}")
    print(f"batch {args.batch_size}, {args.steps} steps ({args.warmup} warm-up steps not timed), "
          f"{args.rounds} round(s), sides interleaved in each round; medians over the rounds")
    reference = rounds.get("reference")
    for side, results in rounds.items():
        speeds = [r["images_per_s"] if r else None for r in results]
        measured = [v for v in speeds if v is not None]
        if not measured:
            continue
        ratio = "       "
        if reference and side != "reference":
            pairs = [v / ref["images_per_s"] for v, ref in zip(speeds, reference) if v is not None and ref]
            ratio = f"{statistics.median(pairs):6.2f}x" if pairs else ratio
        memory = f"peak RSS {max(r['peak_rss_mib'] for r in results if r):6.0f} MiB"
        if any(r and "peak_gpu_mib" in r for r in results):
            memory += f", GPU {max(r['peak_gpu_mib'] for r in results if r):6.0f} MiB"
        label = "reference loop" if side == "reference" else f"ganzoo {side}"
        plan = next((r.get("plan", "") for r in results if r), "")
        print(f"{label:<19}: {statistics.median(measured):9.1f} images/s  {ratio}  {memory}  {plan}")
        if len(speeds) > 1:
            print(f"{'':<21}rounds: " + ", ".join("failed" if v is None else f"{v:.1f}" for v in speeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with MNIST/raw/ (IDX files, .gz allowed)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", default="auto",
                        help=f"comma-separated ganzoo paths to time: {', '.join(VARIANTS)}")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of all sides in turn (a noisy machine drifts; each ratio pairs one round)")
    parser.add_argument("--models", default="acgan",
                        help="comma-separated models to time with each variant (their recipe defaults), e.g. "
                        "acgan,tacgan,reacgan,sngan; each step of a model with n_critic > 1 makes that many D updates")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference loop")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = run_reference(args) if args.side == "reference" else run_ganzoo(args, args.side)
        print(json.dumps(result))
        return

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 0 < args.warmup < args.steps:
        parser.error(f"--steps ({args.steps}) counts the --warmup steps ({args.warmup}), which are not timed: "
                     "it must be more, and --warmup at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    named = [v if models == ["acgan"] else f"{m} {v}" for m in models for v in variants]
    sides = ([] if args.no_reference else ["reference"]) + named
    rounds: dict[str, list[dict | None]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side in sides:
            rounds[side].append(_run_side(side))
    _report(args, rounds)


if __name__ == "__main__":
    main()
