"""The zoo: cgan, dcgan and wgan-gp learn through the generic trainer; the core's
extensions they need (critic steps, a gradient penalty, conditional discriminators,
unconditional sampling, recipe tunings) behave; the plugin guide builds a plugin that pip
installs and trains."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import torch

import ganzoo
from ganzoo.data import ImageData
from ganzoo.layers import doubling_plan
from ganzoo.models import build_model
from ganzoo.plugins import get_host
from ganzoo.recipes import load_recipe, load_tuning, resolve
from ganzoo.sample import generate
from ganzoo.train.trainer import Trainer
from ganzoo.training import seed_everything

from conftest import REPO, blob_images, run_cli
from test_evaluate import OFFLINE
from test_learning import NearestCentroid

SIZE = 16


def train_on_blobs(model: str, steps: int, **settings) -> tuple[Trainer, ganzoo.BuiltModel, ImageData]:
    images, labels = blob_images(100, size=SIZE, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "epochs": 10_000, "max_steps": steps,
              "batch_size": 64, "log_every": 50, "seed": 0, "precision": "fp32", **settings}
    resolved = resolve(get_host().models.get(model), "blobs", recipe).settings
    seed_everything(0)
    built = build_model(model, resolved, data.num_classes)
    trainer = Trainer(built, resolved, data, device="cpu", progress=False)
    trainer.fit()
    return trainer, built, data


def conditioned_accuracy(built: ganzoo.BuiltModel, data: ImageData) -> tuple[float, float]:
    """How often the samples show the class asked for, and with the labels shifted by 5."""
    judge = NearestCentroid(data.images.squeeze(1), data.labels)
    wanted = torch.arange(10).repeat_interleave(50)
    fakes = generate(built.generator.eval(), wanted, seed=1, device=torch.device("cpu"))
    return judge.accuracy(fakes.squeeze(1), wanted), judge.accuracy(fakes.squeeze(1), wanted.roll(250))


# -- the models learn -------------------------------------------------------------------
def test_projection_cgan_trains_its_class_path():
    """The projection cGAN's class signal flows both ways: D's class embedding learns and
    G's class-wise BatchNorm makes its output depend on the label. (Whether it draws the
    right digits is measured on real data by the leaderboard: on toy data its D wins before
    the class signal reaches G, within any test's budget.)"""
    images, labels = blob_images(20, size=SIZE, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "max_steps": 30, "batch_size": 32,
              "precision": "fp32", "epochs": 100}
    settings = resolve(get_host().models.get("cgan"), "blobs", recipe).settings
    seed_everything(0)
    built = build_model("cgan", settings, 10)
    assert built.discriminator.uses_labels and type(built.loss).__name__ == "HingeLoss"
    embed_before = built.discriminator.embed.parametrizations.weight.original.detach().clone()
    z = built.generator.sample_latent(16)
    with torch.no_grad():
        built.generator.eval()
        same = (built.generator(z, torch.zeros(16, dtype=torch.long)) - built.generator(z, torch.full((16,), 5))).abs().max()
    assert same == 0  # class-wise BatchNorm starts as plain BatchNorm
    trainer = Trainer(built, settings, data, device="cpu", progress=False)
    trainer.fit()
    assert all(math.isfinite(m["d_loss"]) and math.isfinite(m["g_loss"]) for m in trainer.history)
    assert not torch.equal(built.discriminator.embed.parametrizations.weight.original, embed_before)
    with torch.no_grad():
        built.generator.eval()
        apart = (built.generator(z, torch.zeros(16, dtype=torch.long)) - built.generator(z, torch.full((16,), 5))).abs()
    assert apart.mean() > 1e-3


def test_conditional_wgan_gp_learns_with_critic_steps_and_a_gradient_penalty():
    trainer, built, data = train_on_blobs("wgan-gp", 150, conditional=True, width=16)
    assert trainer.s.n_critic == 5 and trainer.s.lr == 1e-4 and trainer.s.betas == [0.0, 0.9]  # the model's defaults
    last = trainer.history[-1]
    assert 0 < last["d_penalty"] < 10, last  # logged on its own, finite
    right, shifted = conditioned_accuracy(built, data)
    print(f"wgan-gp conditional: {right:.1%} of samples show their class")
    assert right >= 0.9 and shifted <= 0.2


def nearest_real_distance(images: torch.Tensor, real: torch.Tensor) -> float:
    x = images.float().flatten(1) / 255
    return float(torch.cdist(x, real.float().flatten(1) / 255).min(1).values.median())


