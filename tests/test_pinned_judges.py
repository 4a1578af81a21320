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
        assert entry["version"] == CLASSIFIER_VERSION and entry["precision"] == "fp32" and entry["threads"] in (1, 2)
        assert 0.8 < entry["test_accuracy"] <= 1.0 and entry["trained_on"]["images"] >= 3000


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


# -- a judge pinned to an image folder's pictures (the emoji recipe's) -------------------
EMOJI = SHARED_DATASETS / "emoji"
EMOJI_CLASSES = ["activities", "animals-nature", "flags", "food-drink", "objects", "people-body",
                 "smileys-emotion", "symbols", "travel-places"]


def emoji_entries() -> list[dict]:
    return [e for e in pinned.manifest() if e.get("label") == "emoji"]


def test_the_emoji_recipe_is_colour_64px_with_a_32px_variant():
    from test_recipes import resolved

    s = resolved("emoji")
    assert (s["dataset"], s["channels"], s["image_size"], s["batch_size"]) == ("imagefolder", 3, 64, 64)
    assert resolved("emoji", ["image_size=32"])["image_size"] == 32
    assert sorted(tuple(e["shape"]) for e in emoji_entries()) == [(3, 32, 32), (3, 64, 64)]
    for entry in emoji_entries():
        assert entry["dataset"] == "imagefolder" and entry["match"] == "contents"
        assert entry["class_names"] == EMOJI_CLASSES and entry["trained_on"]["images"] == 3294


def write_emoji_like(root, size: int, per_class: int = 4):
    """An image folder with the emoji set's class names and shape but other pictures."""
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for name in EMOJI_CLASSES:
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            pixels = torch.randint(0, 256, (size, size, 3), generator=generator, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(root / name / f"{k}.png")
    return root


def test_a_judge_pinned_to_a_folder_is_chosen_for_those_pictures_only(tmp_path, monkeypatch):
    """An image folder's name says nothing of its pictures: other pictures with the emoji
    set's class names and shape train their own judge; the very pictures get the pinned one."""
    folder = write_emoji_like(tmp_path / "not-emoji", 32)
    train = load_dataset("imagefolder", folder, train=True, channels=3, image_size=32)
    assert train.class_names == EMOJI_CLASSES
    assert pinned.pinned_judge_for(train, CLASSIFIER_VERSION) is None
    entry = next(e for e in emoji_entries() if e["shape"] == [3, 32, 32])
    from ganzoo.data import fingerprint

    same = {**entry, "trained_on": fingerprint(train)}  # as if it had learnt from these pictures
    monkeypatch.setattr(pinned, "manifest", lambda: [same])
    assert pinned.pinned_judge_for(train, CLASSIFIER_VERSION).entry is same


@pytest.mark.skipif(not EMOJI.is_dir(), reason="needs ../shared/datasets/emoji (not in a fresh clone)")
@pytest.mark.parametrize("size", [32, 64])
def test_the_emoji_judges_score_the_real_test_split_as_recorded(size, monkeypatch):
    monkeypatch.delenv("GANZOO_JUDGE_STEPS", raising=False)
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("trained a judge though one is pinned"))
    train = load_dataset("imagefolder", EMOJI, train=True, channels=3, image_size=size)
    test = load_dataset("imagefolder", EMOJI, train=False, channels=3, image_size=size)
    judge = get_judge(train, test, CPU, progress=False)
    assert judge.pinned is not None and judge.pinned["shape"] == [3, size, size]
    # the same bits on this CPU kind; another kind may flip a borderline picture or two of 361
    assert judge.test_accuracy == pytest.approx(judge.pinned["test_accuracy"], abs=0.006)


@pytest.mark.skipif(not EMOJI.is_dir(), reason="needs ../shared/datasets/emoji (not in a fresh clone)")
def test_an_emoji_run_evaluates_with_the_pinned_judge_and_no_flags(tmp_path):
    import json

    from conftest import run_cli
    from test_evaluate import OFFLINE

    runs = tmp_path / "runs"
    trained = run_cli("train", "acgan", "--recipe", "emoji", "--data-dir", str(EMOJI), "--runs-dir", str(runs),
                      "--set", "image_size=32", "--set", "max_steps=3", "--set", "batch_size=16", "-q")
    assert trained.returncode == 0, trained.stderr
    env = {**OFFLINE, "GANZOO_JUDGE_STEPS": ""}
    evaluated = run_cli("evaluate", "acgan", "--runs-dir", str(runs), "--n", "10", "--json", "-q",
                        "--metrics", "accuracy,classifier-fid", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["judge"]["source"] == "pinned (shipped with ganzoo)" and not report["judge"]["trained_now"]
    assert report["judge"]["pinned"]["file"] == "emoji-3x32x32-v1.safetensors"
    assert report["class_names"] == EMOJI_CLASSES and report["real_split"]["images"] == 361
