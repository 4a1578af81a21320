"""Several CPU trainings on one machine share its cores (ganzoo.cores)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from ganzoo import cores
from ganzoo.cores import CoreShare

from conftest import xdist_workers


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


def test_a_program_with_threads_of_its_own_counts_itself_in_and_keeps_its_threads(tmp_path, threads):
    torch.set_num_threads(2)
    program = subprocess.Popen(
        [sys.executable, "-c", "import sys, torch; from ganzoo.cores import counted\n"
         "torch.set_num_threads(2)\nwith counted(__import__('pathlib').Path(sys.argv[1])):\n"
         "    print(torch.get_num_threads(), flush=True); sys.stdin.readline()\n"
         "    print(torch.get_num_threads(), flush=True)", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert program.stdout.readline().strip() == "2"
        assert [p.name for p in tmp_path.iterdir()] == [str(program.pid)]
        with CoreShare(tmp_path) as share:
            assert share.trainings() == 2 and torch.get_num_threads() == 1  # a training leaves it its share
            program.stdin.write("\n")
            program.stdin.flush()
            assert program.stdout.readline().strip() == "2"  # counted, its own threads untouched
            assert program.wait(timeout=60) == 0
            assert [p.name for p in tmp_path.iterdir()] == [share.entry.name]  # it left on its way out
            share.poll(now=True)
            assert torch.get_num_threads() == 2
    finally:
        program.kill()


def test_a_process_counts_once_however_many_shares_and_counts_it_holds(tmp_path, threads):
    torch.set_num_threads(2)
    with cores.counted(tmp_path):
        with CoreShare(tmp_path) as share:  # e.g. a counted program that trains in-process
            assert share.trainings() == 1 and torch.get_num_threads() == 2  # itself, once
            with cores.counted(tmp_path):
                pass
            assert share.entry.exists()  # the inner count's end left the share's entry
        assert [p.name for p in tmp_path.iterdir()] == [str(os.getpid())]  # the count outlives the share
        assert (tmp_path / str(os.getpid())).read_text() == (cores._start_time("self") or "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(cores._start_time("self") is None, reason="the system does not tell processes' start times")
def test_an_entry_left_by_a_dead_job_stops_counting_when_its_process_id_is_reused(tmp_path, threads):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = cores._start_time(process.pid)
        entry = tmp_path / str(process.pid)
        with CoreShare(tmp_path, cores=2) as share:
            entry.write_text(started)  # the entry of the job running under that id: it counts
            share.poll(now=True)
            assert share.trainings() == 2 and torch.get_num_threads() == 1
            entry.write_text(str(int(started) - 1))  # left by a process that had the id before
            share.poll(now=True)
            assert torch.get_num_threads() == 2 and not entry.exists()  # not counted, and removed
    finally:
        process.kill()
        process.wait()


def test_the_parallel_suite_counts_its_workers_in(threads):
    if xdist_workers() < 2:
        pytest.skip("not run by pytest-xdist with several workers (make test runs it so)")
    assert (cores.trainings_dir() / str(os.getpid())).exists()  # tests/conftest.py's pytest_configure


def test_cpu_work_outside_a_training_joins_the_sharing_once_and_only_where_auto_would(tmp_path, monkeypatch,
                                                                                     threads):
    monkeypatch.setenv("GANZOO_TRAININGS_DIR", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpu = torch.device("cpu")
    cores.poll()  # no share entered: nothing to do
    with cores.shared_cores(cpu):
        assert [p.name for p in tmp_path.iterdir()] == [str(os.getpid())]
        with cores.shared_cores(cpu):  # inside a share (a training's evaluation): the same entry
            assert len(list(tmp_path.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []
    with cores.shared_cores(torch.device("meta")):  # not the CPU
        assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # threads a user (or torchrun) set are theirs
    with cores.shared_cores(cpu):
        assert list(tmp_path.iterdir()) == []


def test_sampling_beside_a_training_runs_on_its_share(tmp_path, monkeypatch, threads):
    import ganzoo
    from ganzoo.generation import generate

    monkeypatch.setenv("GANZOO_TRAININGS_DIR", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cores, "RECHECK_S", 0.0)  # look at every batch
    torch.set_num_threads(2)
    generator = ganzoo.get_model("dcgan", channels=1, image_size=28).generator
    seen = []
    generator.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    labels = torch.zeros(6, dtype=torch.long)
    generate(generator, labels, seed=0, device=torch.device("cpu"), batch_size=2)
    assert seen == [2, 2, 2]  # alone: every core
    other = _other_training(tmp_path)
    try:
        seen.clear()
        generate(generator, labels, seed=0, device=torch.device("cpu"), batch_size=2)
        assert seen == [1, 1, 1]
    finally:
        other.kill()
        other.wait()
    assert torch.get_num_threads() == 2 and str(os.getpid()) not in [p.name for p in tmp_path.iterdir()]


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


def test_a_cpu_training_logs_the_fewest_threads_it_ran_with(mnist_like_root, tmp_path, monkeypatch, threads):
    from ganzoo.runs.folder import metric_records
    from ganzoo.train.session import train_run

    folder = tmp_path / "trainings"
    folder.mkdir()
    monkeypatch.setenv("GANZOO_TRAININGS_DIR", str(folder))
    torch.set_num_threads(2)

    def logged_threads(name):
        run = train_run("acgan", "mnist", data_dir=mnist_like_root, runs_dir=tmp_path / name, device="cpu",
                        overrides=["max_steps=2", "batch_size=16", "share_cores=on", "sample_every=1000", "log_every=1"],
                        progress=False)
        return [line["cpu_threads"] for line in metric_records(run) if "d_loss" in line]

    assert logged_threads("alone") == [2, 2]
    other = _other_training(folder)
    try:
        assert logged_threads("shared") == [1, 1]
    finally:
        other.kill()
        other.wait()
    assert torch.get_num_threads() == 2  # handed back at the end


def test_the_leaderboard_says_when_a_training_shared_the_cores(tmp_path):
    import json

    from ganzoo.evaluate.leaderboard import _cells, training_budget

    def budget(threads):
        (tmp_path / "metrics.jsonl").write_text("".join(
            json.dumps({"step": 100 * (i + 1), "d_loss": 1.0, "g_loss": 1.0, "elapsed_s": 10.0 * (i + 1),
                        "cpu_threads": t}) + "\n" for i, t in enumerate(threads)))
        config = {"settings": {"batch_size": 64}, "device": "cpu", "speed": {"cpu_threads": 2}}
        return {"model": "acgan", "metrics": {}, **training_budget(tmp_path, config)}

    alone = budget([2, 2, 2])
    assert "fewest_cpu_threads" not in alone and _cells({"columns": []}, 1, alone, "")[-2] == "30 s"
    shared = budget([2, 1, 2])
    assert shared["fewest_cpu_threads"] == 1 and shared["cpu_threads"] == 2
    assert _cells({"columns": []}, 1, shared, "")[-2] == "30 s (shared cores: at times 1 of 2 threads)"
