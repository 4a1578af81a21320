"""The CLI end to end, in subprocesses: a tiny train, sampling, and the error paths."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import run_cli


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny training run shared by the sampling tests."""
    from conftest import blob_images, write_idx

    base = tmp_path_factory.mktemp("cli")
    data = base / "data"
    images, labels = blob_images(10, size=28, seed=3)
    write_idx(data / "MNIST" / "raw", "train", images, labels)
    write_idx(data / "MNIST" / "raw", "t10k", images, labels)
    runs = base / "runs"
    env = {"GANZOO_DATA_DIR": str(data), "GANZOO_RUNS_DIR": str(runs), "XDG_CACHE_HOME": str(base / "cache")}
    result = run_cli(
        "train", "acgan", "--recipe", "mnist", "--device", "cpu",
        "--set", "max_steps=4", "--set", "batch_size=16", "--set", "sample_every=2",
        "--set", "log_every=2", "--set", "checkpoint_every=3",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    run_dir = runs / result.stdout.strip().splitlines()[-1].split(runs.name + "/", 1)[1]
    return run_dir, env, base


def test_train_writes_a_complete_run_folder(trained_run):
    run_dir, env, _ = trained_run
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"] == "acgan" and config["recipe"] == "mnist"
    assert config["settings"]["max_steps"] == 4 and config["settings"]["batch_size"] == 16
    assert len(config["class_names"]) == 10

    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [2, 4]
    assert {"step", "epoch", "d_loss", "g_loss", "d_class_accuracy", "images_per_s"} <= set(lines[0])

    grids = sorted(p.name for p in (run_dir / "samples").glob("step_*.png"))
    assert grids == ["step_0000002.png", "step_0000004.png"]
    grid = Image.open(run_dir / "samples" / "step_0000004.png")
    assert grid.size == (10 * 30 + 2, 10 * 30 + 2)  # one row per class, ten columns, 2px padding

    checkpoint = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert {"generator", "discriminator", "optimizer_g", "optimizer_d", "step", "epoch", "rng", "config"} <= set(checkpoint)
    assert checkpoint["step"] == 4 and checkpoint["model"] == "acgan"
    assert (run_dir / "loss_curve.png").stat().st_size > 1000


def test_train_never_reuses_a_run_folder(trained_run):
    run_dir, env, _ = trained_run
    again = run_cli("train", "acgan", "--set", "max_steps=1", "--set", "batch_size=16", "-q", env=env)
    assert again.returncode == 0, again.stderr
    folders = sorted(p for p in run_dir.parent.iterdir())
    assert len(folders) == 2 and run_dir in folders


def test_sample_one_class_as_png_and_npz(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    png = tmp_path / "three.png"
    result = run_cli("sample", "acgan", "--class", "3", "--n", "5", "--run", str(run_dir), "--out", str(png), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"samples: {png} (the EMA generator's weights)"  # acgan's default ema
    assert Image.open(png).size == (5 * 30 + 2, 30 + 2)

    npz = tmp_path / "seven.npz"
    result = run_cli("sample", "acgan", "--class", "seven", "--n", "6", "--out", str(npz), env=env)  # newest run
    assert result.returncode == 0, result.stderr
    arrays = np.load(npz)
    assert arrays["images"].shape == (6, 1, 28, 28) and arrays["images"].dtype == np.uint8
    assert arrays["labels"].tolist() == [7] * 6


def test_sample_all_classes_to_a_folder_and_default_output(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    folder = tmp_path / "pngs"
    result = run_cli("sample", "acgan", "--class", "all", "--n", "2", "--run", str(run_dir), "--out", str(folder), env=env)
    assert result.returncode == 0, result.stderr
    assert len(list(folder.glob("*.png"))) == 20 and (folder / "00019_9-nine.png").is_file()
    default = run_cli("sample", "acgan", "--class", "1", "--run", str(run_dir), env=env)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().startswith(f"samples: {run_dir / 'samples' / 'sample-1-one-seed0.png'} ")
    second = run_cli("sample", "acgan", "--class", "1", "--run", str(run_dir), env=env)
    assert "sample-1-one-seed0-2.png " in second.stdout  # never overwritten


def test_same_seed_same_images(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    outs = []
    for name in ("a.npz", "b.npz"):
        run_cli("sample", "acgan", "--class", "2", "--seed", "5", "--run", str(run_dir), "--out", str(tmp_path / name), env=env)
        outs.append(np.load(tmp_path / name)["images"].astype(int))
    # Equal weights and noise; two processes' fp32 oneDNN convolutions may still round a
    # pixel that sits on a .5 boundary differently (as in test_ecosystem's export test).
    a, b = outs
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01


def _one_line_error(result, code, text):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ganzoo: error: ") and text in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["sample"], ["interpolate"], ["evaluate"], ["export", "--out", "x.safetensors"]])
def test_run_and_checkpoint_together_are_refused_by_every_command(trained_run, command):
    """One rule for --run with --checkpoint, in every command that reads a generator: one
    of them or neither, never both (sample and interpolate used to take --checkpoint and
    ignore --run)."""
    run_dir, env, _ = trained_run
    both = ["--run", str(run_dir), "--checkpoint", str(run_dir / "checkpoints" / "last.pt")]
    result = run_cli(command[0], "acgan", *both, *command[1:], env=env)
    _one_line_error(result, 2, "give --run or --checkpoint, not both")


def test_bad_class_lists_the_valid_ones(trained_run):
    run_dir, env, _ = trained_run
    result = run_cli("sample", "acgan", "--class", "12", "--run", str(run_dir), env=env)
    _one_line_error(result, 2, "class '12' does not exist; valid classes: 0=0 - zero, 1=1 - one")


def test_unknown_model_suggests_close_matches(trained_run):
    _, env, _ = trained_run
    _one_line_error(run_cli("train", "acgn", env=env), 2, "unknown model 'acgn'; did you mean 'acgan'")


def test_unknown_recipe_key_suggests_close_matches(trained_run):
    _, env, _ = trained_run
    result = run_cli("train", "acgan", "--set", "max_step=3", env=env)
    _one_line_error(result, 2, "unknown setting 'max_step' in --set; did you mean 'max_steps'")


def test_existing_output_needs_force(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    out = tmp_path / "keep.png"
    out.write_bytes(b"precious")
    result = run_cli("sample", "acgan", "--run", str(run_dir), "--out", str(out), env=env)
    _one_line_error(result, 2, "already exists; choose another --out or pass --force")
    assert out.read_bytes() == b"precious"
    forced = run_cli("sample", "acgan", "--run", str(run_dir), "--out", str(out), "--force", env=env)
    assert forced.returncode == 0 and out.read_bytes() != b"precious"


def test_missing_data_offline_is_one_line(tmp_path, trained_run):
    _, env, _ = trained_run
    offline = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    result = run_cli("train", "acgan", "--recipe", "fashion-mnist", "--data-dir", str(tmp_path / "nothing"),
                     env={**env, **offline})
    _one_line_error(result, 1, f"fashion-mnist is not in {tmp_path / 'nothing' / 'FashionMNIST' / 'raw'}")
    assert "train-images-idx3-ubyte.gz" in result.stderr


def test_no_run_yet_is_explained(tmp_path):
    result = run_cli("sample", "acgan", "--runs-dir", str(tmp_path / "empty"))
    _one_line_error(result, 2, "no run of 'acgan' with a checkpoint in")


def test_version_and_listings():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("ganzoo 0.")
    assert "acgan" in run_cli("models").stdout
    recipes = run_cli("recipes").stdout
    assert "mnist" in recipes and "fashion-mnist" in recipes and "cifar10" in recipes
    plugins = run_cli("plugins").stdout
    assert "ganzoo-acgan" in plugins and " ok " in plugins
    # what each plugin registered, loggers and all, under its line
    assert "registers models acgan; losses acgan; recipe tunings mnist (acgan), fashion-mnist (acgan)" in plugins
    assert "loggers tensorboard, wandb" in plugins
    for command in ("train", "sample", "models", "recipes", "plugins"):
        assert run_cli(command, "--help").returncode == 0


@pytest.mark.parametrize("args", [("models",), ("runs", "--json"), ("--help",)])
def test_output_into_a_pipe_whose_reader_left_ends_quietly(args, tmp_path):
    """`ganzoo runs | head -1`: once the reader has gone, no "internal error", no traceback."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "GANZOO_RUNS_DIR": str(tmp_path)})
    process.stdout.close()  # before the command writes: it starts in about a second
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, stderr) == (1, "")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux), a device every write to fails")
@pytest.mark.parametrize("args", [("models",), ("runs", "--json"), ("--help",), ("--version",)])
def test_output_that_cannot_be_written_is_one_line(args, tmp_path):
    """`ganzoo models > /dev/full` (a full disk): the reason in one line, exit 1, not an internal error."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "ganzoo", *args], stdout=full, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "GANZOO_RUNS_DIR": str(tmp_path)}, timeout=120)
    assert (result.returncode, result.stderr) == (1, "ganzoo: error: cannot write the output: No space left on device\n")


def test_corrupt_checkpoint_is_one_line(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    broken = tmp_path / "broken.pt"
    broken.write_bytes((run_dir / "checkpoints" / "last.pt").read_bytes()[:500])
    result = run_cli("sample", "acgan", "--checkpoint", str(broken), env=env)
    _one_line_error(result, 1, f"checkpoint {broken} is truncated or corrupt")


@pytest.mark.parametrize(
    "args, text",
    [
        (("train",), "Missing argument 'model'. (see 'ganzoo train --help')"),
        (("train", "acgan", "--bogus"), "No such option: --bogus"),
        (("sample", "acgan", "--n", "0"), "Invalid value for '--n'"),
        (("frobnicate",), "No such command 'frobnicate'."),
        (("train", "acgan", "--device", "tpu"), "unknown device 'tpu'"),
        (("sample", "acgan", "--seed", "-1"), "Invalid value for '--seed': Input should be greater than or equal to 0"),
        (("evaluate", "acgan", "--seed", str(2**63)), "Invalid value for '--seed': Input should be less than or equal"),
        (("train", "acgan", "--set", f"seed={2**63}"), "setting 'seed' must be from 0 to 4611686018427387903"),
    ],
)
def test_command_line_mistakes_are_one_line_usage_errors(args, text):
    _one_line_error(run_cli(*args), 2, text)


def test_resume_refuses_a_recipe(trained_run):
    run_dir, env, _ = trained_run
    before = sorted(p.name for p in run_dir.rglob("*"))
    result = run_cli("train", "acgan", "--resume", str(run_dir), "--recipe", "fashion-mnist", env=env)
    _one_line_error(result, 2, "--recipe does not go with --resume: a resumed run keeps the recipe it was trained with")
    assert sorted(p.name for p in run_dir.rglob("*")) == before


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["train", "--help"], ["sample", "--help"]])
def test_help_and_version_import_no_torch(args):
    """They answer at once: torch (seconds to import) loads only inside a command that needs it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganzoo", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "torch" not in imported and "ganzoo.cli" in imported


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    for out, said in ((a_file, f"the report folder {a_file} is a file, not a folder; choose another --out"),
                      (a_file / "sub", f"the report folder {a_file / 'sub'} cannot be made: {a_file} is a file; "
                                       "choose another --out")):
        result = run_cli("evaluate", "acgan", "--run", str(run_dir), "--out", str(out), "--n", "5", env=env)
        _one_line_error(result, 2, said)  # before: an internal NotADirectoryError after the whole evaluation
    board = run_cli("leaderboard", "--recipe", "mnist", "--out", str(a_file), "--n", "5", env=env)
    _one_line_error(board, 2, f"the leaderboard folder {a_file} is a file, not a folder")
    train = run_cli("train", "acgan", "--runs-dir", str(a_file), "--set", "max_steps=1", env=env)
    _one_line_error(train, 1, f"cannot create a run folder in {a_file}: it is a file, not a folder")
    assert a_file.read_text() == "mine\n"


@pytest.fixture
def read_only_copy(trained_run, tmp_path):
    """The trained run on a real read-only file system (a tmpfs remounted read-only), where
    root may mount one; skipped elsewhere."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a read-only file system needs root to mount a tmpfs")
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        run = folder / trained_run[0].name
        shutil.copytree(trained_run[0], run)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        yield run
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_run_says_so_in_one_line(read_only_copy, trained_run):
    run, env = read_only_copy, trained_run[1]
    evaluated = run_cli("evaluate", "acgan", "--run", str(run), "--n", "5", env=env)
    _one_line_error(evaluated, 2, f"cannot write the report folder {run / 'reports'}: Read-only file system (in "
                                  f"{run}); pass --out to write the report elsewhere")  # at once, not after the work
    walked = run_cli("interpolate", "acgan", "--run", str(run), env=env)  # before: internal error, a temporary name
    _one_line_error(walked, 1, "the file system is read-only (Read-only file system): "
                               f"{run / 'samples' / 'sample-interpolation-seeds-0-1-seed0.png'}")
    resumed = run_cli("train", "acgan", "--resume", str(run), "--set", "max_steps=6", env=env)
    _one_line_error(resumed, 1, f"the file system is read-only (Read-only file system): {run / 'metrics.jsonl'}")


def test_the_machine_refusing_a_write_is_said_in_words_not_as_a_bug(capsys, monkeypatch, tmp_path):
    """A full disk while writing a report: what happened and the file asked for, not "internal error: OSError"
    and not the temporary file's name."""
    import errno

    import typer

    from ganzoo.boundary import at_boundary
    from ganzoo.files import write_text_atomic

    def refuse(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(typer.Exit) as stopped:
        at_boundary(write_text_atomic)(tmp_path / "report.json", "{}")
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().err == (f"ganzoo: error: the disk is full (No space left on device): "
                                       f"{tmp_path / 'report.json'}\n")
    assert list(tmp_path.iterdir()) == []  # the temporary file went too


def test_a_name_too_long_for_the_file_system_is_said_in_words(capsys, tmp_path):
    """`--out` with a 300-character name was "internal error: OSError: [Errno 36] File name too long"."""
    import typer

    from ganzoo.boundary import at_boundary
    from ganzoo.files import write_text_atomic

    target = tmp_path / ("a" * 300 + ".png")
    with pytest.raises(typer.Exit) as stopped:
        at_boundary(write_text_atomic)(target, "{}")
    line = capsys.readouterr().err
    assert stopped.value.exit_code == 1 and line.count("\n") == 1
    assert line.startswith("ganzoo: error: a name is longer than the file system allows") and "internal" not in line
    assert list(tmp_path.iterdir()) == []


def test_memory_running_out_is_said_in_words_not_as_a_bug(capsys):
    """`--set image_size=100000`: torch's "DefaultCPUAllocator: can't allocate memory ..." was an internal error."""
    import typer

    from ganzoo.boundary import at_boundary

    def allocate():
        torch.empty(2**50, dtype=torch.uint8)  # 1 PiB: more than a 64-bit process can address

    with pytest.raises(typer.Exit) as stopped:
        at_boundary(allocate)()
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().err == ("ganzoo: error: out of memory: 1,048,576.0 GiB could not be allocated; a "
                                       "smaller batch_size or image_size (or --n) needs less\n")


@pytest.mark.parametrize("case", ["empty-folder", "hub-without-config", "device"])
def test_a_source_that_is_not_an_artifact_is_named_for_what_it_is(tmp_path, case):
    """--checkpoint on a folder said "has no checkpoint yet", on /dev/zero "does not exist"."""
    folder = tmp_path / "thing"
    folder.mkdir()
    if case == "hub-without-config":
        (folder / "model.safetensors").write_bytes(b"")
    source = "/dev/zero" if case == "device" else str(folder)
    if case == "device" and not Path(source).exists():
        pytest.skip("no /dev/zero here")
    result = run_cli("sample", "acgan", "--checkpoint", source, "--out", str(tmp_path / "out.png"))
    expected = {"empty-folder": "is a folder but neither a run folder (no config.yaml) nor an exported generator",
                "hub-without-config": "looks like an exported generator for the Hub but has no config.json",
                "device": "/dev/zero is not a regular file (a device or a pipe), not a checkpoint"}[case]
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("command", [["sample", "acgan", "--n", "2"], ["interpolate", "acgan", "--seeds", "1,2"],
                                     ["export", "acgan"], ["export", "acgan", "--format", "hub"]])
def test_an_output_under_a_file_is_one_line_before_any_work(trained_run, tmp_path, command):
    """--out existing.png/x.png said "File exists" (sample, export, interpolate)."""
    run_dir, env, _ = trained_run
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"mine")
    out = existing / "deeper" / ("x" if "hub" in command else "x.png" if command[0] != "export" else "x.safetensors")
    result = run_cli(*command, "--run", str(run_dir), "--out", str(out), env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{existing} is a file, so it cannot hold {out}; choose another --out" in result.stderr
    assert existing.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["existing.png"]


def test_resuming_from_a_step_checkpoint_that_is_gone_names_those_kept(trained_run):
    """--resume RUN/checkpoints/step_N.pt for a step file that rotation deleted said
    "not a readable run folder (config.yaml ...)"."""
    run_dir, env, _ = trained_run
    gone = run_dir / "checkpoints" / "step_0000001.pt"
    result = run_cli("train", "acgan", "--resume", str(gone), "--set", "max_steps=6", env=env)
    kept = ", ".join(sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"checkpoint {gone} does not exist (a run keeps its newest keep_checkpoints" in result.stderr
    assert f"this run has {kept}" in result.stderr and "last.pt" in kept


def test_a_hand_edited_setting_in_config_yaml_is_refused_on_resume(trained_run, tmp_path):
    """Editing lr in config.yaml, then --resume: exit 0, and config.yaml and the new
    checkpoint said lr 0.5 while the restored optimiser kept training at 0.0002."""
    import shutil

    run_dir, env, _ = trained_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy, symlinks=True)
    config_path = copy / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    trained_lr = config["settings"]["lr"]
    config["settings"]["lr"] = 0.5
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    edited = config_path.read_bytes()
    before = sorted(p.name for p in (copy / "checkpoints").iterdir())
    result = run_cli("train", "acgan", "--resume", str(copy), "--set", "max_steps=6", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"says lr: 0.5, but last.pt was trained with lr: {trained_lr!r}" in result.stderr
    assert config_path.read_bytes() == edited and sorted(p.name for p in (copy / "checkpoints").iterdir()) == before


def test_run_given_a_file_says_to_use_checkpoint(trained_run, tmp_path):
    """--run on a file was read as a checkpoint: "/etc/hostname is not a PyTorch checkpoint file"."""
    run_dir, env, _ = trained_run
    for command in (["sample", "acgan"], ["evaluate", "acgan"], ["export", "acgan", "--out", str(tmp_path / "g.st")]):
        result = run_cli(*command, "--run", str(run_dir / "config.yaml"), env=env)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "--run takes a run folder, and " in result.stderr and "goes with --checkpoint" in result.stderr
