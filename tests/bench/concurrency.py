"""How concurrent trainings on one machine slow each other: K copies of ``ganzoo train
acgan`` at once, each timed from its own metrics, under each thread setting given.

    python tests/bench/concurrency.py --data-dir ../shared/datasets/mnist-5k --copies 1,2,3 \
        --settings "default;OMP_WAIT_POLICY=PASSIVE;set:share_cores=off"

A setting is environment variables (``VAR=VALUE``) or, after ``set:``, recipe settings
given to every copy with ``--set`` (``set:share_cores=off``).

Prints, per setting and K, the images/s of each copy (the mean over its log intervals
after the first), the fewest threads each ran with (``cpu_threads`` of its metrics), and
the slowdown against one copy alone under the same setting. With ``--beside-evaluate
RUN`` an evaluation of that acgan run (``--metrics cas``) starts ``--head-start`` seconds
before the copies, and its wall time is printed instead of the slowdown (``--copies
0,1``: the evaluation alone, then beside one training).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_copies(k: int, env_extra: dict[str, str], sets: list[str], args) -> tuple[list[float], list, float | None]:
    """(images/s of each copy, the fewest threads of each, the evaluation's seconds or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **env_extra, "GANZOO_DEVICE": "cpu"}
        evaluation, started = None, time.perf_counter()
        if args.beside_evaluate:
            evaluation = subprocess.Popen(
                [sys.executable, "-m", "ganzoo", "evaluate", "acgan", "--run", str(args.beside_evaluate),
                 "--metrics", "cas", "--out", f"{tmp}/report", "-q"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(args.head_start)
        command = [sys.executable, "-m", "ganzoo", "train", "acgan", "--recipe", "mnist", "--data-dir", str(args.data_dir),
                   "-q", "--set", f"max_steps={args.steps}", "--set", f"log_every={args.log_every}",
                   "--set", "sample_every=100000", "--set", "checkpoint_every=100000",
                   *(arg for pair in sets for arg in ("--set", pair))]
        processes = [subprocess.Popen([*command, "--runs-dir", f"{tmp}/runs{i}"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for i in range(k)]
        speeds, threads = [], []
        for i, process in enumerate(processes):
            _, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"copy {i} failed: {err.strip()}")
            lines = [json.loads(line) for line in next(Path(f"{tmp}/runs{i}").iterdir()).joinpath(
                "metrics.jsonl").read_text().splitlines()]
            speeds.append(statistics.mean(line["images_per_s"] for line in lines[1:]))
            threads.append(min((line["cpu_threads"] for line in lines if "cpu_threads" in line), default="?"))
        if evaluation is None:
            return speeds, threads, None
        _, err = evaluation.communicate()
        if evaluation.returncode != 0:
            raise SystemExit(f"the evaluation failed: {err.strip()}")
        return speeds, threads, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--copies", default="1,2,3")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--settings", default="default", help="';'-separated: default, or VAR=VALUE[,VAR=VALUE], or set:KEY=VALUE (a --set)")
    parser.add_argument("--beside-evaluate", type=Path, help="an acgan run folder to evaluate (--metrics cas) beside the copies")
    parser.add_argument("--head-start", type=float, default=15.0, help="seconds the evaluation runs before the copies start")
    args = parser.parse_args()
    for setting in args.settings.split(";"):
        pairs = [] if setting == "default" else setting.split(",")
        sets = [pair.removeprefix("set:") for pair in pairs if pair.startswith("set:")]
        env_extra = dict(pair.split("=", 1) for pair in pairs if not pair.startswith("set:"))
        alone = None
        for k in [int(c) for c in args.copies.split(",")]:
            speeds, threads, evaluated_s = run_copies(k, env_extra, sets, args)
            line = f"{setting:<40} {k} at once"
            if speeds:
                mean = statistics.mean(speeds)
                alone = alone or mean
                line += (f": {', '.join(f'{s:7.1f}' for s in speeds)} images/s each (fewest threads "
                         f"{', '.join(map(str, threads))})")
                if not args.beside_evaluate:  # beside an evaluation there is no lone copy to compare with
                    line += f"; slowdown {alone / mean:5.2f}x"
            if evaluated_s is not None:
                line += f"; the evaluation beside them: {evaluated_s:.1f} s"
            print(line, flush=True)


if __name__ == "__main__":
    main()
