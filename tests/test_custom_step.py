"""A model with its own training step comes in through the plugin door: InfoGAN
(tests/plugins/infogan, its own distribution, touching no core file) is installed with
pip, trains, learns a categorical code that picks the class, and resumes bitwise."""

from __future__ import annotations

import ganzoo
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, SHARED_DATASETS, blob_images, pip_install, run_cli, write_mnist_like
from test_learning import NearestCentroid

PLUGIN = REPO / "tests" / "plugins" / "infogan"
MNIST_5K = SHARED_DATASETS / "mnist-5k"
NOISE, CATEGORIES = 62, 10


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("infogan")
    files = {str(path.relative_to(PLUGIN)): path.read_text(encoding="utf-8")
             for path in (PLUGIN / "ganzoo_infogan").glob("*.py")}
    return pip_install((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"), files, folder)


@pytest.fixture
def infogan(site, monkeypatch):
    """The installed plugin, loaded in this process too."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    from ganzoo import plugins

    plugins.reload()
    yield {"PYTHONPATH": str(site)}
    plugins.forget()


def blob_data(root: Path, size: int = 16) -> Path:
    return write_mnist_like(root, per_class=100, size=size)


def code_agreement(run: Path, judge: NearestCentroid, per_code: int = 50) -> float:
    """How well the categorical code picks the class: samples of each code value, classed
    by ``judge``; the share that lands on its code's class under the best one-to-one
    matching of codes and classes (an untrained generator scores 0.10)."""
    from scipy.optimize import linear_sum_assignment

    from ganzoo.artifacts import load_generator

    generator, _ = load_generator(run / "checkpoints" / "last.pt", "infogan", torch.device("cpu"))
    z = generator.sample_latent(per_code * CATEGORIES, generator=torch.Generator().manual_seed(123))
    codes = torch.arange(CATEGORIES).repeat_interleave(per_code)
    z[:, NOISE:NOISE + CATEGORIES] = torch.nn.functional.one_hot(codes, CATEGORIES).float()
    with torch.no_grad():
        images = generator(z).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).squeeze(1)
    scores = (images.float().flatten(1) / 255 - judge.mean) @ judge.centroids.T
    confusion = np.zeros((CATEGORIES, CATEGORIES))
    np.add.at(confusion, (codes.numpy(), scores.argmax(1).numpy()), 1)
    rows, columns = linear_sum_assignment(-confusion)
    return float(confusion[rows, columns].sum() / len(codes))


def train(env: dict, data: Path, runs: Path, *sets: str) -> Path:
    done = run_cli("train", "infogan", "--recipe", "mnist", "--data-dir", str(data), "--runs-dir", str(runs), "-q",
                   "--set", "precision=fp32", "--set", "sample_every=100000", *[a for s in sets for a in ("--set", s)],
                   env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1].split(": ", 1)[1])


def test_infogan_is_its_own_distribution_with_its_own_step(infogan):
    from ganzoo.plugins import get_host

    host = get_host()
    info = {p.name: p for p in host.plugins}["infogan"]
    assert info.status == "ok" and info.distribution == "ganzoo-infogan"
    assert not Path(info.location).is_relative_to(REPO / "ganzoo")
    spec = ganzoo.get_model_spec("infogan")
    assert spec.step.__name__ == "InfoGANStep"
    listing = run_cli("models", env=infogan)
    assert "infogan" in listing.stdout and "unconditional" in listing.stdout


# The categorical code picks the class above this share (chance, an untrained generator:
# 0.10). Measured after 400 steps (16x16 blobs, batch 32, fp32, NCHW unless said): with
# the info loss off (info_weight=0) 0.18 and 0.17 for seeds 0-1; with it, on AVX-512
# seeds 0-4 1.00, 0.55, 1.00, 1.00, 0.78, in channels-last seeds 0-2 0.32, 1.00, 0.58,
# and with oneDNN, MKL and ATen held to AVX2 (an AMD EPYC's kernels) seeds 0-3 0.34,
# 0.56, 0.40, 0.34: GAN training is chaotic, and other rounding draws other outcomes from
# the same seed, so the test asks for clearly above a broken info loss, not for a seed's
# outcome, and tries a second seed before it fails.
CODE_PICKS_CLASS = 0.25


def test_the_categorical_code_picks_the_class(infogan, tmp_path):
    data = blob_data(tmp_path / "data")
    images, labels = blob_images(100, size=16, seed=1)
    judge = NearestCentroid(images, labels)
    agreements = []
    for seed in (0, 1):
        run = train(infogan, data, tmp_path / f"runs-{seed}", "image_size=16", "batch_size=32", "max_steps=400",
                    f"seed={seed}", "channels_last=off")
        agreements.append(code_agreement(run, judge))
        print(f"infogan on blobs, 400 steps, seed {seed}: the code picks the class for {agreements[-1]:.0%} of samples")
        if agreements[-1] >= CODE_PICKS_CLASS:
            break
    assert max(agreements) >= CODE_PICKS_CLASS, agreements
    metrics = (run / "metrics.jsonl").read_text()
    assert '"d_info"' in metrics and '"g_info"' in metrics


@pytest.mark.skipif(not MNIST_5K.is_dir(), reason=f"needs the MNIST subset in {MNIST_5K} (not in a fresh clone)")
def test_the_categorical_code_picks_the_digit_on_mnist(infogan, tmp_path):
    """Measured on mnist-5k, batch 64: 0.60 after 300 steps (seed 0); see docs/writing-a-plugin.md."""
    from ganzoo.data import load_dataset

    run = train(infogan, MNIST_5K, tmp_path / "runs", "max_steps=300", "seed=0")
    data = load_dataset("mnist", MNIST_5K, train=True, channels=1, image_size=28)
    agreement = code_agreement(run, NearestCentroid(data.images.squeeze(1), data.labels), per_code=100)
    print(f"infogan on mnist-5k, 300 steps: the code picks the digit for {agreement:.0%} of samples")
    assert agreement >= 0.3, agreement


def first_difference(a: dict, b: dict) -> str | None:
    """The first tensor (G, D, the step's state, the Q optimiser's state) that differs
    between two checkpoints, or None when they are bitwise the same."""
    for part in ("generator", "discriminator", "train_step"):
        for key, value in a[part].items():
            if not torch.equal(value, b[part][key]):
                return f"{part}.{key}"
    for index, state in a["step.q"]["state"].items():
        for name, value in state.items():
            if not torch.equal(value, b["step.q"]["state"][index][name]):
                return f"Q optimiser {index} {name}"
    return None


def test_infogan_resumes_bitwise_with_its_step_state(infogan, tmp_path):
    """6 steps straight against 4 + a resume to 6, bitwise. In 2 of about 8 full suites
    on the AMX Xeon the resumed run's G differed from the straight run's by about one
    Adam step (an early last-bit difference, which the first Adam steps amplify); alone
    the test passed 10 of 10. So on a difference the straight run is trained once more:
    the test fails when the resumed run differs from two straight runs that agree (a
    resume defect), and skips with the reason when the two straight runs differ
    themselves (process-to-process float noise; docs/reliability.md)."""
    from ganzoo.runs.checkpoint import load_checkpoint

    data = blob_data(tmp_path / "data")
    runs = tmp_path / "runs"
    common = ("image_size=16", "batch_size=16", "log_every=1")
    last = lambda run: load_checkpoint(run / "checkpoints" / "last.pt")  # noqa: E731
    straight = last(train(infogan, data, runs, *common, "max_steps=6"))
    broken = train(infogan, data, runs, *common, "max_steps=4")
    resumed = run_cli("train", "infogan", "--resume", str(broken), "--data-dir", str(data), "-q",
                      "--set", "max_steps=6", env=infogan)
    assert resumed.returncode == 0, resumed.stderr
    resumed = last(broken)
    assert set(straight["train_step"]) >= {"q_head.0.weight", "q_head.1.running_mean"}  # the step's own Q head
    assert straight["step.q"]["state"], "the Q head's optimiser state is in the checkpoint"
    differs = first_difference(straight, resumed)
    if differs is None:
        return
    again = last(train(infogan, data, runs, *common, "max_steps=6"))
    if first_difference(again, resumed) is None:
        return
    noise = first_difference(straight, again)
    if noise is not None:
        pytest.skip(f"two straight fp32 runs differ themselves ({noise}): process-to-process float noise, "
                    "so bitwise resume cannot be judged this time")
    pytest.fail(f"the resumed run differs from two identical straight runs first at {differs}")
