"""``ganzoo evaluate --images``: images ganzoo did not make (an .npz or a folder of PNGs)
scored against the same real split, judge and metrics as a run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.errors import DataError
from ganzoo.evaluate.images import read_image_set

from conftest import blob_images, run_cli, write_mnist_like

BENCH = Path(__file__).parent / "bench"
MNIST_NAMES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
QUICK_JUDGE = {"GANZOO_JUDGE_STEPS": "60"}


def _pngs(folder: Path, images: np.ndarray, labels: np.ndarray | None, names: list[str] | None = None) -> Path:
    """Write ``images`` (N, H, W) as PNGs, in one sub-folder per label when labels are given."""
    for i, image in enumerate(images):
        where = folder if labels is None else folder / (names[labels[i]] if names else str(labels[i]))
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(where / f"{i:05d}.png")
    return folder


@pytest.mark.parametrize("layout", ["NHW", "NCHW", "NHWC"])
def test_an_npz_in_any_common_layout_reads_as_the_same_images(tmp_path, layout):
    images, labels = blob_images(2, size=16)
    array = images.numpy()
    stored = {"NHW": array, "NCHW": array[:, None], "NHWC": array[..., None]}[layout]
    np.savez(tmp_path / "x.npz", images=stored, labels=labels.numpy())
    read = read_image_set(tmp_path / "x.npz", progress=False)
    assert read.images.shape == (20, 1, 16, 16) and torch.equal(read.images[:, 0], images)
    assert torch.equal(read.labels_for(MNIST_NAMES), labels)


def test_an_npz_saved_without_names_reads_as_guided_diffusion_writes_it(tmp_path):
    """np.savez(path, images, labels): OpenAI's guided-diffusion samples (NHWC, then labels)."""
    images, labels = blob_images(2, size=16)
    np.savez(tmp_path / "samples_20x16x16x1.npz", images.numpy()[..., None], labels.numpy())
    read = read_image_set(tmp_path / "samples_20x16x16x1.npz", progress=False)
    assert torch.equal(read.images[:, 0], images) and torch.equal(read.labels_for(MNIST_NAMES), labels)
    assert read.label_source() == "the npz's 'arr_1'"
    np.savez(tmp_path / "unlabelled.npz", images.numpy())
    assert read_image_set(tmp_path / "unlabelled.npz", progress=False).labels_for(MNIST_NAMES) is None
    np.savez(tmp_path / "float.npz", images.numpy().astype(np.float32))
    with pytest.raises(DataError, match="'arr_0' is float32, not uint8"):
        read_image_set(tmp_path / "float.npz", progress=False)


def test_a_folder_of_pngs_reads_labels_from_class_names_or_indices(tmp_path):
    images, labels = blob_images(2, size=16)
    by_index = read_image_set(_pngs(tmp_path / "a", images.numpy(), labels.numpy()), progress=False)
    by_name = read_image_set(_pngs(tmp_path / "b", images.numpy(), labels.numpy(), MNIST_NAMES), progress=False)
    flat = read_image_set(_pngs(tmp_path / "c", images.numpy(), None), progress=False)
    for read in (by_index, by_name):
        order = torch.argsort(labels, stable=True)  # sub-folders are read class by class
        assert torch.equal(read.images[:, 0], images[order])
        assert torch.equal(read.labels_for(MNIST_NAMES), labels[order])
    assert flat.labels_for(MNIST_NAMES) is None and torch.equal(flat.images[:, 0], images)


