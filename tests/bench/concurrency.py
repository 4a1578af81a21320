"""How concurrent trainings on one machine slow each other: K copies of ``ganzoo train
acgan`` at once, each timed from its own metrics, under each thread setting given.

    python tests/bench/concurrency.py --data-dir ../shared/datasets/mnist-5k --copies 1,2,3 \
        --settings "default;OMP_WAIT_POLICY=PASSIVE"

Prints, per setting and K, the images/s of each copy (the mean over its log intervals
after the first), and the slowdown against one copy alone under the same setting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_copies(k: int, env_extra: dict[str, str], args) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **env_extra, "GANZOO_DEVICE": "cpu"}
        command = [sys.executable, "-m", "ganzoo", "train", "acgan", "--recipe", "mnist", "--data-dir", str(args.data_dir),
                   "-q", "--set", f"max_steps={args.steps}", "--set", f"log_every={args.log_every}",
                   "--set", "sample_every=100000", "--set", "checkpoint_every=100000"]
        processes = [subprocess.Popen([*command, "--runs-dir", f"{tmp}/runs{i}"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for i in range(k)]
        speeds = []
        for i, process in enumerate(processes):
            _, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"copy {i} failed: {err.strip()}")
            lines = [json.loads(line) for line in next(Path(f"{tmp}/runs{i}").iterdir()).joinpath(
                "metrics.jsonl").read_text().splitlines()]
            speeds.append(statistics.mean(line["images_per_s"] for line in lines[1:]))
        return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--copies", default="1,2,3")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--settings", default="default", help="';'-separated: default, or VAR=VALUE[,VAR=VALUE]")
    args = parser.parse_args()
    for setting in args.settings.split(";"):
        env_extra = {} if setting == "default" else dict(pair.split("=", 1) for pair in setting.split(","))
        alone = None
        for k in [int(c) for c in args.copies.split(",")]:
            speeds = run_copies(k, env_extra, args)
            mean = statistics.mean(speeds)
            alone = alone or mean
            print(f"{setting:<40} {k} at once: {', '.join(f'{s:7.1f}' for s in speeds)} images/s each; "
                  f"slowdown {alone / mean:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
