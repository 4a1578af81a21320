"""SIGINT and SIGTERM at any moment of a command, from its imports to the interpreter's
exit: one line on stderr and exit 130 / 143 (or the command's own result when it had
already finished), never a traceback, never "Exception ignored"; nothing half-written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from test_cli import trained_run  # noqa: F401 - the shared tiny run

# Python itself starts in ~50 ms; before ganzoo's first line runs, a signal is Python's.
DELAYS = sorted(random.Random(7).uniform(0.15, 3.0) for _ in range(5))


def interrupted(args: list[str], delay: float, signum: int, env: dict) -> subprocess.CompletedProcess:
    process = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **env})
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def _arguments(command: str, run_dir, tmp_path, i: int) -> tuple[list[str], object]:
    """The command line and its output path (None when it writes nothing)."""
    if command == "models":
        return ["models"], None
    if command == "sample":
        out = tmp_path / f"s{i}.png"
        return ["sample", "acgan", "--run", str(run_dir), "--n", "200", "--class", "all", "--out", str(out)], out
    if command == "export":
        out = tmp_path / f"g{i}.safetensors"
        return ["export", "acgan", "--run", str(run_dir), "--out", str(out)], out
    if command == "evaluate":
        out = tmp_path / f"report{i}"
        return ["evaluate", "acgan", "--run", str(run_dir), "--n", "20", "-q", "--out", str(out)], out
    runs = tmp_path / f"runs{i}"
    return ["train", "acgan", "--recipe", "mnist", "--runs-dir", str(runs), "--set", "max_steps=400",
            "--set", "batch_size=16", "--set", "checkpoint_every=1000"], runs


def _whole_or_absent(command: str, out) -> None:
    if out is None or not out.exists():
        return
    if command == "evaluate":
        assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    elif command == "train":  # a run folder is there only with a checkpoint to resume from
        assert all((run / "checkpoints" / "last.pt").is_file() for run in out.iterdir() if run.is_dir()), \
            [list(run.rglob("*")) for run in out.iterdir()]
    else:
        assert out.stat().st_size > 100


@pytest.mark.parametrize("command", ["models", "sample", "export", "evaluate", "train"])
def test_a_signal_at_any_moment_is_one_line(trained_run, tmp_path, command):  # noqa: F811
    run_dir, env, _ = trained_run
    env = {**env, "GANZOO_JUDGE_STEPS": "30"}
    for i, delay in enumerate(DELAYS):
        signum = (signal.SIGINT, signal.SIGTERM)[i % 2]
        args, out = _arguments(command, run_dir, tmp_path, i)
        result = interrupted(args, delay, signum, env)
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, (delay, result.stderr)
        if result.returncode == 0:  # it had finished
            assert out is None or out.exists()
            _whole_or_absent(command, out)
            continue
        word = "interrupted" if signum == signal.SIGINT else "terminated"
        assert result.returncode == 128 + signum, (delay, result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and (lines[0] == f"ganzoo: error: {word}"
                                    or lines[0].startswith(f"ganzoo: error: interrupted by {signal.Signals(signum).name}")
                                    ), (delay, result.stderr)
        _whole_or_absent(command, out)
        assert [p.name for p in tmp_path.rglob(".*")] == []  # no temporary left


def test_an_interrupt_during_the_first_optimisers_imports_waits_for_them():
    """SIGINT about 2 s into a training, inside torch's lazy import of torch._dynamo (the
    first optimiser), left it half-made: an internal RuntimeError ("Error calling
    __set_name__ on 'cached_property'"). The import now runs with the signal held."""
    import subprocess
    import sys

    script = (
        "import os, signal, sys, importlib\n"
        "from ganzoo import deferred\n"
        "real = importlib.import_module\n"
        "def interrupting(name, *args):\n"
        "    if name == 'torch._dynamo':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *args)\n"
        "deferred.import_module = interrupting\n"
        "try:\n"
        "    deferred.optimizer_imports()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted after the import:', 'torch._dynamo' in sys.modules)\n"
        "import torch\n"
        "torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])\n"
        "print('an optimiser after it')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["interrupted after the import: True", "an optimiser after it"]
