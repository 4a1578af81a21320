"""The parallel suite shares the cores: each pytest-xdist worker, and the processes its
tests start (ganzoo commands, torchrun), run with ``cores / workers`` CPU threads
(tests/conftest.py), since two-thread processes sharing two cores slow each other
several-fold."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import threads_per_worker, xdist_workers


def test_each_worker_and_the_processes_it_starts_get_their_share_of_the_cores():
    if xdist_workers() < 2:
        pytest.skip("not run by pytest-xdist with several workers (make test runs it so)")
    share = str(threads_per_worker())
    assert os.environ["OMP_NUM_THREADS"] == share and str(torch.get_num_threads()) == share
    child = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, timeout=120)
    assert child.stdout.strip() == share, child.stderr