def test_unconditional_dcgan_learns_the_data_and_covers_its_classes():
    images, labels = blob_images(100, size=SIZE, seed=0)
    seed_everything(0)
    untrained = ganzoo.get_model("dcgan", num_classes=10, channels=1, image_size=SIZE)
    before = nearest_real_distance(generate(untrained.generator.eval(), torch.zeros(500, dtype=torch.long), seed=1,
                                            device=torch.device("cpu")), images)
    trainer, built, data = train_on_blobs("dcgan", 600)
    assert not built.generator.conditional and trainer.history[-1]["d_class_accuracy"] is None
    fakes = generate(built.generator.eval(), torch.zeros(500, dtype=torch.long), seed=1, device=torch.device("cpu"))
    after = nearest_real_distance(fakes, images)
    judge = NearestCentroid(images, labels)
    scores = (fakes.squeeze(1).float().flatten(1) / 255 - judge.mean) @ judge.centroids.T
    shares = torch.bincount(scores.argmax(1), minlength=10).float() / len(fakes)
    print(f"dcgan: median distance to the nearest real image {before:.2f} -> {after:.2f}; class shares {shares.tolist()}")
    assert after < before / 2.5
    assert int((shares >= 0.02).sum()) >= 7  # no collapse onto a few modes


# -- the core extensions ----------------------------------------------------------------
class LinearCritic(ganzoo.Discriminator):
    """D(x) = <w, x>: its input gradient is w everywhere, so the penalty is known."""

    def __init__(self, w: torch.Tensor):
        super().__init__(num_classes=0, image_shape=tuple(w.shape))
        self.w = torch.nn.Parameter(w)

    def forward(self, images, labels=None):
        return ganzoo.DiscriminatorOutput((images * self.w).flatten(1).sum(1))


def test_gradient_penalty_matches_its_closed_form():
    w = torch.full((1, 4, 4), 0.5)  # ||w|| = 2
    critic = LinearCritic(w)
    loss = ganzoo.get_loss("wgan-gp", gp_weight=10.0)
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    labels = torch.zeros(8, dtype=torch.long)
    penalty = loss.discriminator_penalty(critic.critic, real, fake, labels, labels)
    assert penalty.item() == pytest.approx(10.0 * (2.0 - 1.0) ** 2)
    penalty.backward()  # differentiable in the critic's weights (double backward)
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0


def test_losses_on_known_logits():
    out = ganzoo.DiscriminatorOutput
    labels = torch.zeros(2, dtype=torch.long)
    hinge = ganzoo.get_loss("hinge")
    assert hinge.discriminator_loss(out(torch.tensor([2.0, 0.0])), out(torch.tensor([-2.0, 0.5])), labels, labels).item() \
        == pytest.approx(0.5 + 0.75)
    assert hinge.generator_loss(out(torch.tensor([1.0, 3.0])), labels).item() == pytest.approx(-2.0)
    bce = ganzoo.get_loss("bce")
    assert bce.generator_loss(out(torch.zeros(2)), labels).item() == pytest.approx(0.6931, abs=1e-4)
    wgan = ganzoo.get_loss("wgan-gp")
    assert wgan.discriminator_loss(out(torch.tensor([3.0])), out(torch.tensor([1.0])), labels, labels).item() == -2.0


def test_projection_discriminator_reads_the_label():
    built = ganzoo.get_model("cgan", num_classes=10, channels=1, image_size=28)
    images = torch.randn(4, 1, 28, 28)
    d = built.discriminator.eval()
    with torch.no_grad():
        a = d.critic(images, torch.tensor([0, 1, 2, 3])).source
        b = d.critic(images, torch.tensor([3, 2, 1, 0])).source
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("model", ["cgan", "dcgan", "wgan-gp"])
@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 1)])
def test_models_build_for_common_image_sizes(model, size, channels):
    built = ganzoo.get_model(model, num_classes=10, channels=channels, image_size=size)
    z = built.generator.sample_latent(2)
    labels = torch.tensor([1, 2]) if built.generator.conditional else None
    images = built.generator.eval()(z, labels)
    assert images.shape == (2, channels, size, size)
    assert built.discriminator.eval().critic(images, torch.tensor([1, 2])).source.shape == (2,)


def test_doubling_plan():
    assert doubling_plan(28) == (7, 2) and doubling_plan(32) == (4, 3) and doubling_plan(64) == (4, 4)
    with pytest.raises(ValueError, match="image size 30"):
        doubling_plan(30)