@pytest.mark.parametrize("case, message", [
    ("float images", "is float32, not uint8"),
    ("no images array", "has no 'images' array, nor np.savez's unnamed 'arr_0' (it holds: pictures)"),
    ("wrong shape", "expected (N, H, W)"),
    ("not square", "ganzoo scores square images"),
    ("labels of another length", "'labels' must be 20 integers"),
    ("float labels", "'labels' must be 20 integers"),
    ("label out of range", "label 10 is not a class index"),
    ("pickled objects", "not a readable .npz file"),
    ("random bytes", "is not an .npz file: it does not start as a zip archive"),  # was numpy's "pickled data"
    ("an .npy file", "is an .npy file (one array); save the images with np.savez"),
    ("empty", "holds no images"),
])
def test_a_bad_npz_is_one_clear_error(tmp_path, case, message):
    images, labels = blob_images(2, size=16)
    x, y = images.numpy(), labels.numpy()
    path = tmp_path / "x.npz"
    if case == "float images":
        np.savez(path, images=x.astype(np.float32))
    elif case == "no images array":
        np.savez(path, pictures=x)
    elif case == "wrong shape":
        np.savez(path, images=x[:, None, None])
    elif case == "not square":
        np.savez(path, images=x[:, :, :12])
    elif case == "labels of another length":
        np.savez(path, images=x, labels=y[:5])
    elif case == "float labels":
        np.savez(path, images=x, labels=y.astype(np.float64))
    elif case == "label out of range":
        np.savez(path, images=x, labels=y + 3)
    elif case == "pickled objects":
        np.savez(path, images=np.array([x, "code"], dtype=object))
    elif case == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif case == "an .npy file":
        with open(path, "wb") as file:
            np.save(file, x)
    elif case == "empty":
        np.savez(path, images=x[:0])
    with pytest.raises(DataError) as caught:
        read_image_set(path, progress=False).labels_for(MNIST_NAMES)
    assert message in str(caught.value) and str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert "unsafely" not in str(caught.value)


