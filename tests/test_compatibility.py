"""Run folders and checkpoints written by ganzoo 0.1 still work: they resume and continue
as 0.1 itself continued them, they sample and they export (tests/data/ganzoo-0.1-runs:
a dcgan run whose loss 0.1 called `bce` and a conditional wgan-gp run whose loss was
`wgan-gp`, both made by ganzoo 0.1.0 at its step 2, with 0.1's own step-3 weights)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import REPO, run_cli, write_mnist_like

FIXTURES = REPO / "tests" / "data" / "ganzoo-0.1-runs"


@pytest.fixture
def old_run(tmp_path, request):
    model = request.param
    runs = tmp_path / "runs"
    run = runs / f"{model}-mnist-20261129-005526"
    shutil.copytree(FIXTURES / model, run)
    return model, run, write_mnist_like(tmp_path / "data")


@pytest.mark.parametrize("old_run", ["dcgan", "wgan-gp"], indirect=True)
def test_a_0_1_run_resumes_where_0_1_would_have_gone(old_run):
    """Each tensor's sum at step 3 against 0.1's. One step moves a sum by as little as 1e-5
    of its size, and an fp32 last-bit difference in an early gradient (Adam's first steps
    amplify it to a whole step for that weight) moved one sum by 3e-5 (wgan-gp's
    project.0.bias, twice in about ten full suites). So each sum must land within a tenth of
    0.1's own step-2-to-3 change of it, and at most one tensor in ten may miss: a resume
    that took another batch, other noise or lost optimiser state misses on most of them."""
    model, run, data = old_run
    before = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    resumed = run_cli("train", model, "--resume", str(run), "--data-dir", str(data), "-q", "--set", "max_steps=3")
    assert resumed.returncode == 0, resumed.stderr
    payload = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert payload["step"] == 3 and payload["ganzoo_version"] != "0.1.0"
    expected = json.loads((FIXTURES / "expected.json").read_text())["step_3"][model]
    missed, checked = [], 0
    for part, sums in expected.items():
        for key, value in sums.items():
            now, was = (float(state[part][key].double().sum()) for state in (payload, before))
            checked += 1
            if abs(now - value) > max(0.1 * abs(value - was), 1e-6 * abs(value), 1e-7):
                missed.append(f"{part}.{key}: {now!r} against 0.1's {value!r} (step 2: {was!r})")
    assert len(missed) <= checked // 10, missed
    loss = payload["config"]["settings"]["loss"]
    assert loss == {"dcgan": "non-saturating", "wgan-gp": "wasserstein"}[model]  # 0.1's names, read anew


@pytest.mark.parametrize("old_run", ["dcgan", "wgan-gp"], indirect=True)
def test_a_0_1_checkpoint_samples_and_exports(old_run, tmp_path):
    model, run, _ = old_run
    extra = ["--class", "3"] if model == "wgan-gp" else []
    sampled = run_cli("sample", model, "--run", str(run), "--n", "4", "--out", str(tmp_path / "x.npz"), *extra)
    assert sampled.returncode == 0, sampled.stderr
    exported = run_cli("export", model, "--run", str(run), "--out", str(tmp_path / "g.safetensors"))
    assert exported.returncode == 0, exported.stderr
