"""docs/python-api.md runs: every ```python block of the page, in order, in one session,
against a small MNIST-format data set; and the API's errors are ganzoo's own."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import ganzoo
import ganzoo.api as gz

from conftest import REPO, write_mnist_like

PAGE = REPO / "docs" / "python-api.md"


def test_every_example_of_the_page_runs(tmp_path, monkeypatch):
    data = write_mnist_like(tmp_path / "data", per_class=10)
    monkeypatch.setenv("GANZOO_DATA_DIR", str(data))
    monkeypatch.setenv("GANZOO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "30")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - our own documentation
    generator, sevens = namespace["generator"], namespace["sevens"]
    assert generator.weights == "ema" and generator.step == 30  # trained to 20, resumed to 30
    assert [(r["run"], r["state"], r["checkpoint_step"]) for r in gz.runs("acgan")] == [
        (str(namespace["run"]), "finished", 30)]
    assert [row["model"] for row in namespace["board"]["rows"]] == ["acgan"]
    assert Path(namespace["board"]["folder"], "leaderboard.json").is_file()
    assert (namespace["watched"].lines, namespace["rewatched"].lines) == (3, 5)  # a user callback's state, resumed
    assert namespace["rewatched"].lowest <= namespace["watched"].lowest
    assert namespace["grid_file"].is_file() and namespace["strip"].is_file() and namespace["gif"].is_file()
    assert (gz.load(model="acgan").sample("seven", n=16, seed=0) == sevens).all()  # the newest run of acgan
    assert (gz.load(namespace["exported"]).sample("seven", n=16, seed=0) == sevens).all()
    assert namespace["card"].is_file() and (gz.load(namespace["card"].parent).sample(7, n=16, seed=0) == sevens).all()
    assert namespace["grid"].shape == (40, 1, 28, 28)
    assert len(namespace["pictures"]) == 2 and namespace["pictures"][0].size == (28, 28)
    assert namespace["values"].min() >= -1 and namespace["values"].max() <= 1
    assert Path(namespace["report"]["folder"]).is_dir()
    exported = tmp_path / "g.safetensors"
    from conftest import run_cli

    assert run_cli("export", "acgan", "--run", str(namespace["run"]), "--out", str(exported)).returncode == 0
    assert (gz.load(exported).sample("seven", n=16, seed=0) == sevens).all()  # the same weights, the same images
    checkpoint = namespace["run"] / "checkpoints" / "last.pt"
    assert (gz.load(checkpoint).sample(7, n=16, seed=0) == sevens).all()
    assert (generator.sample("seven", n=16, seed=np.int64(0)) == sevens).all()  # numpy's integers are seeds too
    for bad in (-1, 2**63, 1.5, True):  # torch took -1 and True, and overflowed on 2**63 (an internal error)
        with pytest.raises(ganzoo.UsageError, match="seed must be a whole number from 0 to 4611686018427387903"):
            generator.sample("seven", n=2, seed=bad)


def test_a_resume_through_the_api_is_the_uninterrupted_run(tmp_path, monkeypatch):
    data = write_mnist_like(tmp_path / "data", per_class=10)
    common = {"batch_size": 16, "log_every": 2}
    whole = gz.train("dcgan", settings={**common, "max_steps": 8}, data_dir=data, runs_dir=tmp_path / "a")
    half = gz.train("dcgan", settings={**common, "max_steps": 4}, data_dir=data, runs_dir=tmp_path / "b")
    assert gz.resume(half, settings={"max_steps": 8}) == half
    a, b = (torch.load(run / "checkpoints" / "last.pt", weights_only=True) for run in (whole, half))
    for key in a["generator"]:
        assert torch.equal(a["generator"][key], b["generator"][key]), key
    with pytest.raises(ganzoo.UsageError, match="cannot change 'lr' when resuming"):
        gz.resume(half, settings={"lr": 1e-3})
    with pytest.raises(ganzoo.UsageError, match="neither a run folder nor one of a run's checkpoints"):
        gz.resume(tmp_path / "nothing")
    with pytest.raises(ganzoo.UsageError, match="--format must be safetensors or hub"):
        gz.export(half, tmp_path / "x.onnx", format="onnx")


def test_api_errors_are_ganzoos_own(tmp_path):
    with pytest.raises(ganzoo.UsageError, match="does not exist"):
        gz.load(tmp_path / "nothing")
    with pytest.raises(ganzoo.UsageError, match="unknown model 'acgn'"):
        gz.train("acgn")
    with pytest.raises(ganzoo.UsageError, match="unknown setting 'max_step'"):
        gz.train("acgan", settings={"max_step": 3})
