"""Runs survive faults: exact resume, signals, kept checkpoints, divergence, kill -9."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from ganzoo.errors import CheckpointError, GanzooError, UsageError
from ganzoo.runs import lock
from ganzoo.runs.checkpoint import load_checkpoint
from ganzoo.train.session import resume_run, train_run

from conftest import run_cli

FP32 = ["precision=fp32", "batch_size=16", "log_every=1", "sample_every=1000", "checkpoint_every=1000"]


def _train(data, runs, *sets):
    return train_run("acgan", "mnist", overrides=[*FP32, *sets], data_dir=data, runs_dir=runs, device="cpu",
                     progress=False)


def _metrics(run):
    return [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(mnist_like_root, tmp_path):
    # 200 images / batch 16 = 12 steps per epoch: the break at step 17 is mid-epoch, and
    # the resumed part crosses the epoch boundary at step 24.
    runs = tmp_path / "runs"
    straight = _train(mnist_like_root, runs, "max_steps=27")
    broken = _train(mnist_like_root, runs, "max_steps=17")
    assert resume_run("acgan", broken, overrides=["max_steps=27"], data_dir=mnist_like_root, runs_dir=runs,
                      device="cpu", progress=False) == broken

    a = load_checkpoint(straight / "checkpoints" / "last.pt")
    b = load_checkpoint(broken / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 27 and a["epoch"] == b["epoch"] == 2
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs"
    for part in ("optimizer_g", "optimizer_d"):
        for index, state in a[part]["state"].items():
            for name, value in state.items():
                assert torch.equal(value, b[part]["state"][index][name]), f"{part} {index} {name} differs"
    # the log is the same too, one line per step, none repeated
    assert [m["d_loss"] for m in _metrics(straight)] == [m["d_loss"] for m in _metrics(broken)]
    assert [m["step"] for m in _metrics(broken)] == list(range(1, 28))
    config = yaml.safe_load((broken / "config.yaml").read_text())
    assert config["settings"]["max_steps"] == 27 and config["resumed"][0]["at_step"] == 17


def test_a_resume_on_another_speed_path_says_so_in_one_line_and_records_the_old_one(mnist_like_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=2")
    resume_run("acgan", run, overrides=["max_steps=3"], data_dir=mnist_like_root, runs_dir=runs, device="cpu",
               progress=False)
    assert "numeric path" not in capsys.readouterr().err  # the same machine and ganzoo: the same path
    config_path = run / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    assert "speed_before" not in config["resumed"][0]

    # The run as another CPU kind or an older ganzoo would have recorded it: bf16 on an AMX
    # Xeon, on one thread, before the Winograd form existed (so the record lacks it).
    trained = dict(config["speed"], precision="bf16", cpu_threads=config["speed"]["cpu_threads"] + 1)
    del trained["winograd_upsample"]
    config_path.write_text(yaml.safe_dump({**config, "speed": trained}))
    resume_run("acgan", run, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs, device="cpu",
               progress=False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    note = lines[0]
    assert "precision bf16 -> fp32" in note and "--set precision=bf16" in note
    assert f"cpu_threads {trained['cpu_threads']} -> {config['speed']['cpu_threads']}" in note
    assert f"OMP_NUM_THREADS={trained['cpu_threads']}" in note
    winograd = config["speed"]["winograd_upsample"]  # on where auto picks it (fp32 on the CPU)
    assert ("winograd_upsample off -> on" in note) is winograd
    assert "channels_last" not in note and "narrow_conv" not in note  # unchanged, not named
    resumed = yaml.safe_load(config_path.read_text())["resumed"]
    assert resumed[-1]["speed_before"] == trained and resumed[-1]["at_step"] == 3


def test_resume_alone_takes_the_newest_run_and_refuses_a_finished_one(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=3")
    with pytest.raises(UsageError, match="already finished its 3 steps; raise the budget"):
        resume_run("acgan", None, overrides=[], data_dir=mnist_like_root, runs_dir=runs, device="cpu")
    assert resume_run("acgan", None, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs,
                      device="cpu", progress=False) == run
    with pytest.raises(UsageError, match="cannot change 'lr' when resuming"):
        resume_run("acgan", run, overrides=["lr=0.1", "max_steps=9"], data_dir=mnist_like_root, runs_dir=runs)


def test_resume_refuses_a_checkpoint_that_does_not_fit(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=2")
    path = run / "checkpoints" / "last.pt"
    payload = load_checkpoint(path)
    payload["generator"]["project.weight"] = torch.zeros(3, 3)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not fit this run's model and settings"):
        resume_run("acgan", run, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs)
    payload["model"] = "othergan"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="is a checkpoint of 'othergan', not of 'acgan'"):
        resume_run("acgan", run, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs)
    path.unlink()
    with pytest.raises(CheckpointError, match="does not exist"):
        resume_run("acgan", run, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs)


def test_only_the_newest_checkpoints_are_kept(mnist_like_root, tmp_path):
    run = _train(mnist_like_root, tmp_path / "runs", "max_steps=9", "checkpoint_every=2", "keep_checkpoints=2")
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["last.pt", "step_0000008.pt", "step_0000009.pt"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 9


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(mnist_like_root, tmp_path, monkeypatch):
    from ganzoo_acgan import ACGANLoss

    calls = {"n": 0}
    original = ACGANLoss.discriminator_loss

    def breaks_at_step_4(self, *args):
        calls["n"] += 1
        loss = original(self, *args)
        return loss * float("nan") if calls["n"] >= 4 else loss

    monkeypatch.setattr(ACGANLoss, "discriminator_loss", breaks_at_step_4)
    runs = tmp_path / "runs"
    with pytest.raises(GanzooError, match="training diverged: a loss became non-finite by step 5; the last good"):
        _train(mnist_like_root, runs, "max_steps=20", "checkpoint_every=3", "log_every=5")
    [run] = list(runs.iterdir())
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    assert payload["step"] == 3
    assert all(torch.isfinite(v).all() for v in payload["generator"].values() if v.is_floating_point())


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes(mnist_like_root, tmp_path, signum, code):
    runs = tmp_path / "runs"
    env = {**os.environ, "GANZOO_DATA_DIR": str(mnist_like_root), "GANZOO_RUNS_DIR": str(runs)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ganzoo", "train", "acgan", "--quiet", "--set", "max_steps=100000",
         "--set", "batch_size=16", "--set", "log_every=1", "--set", "checkpoint_every=100000"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 120
    while not list(runs.glob("*/metrics.jsonl")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    [run] = list(runs.iterdir())
    with pytest.raises(UsageError, match=f"is being trained by process {process.pid};"):
        lock.check_free(run)  # the training holds its run folder: no second writer
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "checkpoint saved; resume with: ganzoo train acgan --resume" in lines[0]
    stopped_at = load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert 0 < stopped_at < 100000

    result = run_cli("train", "acgan", "--quiet", "--resume", "--set", f"max_steps={stopped_at + 2}", env=env)
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == stopped_at + 2
    assert list(runs.iterdir()) == [run]  # the same folder, no new run


def test_kill_9_while_saving_leaves_the_previous_checkpoint_readable(tmp_path):
    target = tmp_path / "last.pt"
    script = (
        "import sys, torch\n"
        "from ganzoo.runs.checkpoint import save_checkpoint\n"
        "step = 0\n"
        "while True:\n"
        "    step += 1\n"
        "    save_checkpoint(sys.argv[1], {'model': 'x', 'generator': {'w': torch.full((2_000_000,), float(step))},"
        " 'config': {}, 'step': step})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(target)])
    deadline = time.time() + 60
    while not target.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.7)  # several saves in flight
    process.kill()
    process.wait()
    payload = load_checkpoint(target)
    assert payload["step"] >= 1 and torch.equal(payload["generator"]["w"], torch.full((2_000_000,), float(payload["step"])))


def test_an_unwritable_runs_folder_is_one_line(mnist_like_root, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_cli("train", "acgan", "--set", "max_steps=1", "--data-dir", str(mnist_like_root),
                     "--runs-dir", str(blocker / "runs"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"ganzoo: error: cannot create a run folder in {blocker / 'runs'}: Not a directory"
    ]


def _same_networks(a, b):
    return all(torch.equal(a[part][key], b[part][key]) for part in ("generator", "discriminator") for key in a[part])


def test_going_back_to_an_earlier_checkpoint_sets_aside_what_came_after_and_retraces_the_run(mnist_like_root, tmp_path,
                                                                                          capsys):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=12", "checkpoint_every=4", "sample_every=4", "keep_checkpoints=5")
    checkpoints = run / "checkpoints"
    first_losses = [m["d_loss"] for m in _metrics(run)]
    assert resume_run("acgan", checkpoints / "step_0000004.pt", overrides=[], data_dir=mnist_like_root,
                      runs_dir=runs, device="cpu", progress=False) == run
    aside = run / "set-aside" / "after-step_0000004"
    assert f"goes back to step 4; what it wrote after that step is set aside in {aside}" in capsys.readouterr().err
    # what steps 5-12 wrote is kept aside under its own paths, nothing of steps 1-4 is
    assert sorted(p.name for p in (aside / "checkpoints").iterdir()) == ["last.pt", "step_0000008.pt", "step_0000012.pt"]
    assert sorted(p.name for p in (aside / "samples").iterdir()) == ["step_0000008.png", "step_0000012.png"]
    assert [m["step"] for m in _metrics(aside)] == list(range(5, 13))
    # the run went back to step 4 and, resumed exactly, came to the same step 12 again
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.pt", "step_0000004.pt", "step_0000008.pt",
                                                            "step_0000012.pt"]
    again, before = load_checkpoint(checkpoints / "last.pt"), load_checkpoint(aside / "checkpoints" / "last.pt")
    assert again["step"] == before["step"] == 12 and _same_networks(again, before)
    assert [m["d_loss"] for m in _metrics(run)] == first_losses
    resumed = yaml.safe_load((run / "config.yaml").read_text())["resumed"]
    assert resumed == [{**resumed[0], "at_step": 4, "from_checkpoint": "checkpoints/step_0000004.pt",
                        "set_aside": "set-aside/after-step_0000004"}]
    # a second trip back keeps the first one's folder
    resume_run("acgan", checkpoints / "step_0000008.pt", overrides=[], data_dir=mnist_like_root, runs_dir=runs,
               device="cpu", progress=False)
    assert aside.is_dir() and (run / "set-aside" / "after-step_0000008" / "checkpoints" / "step_0000012.pt").is_file()
    # the run's own last checkpoint is a plain resume: nothing set aside
    resume_run("acgan", checkpoints / "last.pt", overrides=["max_steps=13"], data_dir=mnist_like_root, runs_dir=runs,
               device="cpu", progress=False)
    assert sorted(p.name for p in (run / "set-aside").iterdir()) == ["after-step_0000004", "after-step_0000008"]
    assert "from_checkpoint" not in yaml.safe_load((run / "config.yaml").read_text())["resumed"][-1]


def test_a_checkpoint_outside_a_runs_checkpoints_folder_is_refused(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=2")
    loose = tmp_path / "loose.pt"
    loose.write_bytes((run / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(UsageError, match="loose.pt is not in the checkpoints/ folder of a run"):
        resume_run("acgan", loose, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs)


def test_a_damaged_last_checkpoint_names_the_newest_intact_one_and_how_to_use_it(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=6", "checkpoint_every=2")
    checkpoints = run / "checkpoints"
    # the disk damaged the newest checkpoint: last.pt and step 6 are one file
    with open(checkpoints / "last.pt", "r+b") as file:
        file.truncate(2000)
    common = ["--runs-dir", str(runs), "--data-dir", str(mnist_like_root)]
    result = run_cli("train", "acgan", "--resume", *common, "--set", "max_steps=8")
    intact = checkpoints / "step_0000004.pt"
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "last.pt is truncated or corrupt" in result.stderr
    assert (f"the run's newest intact checkpoint is {intact} (step 4): "
            f"continue from it with 'ganzoo train acgan --resume {intact}'") in result.stderr
    result = run_cli("sample", "acgan", "--class", "1", *common[:2], "--out", str(tmp_path / "ones.png"))
    assert result.returncode == 1 and f"pass it with --checkpoint {intact}" in result.stderr, result.stderr
    # what the line says works
    result = run_cli("train", "acgan", "--resume", str(intact), *common, "--set", "max_steps=8", "--quiet")
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(checkpoints / "last.pt")["step"] == 8
    assert (run / "set-aside" / "after-step_0000004" / "checkpoints" / "step_0000006.pt").is_file()


def test_a_run_that_another_process_trains_is_not_resumed_beside_it(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    run = _train(mnist_like_root, runs, "max_steps=2")
    log = (run / "metrics.jsonl").read_text()
    with lock.training(run):  # as the process that trains it holds it
        result = run_cli("train", "acgan", "--resume", "--runs-dir", str(runs), "--data-dir", str(mnist_like_root),
                         "--set", "max_steps=4")
        with pytest.raises(UsageError, match="is being trained by process"):
            resume_run("acgan", run / "checkpoints" / "step_0000002.pt", overrides=["max_steps=4"],
                       data_dir=mnist_like_root, runs_dir=runs)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"ganzoo: error: {run} is being trained by process {os.getpid()}; let it finish or stop it (Ctrl-C saves a "
        "checkpoint) before resuming it; --resume alone takes the newest run, --resume RUN_DIR another"
    ]
    assert (run / "metrics.jsonl").read_text() == log and not (run / "set-aside").exists()
    resume_run("acgan", run, overrides=["max_steps=4"], data_dir=mnist_like_root, runs_dir=runs, device="cpu",
               progress=False)  # the lock is gone with its holder
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4
