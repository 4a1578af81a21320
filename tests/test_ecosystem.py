"""Fitting the ecosystem: safetensors export, TensorBoard logging, --json listings,
shell completion."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.models import model_settings

from conftest import REPO, run_cli


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A 6-step acgan run with TensorBoard logging, and its environment."""
    from conftest import write_mnist_like

    home = tmp_path_factory.mktemp("eco")
    data = write_mnist_like(home / "data")
    env = {"GANZOO_DATA_DIR": str(data), "GANZOO_RUNS_DIR": str(home / "runs"), "XDG_CACHE_HOME": str(home / "cache"),
           "GANZOO_DEVICE": "cpu"}
    result = run_cli("train", "acgan", "--recipe", "mnist", "--set", "max_steps=6", "--set", "log_every=2",
                     "--set", "sample_every=3", "--logger", "tensorboard", "-q", env=env)
    assert result.returncode == 0, result.stderr
    return next((home / "runs").iterdir()), env, home


def test_tensorboard_gets_scalars_and_sample_grids(small_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _, _ = small_run
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    assert {"train/d_loss", "train/g_loss", "train/d_class_accuracy", "train/images_per_s"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/d_loss")] == [2, 4, 6]
    logged = [json.loads(line)["d_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in events.Scalars("train/d_loss")] == pytest.approx(logged, rel=1e-6)
    assert tags["images"] == ["samples"] and [e.step for e in events.Images("samples")] == [3, 6]


def test_tensorboard_after_a_rewind_shows_each_step_once(tmp_path):
    """A run sent back to step 4 logs steps 6 and 8 again; TensorBoard shows them once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from conftest import write_mnist_like

    env = {"GANZOO_DATA_DIR": str(write_mnist_like(tmp_path / "data")), "GANZOO_RUNS_DIR": str(tmp_path / "runs"),
           "GANZOO_DEVICE": "cpu"}
    first = run_cli("train", "dcgan", "--set", "max_steps=8", "--set", "log_every=2", "--set", "sample_every=4",
                    "--set", "checkpoint_every=4", "--logger", "tensorboard", "-q", env=env)
    assert first.returncode == 0, first.stderr
    run = next((tmp_path / "runs").iterdir())
    again = run_cli("train", "dcgan", "--resume", str(run / "checkpoints" / "step_0000004.pt"), "-q", env=env)
    assert again.returncode == 0, again.stderr
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/d_loss")] == [2, 4, 6, 8]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in events.Scalars("train/d_loss")] == pytest.approx([r["d_loss"] for r in logged], rel=1e-6)
    assert [e.step for e in events.Images("samples")] == [4, 8]


def test_tensorboard_without_the_extra_is_one_line_before_any_work(small_run, tmp_path):
    _, env, home = small_run
    fake = tmp_path / "no-tensorboard"
    (fake / "tensorboard").mkdir(parents=True)
    (fake / "tensorboard" / "__init__.py").write_text("raise ImportError('No module named tensorboard')\n")
    runs = tmp_path / "runs"
    result = run_cli("train", "acgan", "--recipe", "mnist", "--logger", "tensorboard", "--runs-dir", str(runs),
                     env={**env, "PYTHONPATH": str(fake)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ganzoo: error: the TensorBoard logger needs the optional extra: pip install 'ganzoo[tensorboard]'"
    )
    assert not runs.exists()  # refused before a run folder was made
    bad = run_cli("train", "acgan", "--logger", "mlflow", env=env)
    assert bad.returncode == 2 and "unknown logger 'mlflow'; choose from none, tensorboard, wandb" in bad.stderr


def test_export_to_safetensors_and_sample_from_it(small_run, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    run, env, _ = small_run
    out = tmp_path / "g.safetensors"
    exported = run_cli("export", "acgan", "--run", str(run), "--out", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    with safe_open(str(out), "pt") as f:
        metadata = f.metadata()
    config = json.loads(metadata["config"])
    assert metadata["format"] == "ganzoo-generator-1" and config["model"] == "acgan" and config["step"] == 6
    assert json.loads(out.with_suffix(".json").read_text()) == config

    # the recipe in docs/cli.md: rebuild the generator from the file alone
    s, name = config["settings"], config["model"]
    own = {key: s[key] for key in model_settings(ganzoo.get_model_spec(name))}
    model = ganzoo.get_model(name, loss=s["loss"], num_classes=len(config["class_names"]), channels=s["channels"],
                             image_size=s["image_size"], **own)
    model.generator.load_state_dict(load_file(out))
    checkpoint = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert config["weights"] == "ema"  # acgan keeps an EMA of G by default: that is what is exported
    for key, value in checkpoint["generator_ema"]["weights"].items():
        assert torch.equal(model.generator.state_dict()[key], value), key

    from_export = tmp_path / "a.npz"
    from_checkpoint = tmp_path / "b.npz"
    for source, target in ((out, from_export), (run / "checkpoints" / "last.pt", from_checkpoint)):
        done = run_cli("sample", "acgan", "--checkpoint", str(source), "--class", "3", "--out", str(target), env=env)
        assert done.returncode == 0, done.stderr
    import numpy as np

    # Equal weights and noise; two processes' fp32 oneDNN convolutions may still round a
    # pixel that sits on a .5 boundary differently (seen once in about seven suite runs).
    a, b = (np.load(f)["images"].astype(int) for f in (from_export, from_checkpoint))
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01

    again = run_cli("export", "acgan", "--run", str(run), "--out", str(out), env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    wrong = run_cli("export", "acgan", "--run", str(run), "--out", str(tmp_path / "g.pt"), env=env)
    assert wrong.returncode == 2 and ".safetensors" in wrong.stderr
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    damaged = run_cli("sample", "acgan", "--checkpoint", str(broken), env=env)
    assert damaged.returncode == 1 and damaged.stderr.count("\n") == 1
    assert "is not a readable safetensors file" in damaged.stderr
    other = run_cli("sample", "dcgan", "--checkpoint", str(out), env=env)
    assert other.returncode == 1 and "checkpoint of 'acgan', not of 'dcgan'" in other.stderr


def test_json_listings():
    models = json.loads(run_cli("models", "--json").stdout)
    by_name = {m["name"]: m for m in models}
    assert by_name["wgan-gp"]["train_defaults"]["n_critic"] == 5 and by_name["dcgan"]["conditional"] is False
    assert by_name["acgan"]["plugin"] == "acgan" and by_name["acgan"]["settings"]["latent_dim"] == 100
    assert by_name["acgan"]["tunings"] == ["fashion-mnist", "mnist"] and by_name["dcgan"]["step"] == "AdversarialStep"
    recipes = {r["name"]: r for r in json.loads(run_cli("recipes", "--json").stdout)}
    assert set(recipes["mnist"]["tuned_by"]) == {"acgan", "reacgan", "tacgan"}  # the ACGAN family shares its budget
    assert by_name["acgan"]["presets"]["reference"]["bn_eps"] == 0.8
    assert Path(recipes["mnist"]["path"]).is_file()
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json").stdout)}
    assert plugins["acgan"]["status"] == "ok" and plugins["acgan"]["distribution"] == "ganzoo-acgan"


def test_evaluate_json_is_the_report(small_run, tmp_path):
    run, env, _ = small_run
    result = run_cli("evaluate", "acgan", "--run", str(run), "--n", "10", "--metrics", "accuracy,classifier-fid",
                     "--out", str(tmp_path / "r"), "--json", "-q", env={**env, "GANZOO_JUDGE_STEPS": "100"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["report_folder"] == str(tmp_path / "r")
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["metrics"] == on_disk["metrics"] and set(report["metrics"]) == {"accuracy", "classifier_fid"}


def test_shell_completion_offers_commands_and_options():
    complete = {"_GANZOO_COMPLETE": "complete_bash", "COMP_WORDS": "ganzoo tr", "COMP_CWORD": "1"}
    result = run_cli(env=complete)
    assert result.returncode == 0 and "train" in result.stdout.split()
    complete = {"_GANZOO_COMPLETE": "complete_bash", "COMP_WORDS": "ganzoo train acgan --re", "COMP_CWORD": "3"}
    offered = run_cli(env=complete).stdout.split()
    assert {"--recipe", "--resume"} <= set(offered)
    named = run_cli(env={"_GANZOO_COMPLETE": "source_zsh"})  # a named shell's script, wherever ganzoo runs
    assert named.returncode == 0 and "#compdef ganzoo" in named.stdout
    assert "_GANZOO_COMPLETE=complete_zsh" in named.stdout
    # --show-completion detects the shell it runs under (typer asks shellingham): run it
    # from bash (the "; true" stops bash from exec-ing python in its place).
    command = f"{shlex.quote(sys.executable)} -m ganzoo --show-completion; true"
    shown = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert re.search(r"_GANZOO_COMPLETE=complete_bash", shown.stdout), shown.stderr
