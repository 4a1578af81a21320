"""``--logger wandb``: what goes to Weights & Biases, at which step, into which W&B run
(a resume continues it, a rewind starts a new one rather than lose the retraced steps),
and the one-line errors. A stand-in ``wandb`` module records the calls; where wandb is
installed, a real offline training checks the same end to end."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

from ganzoo.errors import GanzooError, UsageError
from ganzoo.train.wandb_logger import WANDB_MISSING, WandbLogger

from conftest import run_cli, write_mnist_like


class FakeRun:
    def __init__(self, **options):
        self.id, self.options, self.logged, self.finished = options["id"], options, [], False

    def log(self, values, step):
        self.logged.append((step, values))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    runs: list[FakeRun] = []

    def init(**options):
        if options["project"] == "refused":
            raise RuntimeError("permission denied for project 'refused'\nmore details")
        runs.append(FakeRun(**options))
        return runs[-1]

    module = types.SimpleNamespace(init=init, Settings=lambda **kw: kw, Image=lambda data: ("image", data), runs=runs)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def _record(run_dir):
    return json.loads((run_dir / "wandb" / "ganzoo-run-id").read_text())


def test_scalars_evaluations_and_samples_go_to_one_wandb_run_at_their_steps(fake_wandb, tmp_path):
    logger = WandbLogger(tmp_path, {"lr": 2e-4, "betas": [0.5, 0.999]})
    logger.scalars({"step": 2, "epoch": 0, "d_loss": 1.5, "g_loss": 0.5, "note": "not a number"})
    logger.samples(2, torch.full((1, 4, 6), 0.5))
    logger.evaluation(2, {"classifier_fid": 3.25, "per_class": [1, 2]})
    logger.samples(4, torch.ones(3, 4, 6))
    logger.close()
    [run] = fake_wandb.runs
    assert run.options["name"] == tmp_path.name and run.options["config"] == {"lr": 2e-4, "betas": [0.5, 0.999]}
    assert run.options["dir"] == str(tmp_path) and run.options["project"] == "ganzoo" and run.finished
    assert [(step, sorted(values)) for step, values in run.logged] == [
        (2, ["train/d_loss", "train/g_loss"]), (2, ["samples"]), (2, ["eval/classifier_fid"]), (4, ["samples"])]
    grey, colour = run.logged[1][1]["samples"][1], run.logged[3][1]["samples"][1]
    assert grey.shape == (4, 6) and grey.dtype.name == "uint8" and int(grey[0, 0]) == 128
    assert colour.shape == (4, 6, 3) and int(colour.min()) == 255
    assert _record(tmp_path) == {"id": run.id, "step": 4}


def test_a_resume_continues_the_wandb_run_and_a_rewind_starts_a_new_one(fake_wandb, tmp_path):
    first = WandbLogger(tmp_path, {})
    first.scalars({"step": 4, "d_loss": 1.0})
    first.close()
    resumed = WandbLogger(tmp_path, {})
    resumed.resumed(4)  # from the last checkpoint, which is where the W&B run stands
    resumed.scalars({"step": 6, "d_loss": 0.9})
    resumed.close()
    assert fake_wandb.runs[1].id == fake_wandb.runs[0].id and fake_wandb.runs[1].options["resume"] == "allow"
    rewound = WandbLogger(tmp_path, {"lr": 1e-3})
    rewound.resumed(2)  # W&B holds steps 4 and 6: logging step 4 again there would be dropped
    rewound.scalars({"step": 4, "d_loss": 0.8})
    rewound.close()
    old, new = fake_wandb.runs[0], fake_wandb.runs[2]
    assert new.id != old.id and new.options["name"] == f"{tmp_path.name} (from step 2)"
    assert new.options["config"] == {"lr": 1e-3, "continues_wandb_run": old.id} and new.logged == [
        (4, {"train/d_loss": 0.8})]
    assert _record(tmp_path) == {"id": new.id, "step": 4}


def test_wandb_errors_are_one_line(fake_wandb, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "refused")
    with pytest.raises(GanzooError, match=r"^Weights & Biases could not start a run: permission denied for project "
                                          r"'refused'$"):
        WandbLogger(tmp_path, {}).scalars({"step": 1, "d_loss": 1.0})
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: never logged in
    with pytest.raises(UsageError, match="needs a login: run 'wandb login'"):
        WandbLogger.check()
    monkeypatch.setenv("WANDB_MODE", "offline")
    WandbLogger.check()
    (tmp_path / ".netrc").write_text("machine api.wandb.ai login user password k3y\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.delenv("WANDB_MODE")
    WandbLogger.check()
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    with pytest.raises(UsageError, match=r"^" + WANDB_MISSING.replace("[", r"\[").replace("]", r"\]") + "$"):
        WandbLogger.check()


def test_a_real_offline_training_logs_to_wandb_and_resumes_into_the_same_run(tmp_path):
    pytest.importorskip("wandb", reason="wandb is an optional extra: pip install 'ganzoo[wandb]'")
    data = write_mnist_like(tmp_path / "data")
    env = {"GANZOO_DATA_DIR": str(data), "GANZOO_RUNS_DIR": str(tmp_path / "runs"), "WANDB_MODE": "offline",
           "WANDB_SILENT": "true", "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_CONFIG_DIR": str(tmp_path / "cfg")}
    common = ["--set", "log_every=2", "--set", "sample_every=2", "--set", "checkpoint_every=2", "-q"]
    trained = run_cli("train", "dcgan", "--recipe", "mnist", "--set", "max_steps=4", "--logger", "wandb", *common,
                      env=env)
    assert trained.returncode == 0, trained.stderr
    run = next((tmp_path / "runs").iterdir())
    first = _record(run)
    assert first["step"] == 4 and len(list((run / "wandb").glob(f"offline-run-*-{first['id']}/run-*.wandb"))) == 1
    images = sorted((run / "wandb").glob("offline-run-*/files/media/images/samples_*.png"))
    assert len(images) == 2
    resumed = run_cli("train", "dcgan", "--resume", str(run), "--set", "max_steps=6", *common, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert _record(run) == {"id": first["id"], "step": 6}
    assert len(list((run / "wandb").glob(f"offline-run-*-{first['id']}"))) == 2  # the same W&B run, twice


def test_tensorboard_and_wandb_at_once(fake_wandb, tmp_path, monkeypatch):
    """`--logger tensorboard,wandb`: every value to both, each closed."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    pytest.importorskip("tensorboard", reason="the TensorBoard logger is an optional extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ganzoo.train.session import train_run

    data = write_mnist_like(tmp_path / "data", per_class=4)
    run = train_run("dcgan", "mnist", overrides=["max_steps=4", "batch_size=8", "log_every=2", "sample_every=2",
                                                 "logger=tensorboard,wandb"],
                    data_dir=data, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    [wandb_run] = fake_wandb.runs
    assert [step for step, values in wandb_run.logged if "train/d_loss" in values] == [2, 4] and wandb_run.finished
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("train/d_loss")] == [2, 4]


@pytest.mark.parametrize("value, message", [
    ("tensorboard,tensorboard", "names a logger twice"),
    ("none,wandb", "'none' goes alone"),
    ("tensorboard,mlflow", "unknown logger 'mlflow'"),
])
def test_a_bad_list_of_loggers_is_one_line(value, message):
    from ganzoo.train.loggers import check_logger

    with pytest.raises(UsageError, match=message):
        check_logger(value)
