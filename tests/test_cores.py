"""Several CPU trainings on one machine share its cores (ganzoo.train.cores)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from ganzoo.train.cores import CoreShare


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _other_training(directory):
    """A live process registered as a training, as another ganzoo would be."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (directory / str(process.pid)).touch()
    return process


def test_a_training_takes_its_share_of_the_cores_and_gives_it_back(tmp_path, threads):
    others = []
    try:
        with CoreShare(tmp_path, cores=4) as share:
            assert torch.get_num_threads() == 4 and share.trainings() == 1  # alone: every core
            others.append(_other_training(tmp_path))
            share.poll()  # within RECHECK_S of the last look: nothing changes yet
            assert torch.get_num_threads() == 4
            share.poll(now=True)
            assert torch.get_num_threads() == 2
            others.append(_other_training(tmp_path))
            share.poll(now=True)
            assert torch.get_num_threads() == 1  # 4 // 3
            for process in others:
                process.kill()
                process.wait()
            share.poll(now=True)  # both died without a word: their entries go, their cores come back
            assert torch.get_num_threads() == 4
            assert sorted(p.name for p in tmp_path.iterdir()) == [str(share.entry.name)]
        assert list(tmp_path.iterdir()) == []  # this training's entry is gone when it ends
    finally:
        for process in others:
            process.kill()


def test_never_fewer_than_one_thread_and_the_threads_restored(tmp_path, threads):
    torch.set_num_threads(2)
    others = [_other_training(tmp_path) for _ in range(3)]
    try:
        with CoreShare(tmp_path) as share:
            assert share.cores == 2 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        for process in others:
            process.kill()


def test_an_unwritable_folder_leaves_the_threads_alone(tmp_path, threads):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    torch.set_num_threads(2)
    with CoreShare(blocked / "trainings", cores=2) as share:
        assert share.entry is None
        share.poll(now=True)
        assert torch.get_num_threads() == 2


def test_a_cpu_training_registers_while_it_trains_and_not_after(mnist_like_root, tmp_path, monkeypatch, threads):
    from ganzoo.train.session import train_run

    seen = []
    original = CoreShare.poll

    def poll(self, now=False):
        seen.append(sorted(p.name for p in self.directory.iterdir()))
        original(self, now)

    monkeypatch.setenv("GANZOO_TRAININGS_DIR", str(tmp_path / "trainings"))
    monkeypatch.setattr(CoreShare, "poll", poll)
    train_run("acgan", "mnist", overrides=["max_steps=3", "batch_size=16", "share_cores=on", "sample_every=1000"],
              data_dir=mnist_like_root, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    assert seen and all(names == [str(os.getpid())] for names in seen)  # polled each step, itself alone
    assert list((tmp_path / "trainings").iterdir()) == []
