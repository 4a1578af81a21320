"""Pinned judges: the evaluation classifiers that ship with ganzoo, so every machine
measures with the same weights and no evaluation waits for a judge to train."""

from __future__ import annotations

import shutil

import pytest
import torch

from ganzoo.data import load_dataset
from ganzoo.errors import DataError
from ganzoo.evaluate import classifier as clf
from ganzoo.evaluate import pinned
from ganzoo.evaluate.classifier import CLASSIFIER_VERSION, get_judge

from conftest import SHARED_DATASETS, write_mnist_like

CPU = torch.device("cpu")


def test_every_shipped_judge_is_whole_and_named_by_its_hash():
    entries = pinned.manifest()
    assert {(e["dataset"], tuple(e["shape"])) for e in entries} >= {("mnist", (1, 28, 28)),
                                                                    ("fashion-mnist", (1, 28, 28))}
    for entry in entries:
        judge = pinned.PinnedJudge(entry)
        assert judge.path.is_file() and judge.path.stat().st_size < 1_000_000
        state = judge.load()  # checks the recorded sha256
        assert pinned.weights_sha256(state) == entry["sha256"]
        assert entry["version"] == CLASSIFIER_VERSION and entry["precision"] == "fp32" and entry["threads"] == 1
        assert 0.8 < entry["test_accuracy"] <= 1.0 and entry["trained_on"]["images"] >= 5000


def test_a_dataset_with_a_pinned_judge_never_trains_one(tmp_path, monkeypatch):
    monkeypatch.delenv("GANZOO_JUDGE_STEPS", raising=False)
    data = write_mnist_like(tmp_path / "data")  # MNIST's files and class names, at 28x28: the pinned judge fits
    train, test = load_dataset("mnist", data, train=True), load_dataset("mnist", data, train=False)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a judge was trained though a pinned one ships")

    monkeypatch.setattr(clf, "train_classifier", must_not_train)
    judge = get_judge(train, test, CPU, progress=False)
    entry = next(e for e in pinned.manifest() if e["dataset"] == "mnist")
    assert not judge.trained_now and judge.sha256 == entry["sha256"] and judge.pinned == entry
    described = judge.describe()
    assert described["source"] == "pinned (shipped with ganzoo)" and described["sha256"] == entry["sha256"]
    assert described["pinned"]["test_accuracy"] == entry["test_accuracy"]
    # the accuracy in the report is measured on this machine's test split
    predicted, _ = clf.classify(judge.model, test.images, CPU)
    assert judge.test_accuracy == pytest.approx(float((predicted == test.labels).float().mean()))


def test_another_shape_or_an_explicit_step_count_trains_and_caches_as_before(tmp_path, monkeypatch):
    data = write_mnist_like(tmp_path / "data", per_class=6)
    train, test = load_dataset("mnist", data, train=True), load_dataset("mnist", data, train=False)
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "20")
    judge = get_judge(train, test, CPU, progress=False)
    assert judge.trained_now and judge.pinned is None and judge.steps == 20
    assert judge.sha256 == pinned.weights_sha256(judge.model.state_dict())
    monkeypatch.delenv("GANZOO_JUDGE_STEPS")
    small = load_dataset("mnist", data, train=True, channels=1, image_size=16)
    small_test = load_dataset("mnist", data, train=False, channels=1, image_size=16)
    assert pinned.pinned_judge_for(small, CLASSIFIER_VERSION) is None
    assert get_judge(small, small_test, CPU, steps=20, progress=False).trained_now


def test_a_damaged_pinned_judge_is_one_clear_error(tmp_path, monkeypatch):
    copy = tmp_path / "judges"
    shutil.copytree(pinned.JUDGES_DIR, copy)
    entry = next(e for e in pinned.manifest() if e["dataset"] == "mnist")
    raw = bytearray((copy / entry["file"]).read_bytes())
    raw[-100] ^= 0xFF  # one weight changed
    (copy / entry["file"]).write_bytes(bytes(raw))
    monkeypatch.setattr(pinned, "JUDGES_DIR", copy)
    with pytest.raises(DataError, match="does not match its recorded sha256"):
        pinned.PinnedJudge(entry).load()


@pytest.mark.skipif(not (SHARED_DATASETS / "mnist-5k").is_dir(), reason="needs ../shared/datasets/mnist-5k (not in a fresh clone)")
def test_the_pinned_mnist_judge_scores_the_real_test_split_as_recorded():
    root = SHARED_DATASETS / "mnist-5k"
    train, test = load_dataset("mnist", root, train=True), load_dataset("mnist", root, train=False)
    judge = get_judge(train, test, CPU, progress=False)
    assert judge.pinned is not None
    # the same bits on this CPU kind; another kind may flip a borderline image or two
    assert judge.test_accuracy == pytest.approx(judge.pinned["test_accuracy"], abs=5e-4)
