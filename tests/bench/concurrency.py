"""How concurrent trainings on one machine slow each other: K copies of ``ganzoo train
acgan`` at once, each timed from its own metrics, under each thread setting given.

    python tests/bench/concurrency.py --data-dir ../shared/datasets/mnist-5k --copies 1,2,3 \
        --settings "default;OMP_WAIT_POLICY=PASSIVE;set:share_cores=off"

A setting is environment variables (``VAR=VALUE``) or, after ``set:``, recipe settings
given to every copy with ``--set`` (``set:share_cores=off``).

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


def run_copies(k: int, env_extra: dict[str, str], sets: list[str], args) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **env_extra, "GANZOO_DEVICE": "cpu"}
        command = [sys.executable, "-m", "ganzoo", "train", "acgan", "--recipe", "mnist", "--data-dir", str(args.data_dir),
                   "-q", "--set", f"max_steps={args.steps}", "--set", f"log_every={args.log_every}",
                   "--set", "sample_every=100000", "--set", "checkpoint_every=100000",
                   *(arg for pair in sets for arg in ("--set", pair))]
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
    parser.add_argument("--settings", default="default", help="';'-separated: default, or VAR=VALUE[,VAR=VALUE], or set:KEY=VALUE (a --set)")
    args = parser.parse_args()
    for setting in args.settings.split(";"):
        pairs = [] if setting == "default" else setting.split(",")
        sets = [pair.removeprefix("set:") for pair in pairs if pair.startswith("set:")]
        env_extra = dict(pair.split("=", 1) for pair in pairs if not pair.startswith("set:"))
        alone = None
        for k in [int(c) for c in args.copies.split(",")]:
            speeds = run_copies(k, env_extra, sets, args)
            mean = statistics.mean(speeds)
            alone = alone or mean
            print(f"{setting:<40} {k} at once: {', '.join(f'{s:7.1f}' for s in speeds)} images/s each; "
                  f"slowdown {alone / mean:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
