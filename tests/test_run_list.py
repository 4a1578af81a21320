"""``ganzoo runs``: every run folder with where it stands, from a real training, signal,
evaluation and damage."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import yaml

from ganzoo.runs.folder import RunFolder
from ganzoo.runs.listing import list_runs, newest_report, planned_steps
from ganzoo.train.session import train_run

from conftest import run_cli
from test_evaluate import OFFLINE


def _states(runs):
    return {os.path.basename(row["run"]): row for row in list_runs(runs)}


def test_runs_says_where_each_run_stands(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    env = {"GANZOO_DATA_DIR": str(mnist_like_root), "GANZOO_RUNS_DIR": str(runs), **OFFLINE}
    finished = train_run("dcgan", "mnist", overrides=["max_steps=3", "batch_size=16"], data_dir=mnist_like_root,
                         runs_dir=runs, device="cpu", progress=False)
    evaluated = run_cli("evaluate", "dcgan", "--n", "10", "--metrics", "classifier-fid", "-q",
                        env={**env, "GANZOO_JUDGE_STEPS": "30"})
    assert evaluated.returncode == 0, evaluated.stderr
    failed = runs / "dcgan-mnist-killed-before-its-first-checkpoint"
    failed.mkdir()
    shutil.copy(finished / "config.yaml", failed / "config.yaml")
    damaged = shutil.copytree(finished, runs / "dcgan-mnist-damaged", ignore=shutil.ignore_patterns("reports"))
    (damaged / "checkpoints" / "last.pt").unlink()
    (damaged / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 cut short")
    unlinked = shutil.copytree(finished, runs / "dcgan-mnist-without-last", ignore=shutil.ignore_patterns("reports"))
    (unlinked / "checkpoints" / "last.pt").unlink()

    training = subprocess.Popen(
        [sys.executable, "-m", "ganzoo", "train", "acgan", "--quiet", "--set", "max_steps=100000",
         "--set", "batch_size=16", "--set", "log_every=1", "--set", "checkpoint_every=100000"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not list(runs.glob("acgan-*/metrics.jsonl")) and time.time() < deadline and training.poll() is None:
            time.sleep(0.2)
        listed = run_cli("runs", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = {os.path.basename(row["run"]): row for row in json.loads(listed.stdout)}
        [acgan] = [name for name in rows if name.startswith("acgan-")]
        assert rows[acgan]["state"] == "training" and rows[acgan]["process"] == training.pid
        # the recipe's 100 epochs of 200 images in batches of 16 come before max_steps
        assert rows[acgan]["total_steps"] == 100 * (200 // 16) and rows[acgan]["logged_step"] >= 1
        table = run_cli("runs", env=env)
        assert f"training (process {training.pid})" in table.stdout
    finally:
        training.send_signal(signal.SIGINT)
        training.communicate(timeout=120)
    assert training.returncode == 130

    rows = _states(runs)
    assert rows[acgan]["state"] == "stopped" and 0 < rows[acgan]["checkpoint_step"] < 1200
    # runs of ganzoo 0.5.4 and older did not record their budget: it is worked out as the trainer does
    for name in (acgan, finished.name):
        config = yaml.safe_load((runs / name / "config.yaml").read_text())
        assert planned_steps({k: v for k, v in config.items() if k != "total_steps"}) == config["total_steps"]
    assert rows[acgan]["process"] is None and rows[acgan]["train_seconds"] > 0
    assert rows[finished.name]["state"] == "finished" and rows[finished.name]["checkpoint_step"] == 3
    report = rows[finished.name]["report"]
    assert report["step"] == 3 and report["classifier_fid"] >= 0 and report["accuracy_mean"] is None
    assert report["real_split"] == "test"
    assert rows[failed.name]["state"] == "failed" and rows[failed.name]["checkpoint_step"] is None
    assert rows[damaged.name]["state"] == rows[unlinked.name]["state"] == "damaged"
    assert [row["model"] for row in list_runs(runs)][-1] == "acgan"  # oldest first
    # a recipe given as the YAML file the runs were trained from: its runs are those of its name
    assert list_runs(runs, recipe="my/recipes/mnist.yaml") == list_runs(runs, recipe="mnist") != []

    table = run_cli("runs", "dcgan", env=env)
    assert table.returncode == 0 and "acgan" not in table.stdout
    line = next(line for line in table.stdout.splitlines() if line.startswith(finished.name))
    assert "finished" in line and "3/3" in line and "step 3, classifier FID" in line
    none = run_cli("runs", "--recipe", "fashion-mnist", env=env)
    assert none.returncode == 0 and none.stdout.strip() == f"no runs on recipe 'fashion-mnist' in {runs}"


def test_the_newest_report_is_the_last_one_made_at_the_highest_step(tmp_path):
    run = RunFolder(tmp_path / "run")
    for folder, step, created, split, fid in [("step_0000200", 200, "2026-11-30T10:00:00", "test", 5.0),
                                              ("step_0000300", 300, "2026-11-30T09:00:00", "test", 4.0),
                                              ("step_0000300-2", 300, "2026-11-30T11:00:00", "train", 3.0),
                                              ("step_0000300-3", 300, "2026-11-30T10:30:00", "test", 2.0)]:
        (run.reports / folder).mkdir(parents=True)
        (run.reports / folder / "report.json").write_text(json.dumps(
            {"step": step, "created": created, "real_split": {"split": split}, "metrics": {"classifier_fid": {"value": fid}}}))
    newest = newest_report(run)
    assert (newest["step"], newest["real_split"], newest["classifier_fid"]) == (300, "train", 3.0)
    assert newest["folder"].endswith("step_0000300-2")
