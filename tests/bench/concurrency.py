"""How concurrent trainings on one machine slow each other: K copies of ``ganzoo train
acgan`` at once, each timed from its own metrics, under each thread setting given.

    python tests/bench/concurrency.py --data-dir ../shared/datasets/mnist-5k --copies 1,2,3 \
        --settings "default;OMP_WAIT_POLICY=PASSIVE;set:share_cores=off"

A setting is environment variables (``VAR=VALUE``) or, after ``set:``, recipe settings
given to every copy with ``--set`` (``set:share_cores=off``).

Prints, per setting and K, the images/s of each copy (the mean over its log intervals
after the first), the fewest threads each ran with (``cpu_threads`` of its metrics), the
seconds each trained, and the slowdown against one copy alone under the same setting.
With ``--beside-evaluate RUN`` an evaluation of that acgan run (``--metrics cas``)
starts ``--head-start`` seconds before the copies, and its wall time is printed instead
of the slowdown (``--copies 0,1``: the evaluation alone, then beside one training). With
``--beside-tests`` the test suite, as ``make test`` runs it (a pytest-xdist worker per
core), starts ``--head-start`` seconds before the copies and is stopped when they end;
the tests it finished by then are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _interruptible() -> None:
    """In the suite's process before it starts: SIGINT as in a terminal. A script started in
    the background by a shell (``cmd &``) ignores SIGINT, and so would pytest, which then
    ran to its end instead of stopping when the copies did."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_suite(suite: subprocess.Popen) -> None:
    """SIGINT to the suite's process group (pytest ends its session, so its workers leave the
    jobs' folder); SIGKILL if it has not ended a minute later."""
    os.killpg(suite.pid, signal.SIGINT)
    try:
        suite.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(suite.pid, signal.SIGKILL)
        suite.wait()


def start_beside(args, env: dict[str, str], tmp: str) -> subprocess.Popen | None:
    """The job that runs beside the copies (an evaluation or the test suite), or None."""
    if args.beside_evaluate:
        return subprocess.Popen(
            [sys.executable, "-m", "ganzoo", "evaluate", "acgan", "--run", str(args.beside_evaluate),
             "--metrics", "cas", "--out", f"{tmp}/report", "-q"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if args.beside_tests:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        with open(f"{tmp}/tests.log", "w") as log:  # the suite writes to its own copy of the file
            return subprocess.Popen(
                [sys.executable, "-m", "pytest", "-n", str(cores), "--dist", "loadfile", "--no-loadscope-reorder",
                 "-p", "no:cacheprovider"],
                cwd=REPO, env={k: v for k, v in env.items() if k != "GANZOO_DEVICE"}, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_interruptible)
    return None


def tests_done(log: Path) -> int:
    """The tests pytest's progress lines show finished."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return sum(len(line.split(" ")[0]) for line in lines if re.fullmatch(r"[.sFExX]+( +\[ *\d+%\])?", line))


def run_copies(k: int, env_extra: dict[str, str], sets: list[str], args) -> tuple[list[float], list, list, str | None]:
    """(images/s of each copy, the fewest threads of each, the seconds each trained, what
    the job beside them did: the evaluation's seconds, the tests finished, or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **env_extra, "GANZOO_DEVICE": "cpu"}
        started = time.perf_counter()
        beside = start_beside(args, env, tmp)
        if beside is not None:
            time.sleep(args.head_start)
        command = [sys.executable, "-m", "ganzoo", "train", "acgan", "--recipe", "mnist", "--data-dir", str(args.data_dir),
                   "-q", "--set", f"max_steps={args.steps}", "--set", f"log_every={args.log_every}",
                   "--set", "sample_every=100000", "--set", "checkpoint_every=100000",
                   *(arg for pair in sets for arg in ("--set", pair))]
        processes = [subprocess.Popen([*command, "--runs-dir", f"{tmp}/runs{i}"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for i in range(k)]
        speeds, threads, trained_s = [], [], []
        for i, process in enumerate(processes):
            _, err = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"copy {i} failed: {err.strip()}")
            lines = [json.loads(line) for line in next(Path(f"{tmp}/runs{i}").iterdir()).joinpath(
                "metrics.jsonl").read_text().splitlines()]
            speeds.append(statistics.mean(line["images_per_s"] for line in lines[1:]))
            trained_s.append(lines[-1]["elapsed_s"])
            threads.append(min((line["cpu_threads"] for line in lines if "cpu_threads" in line), default="?"))
        if beside is None:
            return speeds, threads, trained_s, None
        if args.beside_tests:
            stop_suite(beside)
            return speeds, threads, trained_s, (f"the test run beside them finished {tests_done(Path(tmp) / 'tests.log')} "
                                                f"tests in {time.perf_counter() - started:.0f} s")
        _, err = beside.communicate()
        if beside.returncode != 0:
            raise SystemExit(f"the evaluation failed: {err.strip()}")
        return speeds, threads, trained_s, f"the evaluation beside them: {time.perf_counter() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--copies", default="1,2,3")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--settings", default="default", help="';'-separated: default, or VAR=VALUE[,VAR=VALUE], or set:KEY=VALUE (a --set)")
    parser.add_argument("--beside-evaluate", type=Path, help="an acgan run folder to evaluate (--metrics cas) beside the copies")
    parser.add_argument("--beside-tests", action="store_true", help="the test suite (as make test runs it) beside the copies")
    parser.add_argument("--head-start", type=float, default=15.0, help="seconds the job beside runs before the copies start")
    args = parser.parse_args()
    for setting in args.settings.split(";"):
        pairs = [] if setting == "default" else setting.split(",")
        sets = [pair.removeprefix("set:") for pair in pairs if pair.startswith("set:")]
        env_extra = dict(pair.split("=", 1) for pair in pairs if not pair.startswith("set:"))
        alone = None
        for k in [int(c) for c in args.copies.split(",")]:
            speeds, threads, trained_s, beside = run_copies(k, env_extra, sets, args)
            line = f"{setting:<40} {k} at once"
            if speeds:
                mean = statistics.mean(speeds)
                alone = alone or mean
                line += (f": {', '.join(f'{s:7.1f}' for s in speeds)} images/s each (fewest threads "
                         f"{', '.join(map(str, threads))}; trained in {', '.join(f'{t:.0f}' for t in trained_s)} s)")
                if beside is None:  # beside another job there is no lone copy to compare with
                    line += f"; slowdown {alone / mean:5.2f}x"
            if beside is not None:
                line += f"; {beside}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
