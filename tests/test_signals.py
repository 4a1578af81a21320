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


@pytest.mark.parametrize("command", ["models", "sample"])
def test_a_signal_at_any_moment_is_one_line(trained_run, tmp_path, command):  # noqa: F811
    run_dir, env, _ = trained_run
    for i, delay in enumerate(DELAYS):
        signum = (signal.SIGINT, signal.SIGTERM)[i % 2]
        out = tmp_path / f"s{i}.png"
        args = ["models"] if command == "models" else ["sample", "acgan", "--run", str(run_dir), "--n", "200",
                                                       "--class", "all", "--out", str(out)]
        result = interrupted(args, delay, signum, env)
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, (delay, result.stderr)
        if result.returncode == 0:  # it had finished
            assert command == "models" or out.is_file()
            continue
        word = "interrupted" if signum == signal.SIGINT else "terminated"
        assert result.returncode == 128 + signum, (delay, result.returncode, result.stderr)
        assert result.stderr.strip().splitlines()[-1] == f"ganzoo: error: {word}", (delay, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (delay, result.stderr)
        assert not out.exists() or out.stat().st_size > 100  # whole or absent
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