def test_critic_steps_each_take_a_new_batch_and_count_toward_the_epoch():
    images, labels = blob_images(20, size=SIZE, seed=0)  # 200 images: 3 batches of 64 per epoch
    data = ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": SIZE, "channels": 1, "epochs": 2, "batch_size": 64, "n_critic": 3,
              "precision": "fp32"}
    settings = resolve(get_host().models.get("dcgan"), "blobs", recipe).settings
    seed_everything(0)
    trainer = Trainer(build_model("dcgan", settings, 10), settings, data, device="cpu", progress=False)
    assert trainer.total_steps == 2  # 2 epochs x 3 batches / 3 D updates per step
    index, z, fake_labels = trainer._draw_inputs()
    assert index.shape == (3, 64) and z.shape == (3, 64, 100) and fake_labels.shape == (3, 64)
    assert len(set(index.flatten().tolist())) == 192  # three different batches, no image twice
    result = trainer.fit()
    assert result.steps == 2 and result.epochs == 2


# -- recipes, tunings and the command line -----------------------------------------------
def test_recipe_layers_model_defaults_then_recipe_then_tuning_then_section_then_set(fresh_plugins, tmp_path):
    spec = fresh_plugins.models.get("wgan-gp")
    name, raw = load_recipe("mnist", fresh_plugins.recipes)
    tuning_source = fresh_plugins.tuning("wgan-gp", "mnist")
    assert tuning_source is not None and tuning_source.owner == "wgan-gp"
    tuning = load_tuning(tuning_source)
    settings = resolve(spec, name, raw, {}, tuning).settings
    assert settings["n_critic"] == 5 and settings["lr"] == 1e-4  # the model's train_defaults
    assert settings["epochs"] == tuning["epochs"] != raw["epochs"]  # the tuning beats the recipe
    raw = {**raw, "lr": 3e-4, "models": {"wgan-gp": {"epochs": 7}}}
    settings = resolve(spec, name, raw, {"n_critic": 2}, tuning).settings
    assert (settings["lr"], settings["epochs"], settings["n_critic"]) == (3e-4, 7, 2)
    with pytest.raises(ganzoo.UsageError, match="n_critic"):
        resolve(spec, name, raw, {"n_critic": 0}, tuning)


def test_listings_show_every_model_and_the_tunings():
    result = run_cli("models")
    assert result.returncode == 0
    kinds = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert kinds == {"acgan": "conditional", "cgan": "conditional", "dcgan": "unconditional", "wgan-gp": "optional"}
    recipes = run_cli("recipes").stdout
    assert re.search(r"fashion-mnist .*tuned by plugins for: cgan, dcgan, wgan-gp", recipes)
    assert re.search(r"^mnist .*tuned by plugins for: cgan, dcgan, wgan-gp", recipes, re.M)