def test_a_bad_folder_is_one_clear_error(tmp_path):
    images, labels = blob_images(1, size=16)
    folder = _pngs(tmp_path / "f", images.numpy(), labels.numpy())
    (folder / "seven").mkdir()
    Image.fromarray(images[0].numpy()).save(folder / "seven" / "x.png")
    with pytest.raises(DataError, match="sub-folder 'seven' names no class"):
        read_image_set(folder, progress=False).labels_for(MNIST_NAMES)

    mixed = _pngs(tmp_path / "m", images.numpy(), None)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(mixed / "zz.png")
    with pytest.raises(DataError, match="every image must have one size"):
        read_image_set(mixed, progress=False)

    broken = _pngs(tmp_path / "b", images.numpy(), None)
    (broken / "0000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    with pytest.raises(DataError, match="0000.png is not a readable image"):
        read_image_set(broken, progress=False)

    both = _pngs(tmp_path / "both", images.numpy(), labels.numpy())
    Image.fromarray(images[0].numpy()).save(both / "loose.png")
    with pytest.raises(DataError, match="both image files and sub-folders"):
        read_image_set(both, progress=False)

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        read_image_set(tmp_path / "empty", progress=False)
    (tmp_path / "x.png").write_bytes(b"x")
    with pytest.raises(DataError, match="neither an .npz file nor a folder"):
        read_image_set(tmp_path / "x.png", progress=False)


def _evaluate_images(path: Path, data: Path, out: Path, *extra: str):
    return run_cli("evaluate", "--images", str(path), "--dataset", "mnist", "--data-dir", str(data), "--out",
                   str(out), "-q", *extra, env=QUICK_JUDGE)


def test_the_real_test_split_scored_as_images_gets_the_judges_own_numbers(tmp_path):
    data = write_mnist_like(tmp_path / "data")
    test_images, test_labels = blob_images(5, size=28, seed=2)  # write_mnist_like's test split
    np.savez(tmp_path / "real.npz", images=test_images.numpy(), labels=test_labels.numpy())
    result = _evaluate_images(tmp_path / "real.npz", data, tmp_path / "report", "--metrics",
                              "accuracy,classifier-fid,kid")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    m = report["metrics"]
    # balanced classes: the mean per-class accuracy is the judge's accuracy on the same images
    assert m["accuracy"]["mean"] == pytest.approx(report["judge"]["real_test_accuracy_now"], abs=1e-9)
    assert m["classifier_fid"]["value"] == pytest.approx(0.0, abs=1e-3)
    assert report["model"] is None and report["images"]["form"] == "npz" and report["images"]["labelled"]
    assert report["samples"]["n_per_class"] == [5] * 10 and report["samples"]["n_total"] == 50
    assert "images real.npz" in (tmp_path / "report" / "report.md").read_text()


def test_the_reference_loops_own_samples_score_the_same_as_npz_and_as_pngs(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import reference_acgan
    finally:
        sys.path.remove(str(BENCH))
    data = write_mnist_like(tmp_path / "data")
    torch.manual_seed(0)
    generator = reference_acgan.train(str(data), steps=3, batch_size=32).eval()
    labels = torch.arange(10).repeat_interleave(8)
    with torch.no_grad():
        made = generator(torch.randn(len(labels), reference_acgan.LATENT_DIM), labels)
    images = ((made[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    np.savez(tmp_path / "reference.npz", images=images, labels=labels.numpy())
    _pngs(tmp_path / "reference", images, labels.numpy())

    reports = {}
    for name in ("reference.npz", "reference"):
        out = tmp_path / f"report-{name}"
        result = _evaluate_images(tmp_path / name, data, out)
        assert result.returncode == 0, result.stderr
        assert "accuracy mean / min:" in result.stdout
        reports[name] = json.loads((out / "report.json").read_text())
        assert (out / "report.html").is_file()
    npz, pngs = reports["reference.npz"]["metrics"], reports["reference"]["metrics"]
    assert npz["accuracy"]["per_class"] == pngs["accuracy"]["per_class"]
    assert npz["classifier_fid"]["value"] == pytest.approx(pngs["classifier_fid"]["value"], rel=1e-9)
    assert npz["kid"]["value"] == pytest.approx(pngs["kid"]["value"], rel=1e-9)
    assert {"intra_class_fid", "precision_recall", "density_coverage", "classifier_score"} <= set(npz)
    assert reports["reference"]["images"]["form"] == "folder"


def test_ganzoo_samples_written_to_a_folder_or_an_npz_read_back_as_they_were_made(tmp_path, monkeypatch):
    """sample --out DIR / x.npz, then evaluate --images: a conditional model's samples keep
    their classes (in the PNGs' names), grey stays grey, so both forms score alike with the
    run's own judge; an unconditional model's samples carry no labels at all."""
    from conftest import evaluate_images_folder as evaluate_images
    import ganzoo.api as gz
    from ganzoo.train.session import train_run

    monkeypatch.setenv("GANZOO_JUDGE_STEPS", QUICK_JUDGE["GANZOO_JUDGE_STEPS"])
    data = write_mnist_like(tmp_path / "data")
    reports = {}
    for model in ("acgan", "dcgan"):
        run = train_run(model, "mnist", overrides=["max_steps=2", "batch_size=16"], data_dir=data,
                        runs_dir=tmp_path / "runs", device="cpu", progress=False)
        for out in (tmp_path / f"{model}-pngs", tmp_path / f"{model}.npz"):
            gz.load(run, device="cpu").save("all" if model == "acgan" else None, n=4, seed=0, out=out)
            report = evaluate_images(out, dataset="mnist", data_dir=data, out=tmp_path / f"report-{out.name}",
                                     metrics="accuracy,class-distribution,classifier-fid", device="cpu",
                                     progress=False)
            reports[out.name] = json.loads((report / "report.json").read_text())
    names = sorted(p.name for p in (tmp_path / "acgan-pngs").iterdir())
    assert names[0] == "00000_0-zero.png" and names[-1] == "00039_9-nine.png"
    assert Image.open(tmp_path / "acgan-pngs" / names[0]).mode == "L"
    folder, npz = reports["acgan-pngs"], reports["acgan.npz"]
    assert folder["images"]["labelled"] and folder["images"]["labels_from"].startswith("file names NNNNN_CLASS")
    assert folder["images"]["shape"] == npz["images"]["shape"] == [1, 28, 28]
    assert folder["metrics"]["accuracy"]["per_class"] == npz["metrics"]["accuracy"]["per_class"]
    assert folder["metrics"]["classifier_fid"]["value"] == pytest.approx(npz["metrics"]["classifier_fid"]["value"])
    assert "labelled by file names" in (tmp_path / "report-acgan-pngs" / "report.md").read_text()

    assert "labels" not in np.load(tmp_path / "dcgan.npz").files
    assert sorted(p.name for p in (tmp_path / "dcgan-pngs").iterdir())[:2] == ["00000.png", "00001.png"]
    for name in ("dcgan-pngs", "dcgan.npz"):
        assert not reports[name]["images"]["labelled"] and not reports[name]["conditional"], name
        assert "class_distribution" in reports[name]["metrics"] and "accuracy" not in reports[name]["metrics"], name


def test_file_names_label_a_flat_folder_only_when_every_one_names_a_class(tmp_path):
    images, labels = blob_images(1, size=16)
    names = [f"{i:05d}_{MNIST_NAMES[k].replace(' - ', '-')}" for i, k in enumerate(labels.tolist())]
    for i, image in enumerate(images.numpy()):
        Image.fromarray(image).save(tmp_path / f"{names[i]}.png")
    assert torch.equal(read_image_set(tmp_path, progress=False).labels_for(MNIST_NAMES), labels)
    Image.fromarray(images[0].numpy()).save(tmp_path / "00010_eleven.png")
    assert read_image_set(tmp_path, progress=False).labels_for(MNIST_NAMES) is None
    by_slug = _pngs(tmp_path / "slugs", images.numpy(), labels.numpy(), [n.replace(" - ", "-") for n in MNIST_NAMES])
    assert torch.equal(read_image_set(by_slug, progress=False).labels_for(MNIST_NAMES), labels)


@pytest.mark.parametrize("args, code, message", [
    (["--images", "{npz}"], 2, "--images needs --dataset"),
    (["acgan", "--images", "{npz}", "--dataset", "mnist"], 2, "leave out MODEL"),
    (["--images", "{npz}", "--dataset", "mnits"], 2, "mnist"),
    (["--images", "{bad}", "--dataset", "mnist"], 1, "not a readable .npz file"),
    ([], 2, "name the MODEL to evaluate"),
])
def test_the_cli_refuses_bad_image_input_in_one_line(tmp_path, args, code, message):
    images, labels = blob_images(1, size=28)
    np.savez(tmp_path / "x.npz", images=images.numpy())
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04" + b"\0" * 50)
    files = {"npz": tmp_path / "x.npz", "bad": tmp_path / "bad.npz"}
    result = run_cli("evaluate", *[a.format(**files) for a in args], "--out", str(tmp_path / "out"), env=QUICK_JUDGE)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("count", [1, 3])
def test_too_few_images_for_a_metric_are_refused_before_any_work(tmp_path, count):
    """One image: four numpy warnings, then an internal LinAlgError after minutes."""
    images = np.random.default_rng(0).integers(0, 256, (count, 28, 28, 1), dtype=np.uint8)
    np.savez(tmp_path / "few.npz", images=images, labels=np.arange(count))
    result = run_cli("evaluate", "--images", str(tmp_path / "few.npz"), "--dataset", "mnist",
                     "--data-dir", str(tmp_path / "no-data-needed"), "--out", str(tmp_path / "report"), timeout=120)
    counted = "1 image is" if count == 1 else f"{count} images are"
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"{counted} too few: " in result.stderr and "precision-recall needs 4" in result.stderr
    assert ("classifier-fid needs 2" in result.stderr) == (count < 2) and "Warning" not in result.stderr
    assert not (tmp_path / "report").exists()


def test_a_runs_evaluation_counts_its_images_the_same_way():
    """A run's evaluation makes --n images per class: with one class and --n 1, the
    metrics that need more are refused before any image is made."""
    from ganzoo.errors import UsageError
    from ganzoo.evaluate.run import check_counts, parse_metrics

    with pytest.raises(UsageError, match=r"^1 image is too few: classifier-fid needs 2, .*inception-fid needs 2"):
        check_counts(parse_metrics(None), 1 * 1)
    check_counts(parse_metrics(None), 1 * 10)  # MNIST's ten classes, --n 1: enough for every metric
    check_counts(parse_metrics("accuracy,cas"), 1)
