"""A run remembers its data: --resume, evaluate and the leaderboard find the folder it
was trained from without --data-dir, and a resume on other data is refused."""

from __future__ import annotations

import json
import shutil

import torch
import yaml

from conftest import run_cli, write_mnist_like
from test_evaluate import OFFLINE

COMMON = ["--set", "precision=fp32", "--set", "batch_size=16", "--set", "log_every=1", "--set", "sample_every=1000",
          "--set", "checkpoint_every=1000", "-q"]


def _train(data, runs, steps, *extra):
    done = run_cli("train", "acgan", "--recipe", "mnist", "--data-dir", str(data), "--runs-dir", str(runs),
                   "--set", f"max_steps={steps}", *COMMON, *extra)
    assert done.returncode == 0, done.stderr
    return runs / next(p.name for p in sorted(runs.iterdir(), key=lambda p: p.stat().st_mtime_ns)[-1:])


def test_resume_evaluate_and_leaderboard_find_the_recorded_data(tmp_path):
    data = write_mnist_like(tmp_path / "elsewhere" / "my-mnist")  # not the default data folder
    runs = tmp_path / "runs"
    straight = _train(data, runs, 9)
    broken = _train(data, runs, 5)
    config = yaml.safe_load((broken / "config.yaml").read_text())
    assert config["data"]["dir"] == str(data.resolve()) and config["data"]["given"] == str(data)
    assert config["data"]["train"]["images"] == 200 and len(config["data"]["train"]["sha256"]) == 16

    resumed = run_cli("train", "acgan", "--resume", str(broken), "--set", "max_steps=9", "-q")  # no --data-dir, no env
    assert resumed.returncode == 0, resumed.stderr
    a, b = (torch.load(run / "checkpoints" / "last.pt", weights_only=True) for run in (straight, broken))
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key}"

    env = {"GANZOO_JUDGE_STEPS": "60", **OFFLINE}
    quick = ("--metrics", "accuracy,classifier-fid")  # what is checked here is where the data came from
    evaluated = run_cli("evaluate", "acgan", "--run", str(broken), "--n", "10", "--json", "-q", *quick, env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["data_dir"] == str(data.resolve()) and report["real_split"]["images"] == 50
    assert not [w for w in report["warnings"] if "split" in w]  # (the tiny N has warnings of its own)
    board = run_cli("leaderboard", "--recipe", "mnist", "--runs-dir", str(runs), "--out", str(tmp_path / "board"),
                    "--n", "10", "-q", *quick, env=env)
    assert board.returncode == 0, board.stderr

    # the same run evaluated on another copy of the test split: the report says so
    other = write_mnist_like(tmp_path / "other", per_class=20)
    test_raw = other / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    test_raw.write_bytes(test_raw.read_bytes()[:-1] + b"\x07")  # one pixel changed
    again = run_cli("evaluate", "acgan", "--run", str(broken), "--data-dir", str(other), "--n", "10", "--json", "-q",
                    *quick, env=env)
    assert again.returncode == 0, again.stderr
    warnings = json.loads(again.stdout)["warnings"]
    split_warnings = [w for w in warnings if "split" in w]
    assert len(split_warnings) == 1 and "the real images compared against differ from those of step_0000009 (test split:" in split_warnings[0]


def test_a_resume_on_other_data_is_refused_and_changes_nothing(tmp_path):
    data = write_mnist_like(tmp_path / "a")
    runs = tmp_path / "runs"
    run = _train(data, runs, 3)
    other = write_mnist_like(tmp_path / "b", per_class=30)  # 300 images instead of 200
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    refused = run_cli("train", "acgan", "--resume", str(run), "--data-dir", str(other), "--set", "max_steps=5")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    recorded = yaml.safe_load((run / "config.yaml").read_text())["data"]["train"]["sha256"]
    assert "200 images" in refused.stderr and "300 images" in refused.stderr and recorded in refused.stderr
    assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before

    allowed = run_cli("train", "acgan", "--resume", str(run), "--data-dir", str(other), "--set", "max_steps=5",
                      "--allow-other-data", "-q")
    assert allowed.returncode == 0, allowed.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["train"]["images"] == 300 and config["resumed"][-1]["other_data"]["was"]["images"] == 200


def test_a_recorded_folder_that_is_gone_is_one_line(tmp_path):
    data = write_mnist_like(tmp_path / "gone-soon")
    runs = tmp_path / "runs"
    run = _train(data, runs, 2)
    shutil.rmtree(data)
    for command in (["train", "acgan", "--resume", str(run), "--set", "max_steps=3"], ["evaluate", "acgan", "--run", str(run)]):
        done = run_cli(*command)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert f"was trained on data from {data.resolve()}, which no longer exists" in done.stderr
        assert "--data-dir" in done.stderr
    fresh = run_cli("train", "acgan", "--recipe", "mnist", "--allow-other-data")
    assert fresh.returncode == 2 and "--allow-other-data goes with --resume" in fresh.stderr