def test_unconditional_model_samples_but_refuses_a_class(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    common = ["--data-dir", str(mnist_like_root), "--runs-dir", str(runs)]
    trained = run_cli("train", "dcgan", "--recipe", "mnist", *common, "--set", "max_steps=3", "-q")
    assert trained.returncode == 0, trained.stderr
    config = (next(runs.iterdir()) / "config.yaml").read_text()
    assert "tuning: 'dcgan: mnist.yaml'" in config
    refused = run_cli("sample", "dcgan", "--class", "3", "--runs-dir", str(runs))
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "unconditional" in refused.stderr and "--class" in refused.stderr
    out = tmp_path / "grid.npz"
    sampled = run_cli("sample", "dcgan", "--n", "12", "--out", str(out), "--runs-dir", str(runs))
    assert sampled.returncode == 0, sampled.stderr
    import numpy as np

    assert np.load(out)["images"].shape == (12, 1, 28, 28)


# -- the leaderboard --------------------------------------------------------------------
def test_leaderboard_evaluates_the_newest_run_of_each_model_the_same_way(mnist_like_root, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "board"
    env = {"GANZOO_JUDGE_STEPS": "150", **OFFLINE}  # no Inception weights: reported unavailable
    common = ["--data-dir", str(mnist_like_root), "--runs-dir", str(runs)]
    for model, steps in (("acgan", 3), ("dcgan", 2), ("acgan", 4)):  # the second acgan run is the newer one
        trained = run_cli("train", model, "--recipe", "mnist", *common, "--set", f"max_steps={steps}", "-q", env=env)
        assert trained.returncode == 0, trained.stderr
    made = run_cli("leaderboard", "--recipe", "mnist", *common, "--out", str(out), "--n", "20", "-q", env=env)
    assert made.returncode == 0, made.stderr
    assert "| acgan |" in made.stdout and "| dcgan |" in made.stdout

    import json

    board = json.loads((out / "leaderboard.json").read_text())
    rows = {row["model"]: row for row in board["rows"]}
    assert set(rows) == {"acgan", "dcgan"}
    assert rows["acgan"]["steps"] == 4 and rows["dcgan"]["steps"] == 2  # the newest acgan run
    assert rows["acgan"]["accuracy_mean"] is not None and rows["dcgan"]["accuracy_mean"] is None
    assert rows["dcgan"]["classes_covered"] <= 10 and rows["acgan"]["train_seconds"] > 0
    fids = [row["classifier_fid"] for row in board["rows"]]
    assert fids == sorted(fids)  # ranked by classifier FID
    for model in rows:
        report = json.loads((out / model / "report.json").read_text())
        assert report["samples"] == {"n_per_class": 20, "n_total": 200, "seed": 0}  # same N and seed for all
        assert report["metrics"]["classifier_fid"]["value"] == rows[model]["classifier_fid"]
    markdown = (out / "leaderboard.md").read_text()
    assert "![acgan](acgan.png)" in markdown and (out / "acgan.png").stat().st_size > 0
    page = (out / "leaderboard.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and 'src="acgan' not in page

    again = run_cli("leaderboard", "--recipe", "mnist", *common, "--out", str(out), "-q", env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    none = run_cli("leaderboard", "--recipe", "fashion-mnist", *common, env=env)
    assert none.returncode == 2 and none.stderr.count("\n") == 1 and "no run of recipe 'fashion-mnist'" in none.stderr


# -- the plugin guide -------------------------------------------------------------------
GUIDE = REPO / "docs" / "writing-a-plugin.md"


def guide_files() -> dict[str, str]:
    """The files the guide shows, by the path in each code block's title."""
    blocks = re.findall(r'```\w+ title="([^"]+)"\n(.*?)```', GUIDE.read_text(encoding="utf-8"), re.S)
    return {path: text for path, text in blocks}


def build_wheel(files: dict[str, str], folder: Path) -> Path:
    """A wheel of the guide's package, its entry points taken from the guide's pyproject.toml."""
    project = tomllib.loads(files["ganzoo-mygan/pyproject.toml"])["project"]
    name, version = project["name"], project["version"]
    dist = f"{name.replace('-', '_')}-{version}"
    entry_points = "[ganzoo]\n" + "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["ganzoo"].items())
    contents = {path.split("/", 1)[1]: text for path, text in files.items() if not path.endswith("pyproject.toml")}
    contents[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist}.dist-info/WHEEL"] = "Wheel-Version: 1.0\nGenerator: ganzoo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents[f"{dist}.dist-info/entry_points.txt"] = entry_points
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        writer.writerow([path, f"sha256={digest}", len(text.encode())])
    writer.writerow([f"{dist}.dist-info/RECORD", "", ""])
    contents[f"{dist}.dist-info/RECORD"] = record.getvalue()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


def test_the_plugin_guide_builds_a_working_plugin(mnist_like_root, tmp_path):
    files = guide_files()
    assert set(files) == {"ganzoo-mygan/pyproject.toml", "ganzoo-mygan/ganzoo_mygan/__init__.py",
                          "ganzoo-mygan/ganzoo_mygan/model.py", "ganzoo-mygan/ganzoo_mygan/plugin.py",
                          "ganzoo-mygan/ganzoo_mygan/mnist.yaml"}
    wheel = build_wheel(files, tmp_path)
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    assert (site / "ganzoo_mygan-0.1.0.dist-info" / "entry_points.txt").is_file()
    env = {"PYTHONPATH": str(site)}

    plugins = run_cli("plugins", env=env)
    assert re.search(r"^mygan\s+ganzoo-mygan 0.1.0\s+ok\s+.*ganzoo_mygan/plugin.py", plugins.stdout, re.M), plugins.stdout
    models = run_cli("models", env=env)
    assert re.search(r"^mygan\s+conditional\s+mygan\s+Fully-connected", models.stdout, re.M), models.stdout

    runs = tmp_path / "runs"
    trained = run_cli("train", "mygan", "--recipe", "mnist", "--data-dir", str(mnist_like_root), "--runs-dir", str(runs),
                      "--set", "max_steps=4", "--set", "ls_target=0.5", "-q", env=env)
    assert trained.returncode == 0, trained.stderr
    config = (next(runs.iterdir()) / "config.yaml").read_text()
    assert "hidden: 512" in config and "ls_target: 0.5" in config and "tuning: 'mygan: mnist.yaml'" in config
    sampled = run_cli("sample", "mygan", "--class", "7", "--runs-dir", str(runs), env=env)
    assert sampled.returncode == 0, sampled.stderr

    # removed again: without it on the path, ganzoo knows no mygan
    assert "mygan" not in run_cli("models").stdout
