"""Training speed: the reference ACGAN loop and ganzoo's trainer, same data, same batch.

    .venv/bin/python tests/bench/train_speed.py --data-dir ../shared/datasets/mnist-5k --steps 150

Each side runs in its own process (so peak memory is its own), on the same MNIST-format
data, for the same number of steps after the same warm-up; prints images/s, the ratio and
peak resident memory. No files are written by either side (no sample grids, checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _timed(run, steps: int, warmup: int, batch_size: int) -> dict:
    marks = {}

    def on_step(step: int) -> None:
        if step == warmup:
            marks["start"] = time.perf_counter()

    run(on_step)
    elapsed = time.perf_counter() - marks["start"]
    return {
        "images_per_s": (steps - warmup) * batch_size / elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_reference(args) -> dict:
    import torch

    sys.path.insert(0, str(HERE))
    import reference_acgan
    from ganzoo.data import idx_root  # the decompressed copy of the IDX files
    from torchvision import datasets

    torch.manual_seed(0)
    root = idx_root(Path(args.data_dir), datasets.MNIST) or Path(args.data_dir)
    return _timed(
        lambda on_step: reference_acgan.train(str(root), args.steps, args.batch_size, args.device, on_step),
        args.steps, args.warmup, args.batch_size,
    )


def run_ganzoo(args) -> dict:
    from ganzoo.data import load_dataset
    from ganzoo.models import build_model, resolve_device
    from ganzoo.plugins import get_host
    from ganzoo.recipes import load_recipe, resolve
    from ganzoo.train.trainer import Trainer
    from ganzoo.training import seed_everything

    host = get_host()
    name, raw = load_recipe("mnist", host.recipes)
    settings = resolve(host.models.get("acgan"), name, raw, {
        "max_steps": args.steps, "batch_size": args.batch_size, "log_every": args.steps,
    }).settings
    data = load_dataset("mnist", args.data_dir, channels=1, image_size=28)
    seed_everything(0)
    trainer = Trainer(build_model("acgan", settings, data.num_classes), settings, data,
                      device=resolve_device(args.device), progress=False)
    original = trainer.train_step

    def run(on_step):
        def step_and_mark(real, labels):
            original(real, labels)
            on_step(trainer.step + 1)

        trainer.train_step = step_and_mark
        trainer.fit()

    return _timed(run, args.steps, args.warmup, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with MNIST/raw/ (IDX files, .gz allowed)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--side", choices=["reference", "ganzoo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = run_reference(args) if args.side == "reference" else run_ganzoo(args)
        print(json.dumps(result))
        return

    results = {}
    for side in ("reference", "ganzoo"):
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--side", side],
                             capture_output=True, text=True, check=True)
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    ref, ours = results["reference"], results["ganzoo"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {args.device}")
    print(f"batch {args.batch_size}, {args.steps} steps ({args.warmup} warm-up steps not timed)")
    print(f"reference loop : {ref['images_per_s']:8.1f} images/s   peak RSS {ref['peak_rss_mib']:7.0f} MiB")
    print(f"ganzoo trainer : {ours['images_per_s']:8.1f} images/s   peak RSS {ours['peak_rss_mib']:7.0f} MiB")
    print(f"ratio          : {ours['images_per_s'] / ref['images_per_s']:.2f}x")


if __name__ == "__main__":
    main()
