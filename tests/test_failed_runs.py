"""A run that fails leaves nothing that passes for a usable run: one that fails before its
first step leaves no folder; one that fails later keeps its logs, but ``sample``,
``--resume`` and ``evaluate`` skip it when they look for the newest run."""

from __future__ import annotations

import pytest

import ganzoo
from ganzoo.runs.folder import newest_run
from ganzoo.train.loop import Trainer
from ganzoo.train.session import train_run

from conftest import write_mnist_like

SETTINGS = ["max_steps=4", "batch_size=16", "sample_every=100", "checkpoint_every=100", "precision=fp32"]


def failing_after(monkeypatch, steps: int) -> None:
    real = Trainer.run_step
    count = {"n": 0}

    def run_step(self):
        if count["n"] == steps:
            raise RuntimeError("a plugin's step broke")
        count["n"] += 1
        return real(self)

    monkeypatch.setattr(Trainer, "run_step", run_step)


def test_a_run_that_fails_at_its_first_step_leaves_no_folder(monkeypatch, tmp_path):
    data = write_mnist_like(tmp_path / "data")
    runs = tmp_path / "runs"
    failing_after(monkeypatch, 0)
    with pytest.raises(RuntimeError, match="broke"):
        train_run("acgan", "mnist", overrides=SETTINGS, data_dir=data, runs_dir=runs, device="cpu", progress=False)
    assert not runs.exists() or list(runs.iterdir()) == []


def test_a_run_without_a_checkpoint_is_never_the_newest_run(monkeypatch, tmp_path):
    data = write_mnist_like(tmp_path / "data")
    runs = tmp_path / "runs"
    good = train_run("acgan", "mnist", overrides=SETTINGS, data_dir=data, runs_dir=runs, device="cpu", progress=False)
    failing_after(monkeypatch, 2)
    with pytest.raises(RuntimeError, match="broke"):
        train_run("acgan", "mnist", overrides=SETTINGS, data_dir=data, runs_dir=runs, device="cpu", progress=False)
    broken = [folder for folder in runs.iterdir() if folder != good]
    assert len(broken) == 1 and (broken[0] / "config.yaml").is_file()  # its logs stay for a post-mortem
    assert newest_run(runs, "acgan") == good
    for folder in (good,):
        for pt in (folder / "checkpoints").glob("*.pt"):
            pt.unlink()
    with pytest.raises(ganzoo.UsageError, match=r"no run of 'acgan' with a checkpoint in .* \(2 without a checkpoint\)"):
        newest_run(runs, "acgan")
