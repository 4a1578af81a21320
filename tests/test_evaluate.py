"""The shared evaluator: Fréchet distance, the judge, Inception FID through pytorch-fid,
and the reports."""

import json
import re

import numpy as np
import pytest
import torch

from ganzoo.data import ImageData
from ganzoo.errors import DataError, UsageError
from ganzoo.evaluate import builtin_metrics
from ganzoo.evaluate import classifier as clf
from ganzoo.evaluate import inception
from ganzoo.evaluate.metrics import class_accuracy, frechet_between, frechet_distance
from ganzoo.train.session import train_run

from conftest import blob_images, run_cli


def test_frechet_distance_of_two_known_gaussians():
    # N(0, I) vs N(m, s^2 I) in d dimensions: |m|^2 + d (1 - s)^2
    d, m, s = 6, np.full(6, 0.5), 3.0
    expected = float(m @ m) + d * (1 - s) ** 2
    assert frechet_distance(np.zeros(d), np.eye(d), m, s**2 * np.eye(d)) == pytest.approx(expected, rel=1e-9)


def test_identical_sets_give_about_zero_and_a_shift_gives_more():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    assert frechet_between(a, a) == pytest.approx(0.0, abs=1e-6)
    near = frechet_between(a, b)
    assert near < 0.05
    assert frechet_between(a, b + 1.0) > 7.5 > near  # |shift|^2 = 8


def test_class_accuracy_and_confusion():
    wanted = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    acc = class_accuracy(predicted, wanted, 3)
    assert acc["per_class"] == [0.5, 1.0, 0.5] and acc["min"] == 0.5
    assert acc["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def _blobs(n_per_class, seed, size=16):
    images, labels = blob_images(n_per_class, size=size, seed=seed)
    return ImageData("blobs", images.unsqueeze(1), labels, [f"cell {k}" for k in range(10)])


def test_the_judge_learns_a_synthetic_set_and_is_cached(monkeypatch):
    train, test = _blobs(40, seed=0), _blobs(10, seed=5)
    judge = clf.get_judge(train, test, torch.device("cpu"), steps=120, progress=False)
    assert judge.trained_now and judge.test_accuracy >= 0.97
    assert judge.path is not None and judge.path.is_file()

    def must_not_train(*args, **kwargs):
        raise AssertionError("the cached judge was not used")

    monkeypatch.setattr(clf, "train_classifier", must_not_train)
    again = clf.get_judge(train, test, torch.device("cpu"), steps=120, progress=False)
    assert not again.trained_now and again.test_accuracy == judge.test_accuracy


def _stand_in_inception_weights():
    """pytorch-fid's FID Inception architecture with random weights, saved where
    pytorch-fid (torch.hub) looks for its downloaded file."""
    from pytorch_fid import inception as fid

    model = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    model.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    model.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    model.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    model.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    model.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    model.Mixed_7b = fid.FIDInceptionE_1(1280)
    model.Mixed_7c = fid.FIDInceptionE_2(2048)
    path = inception.weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 28x28 MNIST-format data set and a short ACGAN run on it."""
    from conftest import write_idx

    base = tmp_path_factory.mktemp("eval")
    data = base / "data"
    train_images, train_labels = blob_images(20, size=28, seed=1)
    test_images, test_labels = blob_images(6, size=28, seed=2)
    write_idx(data / "MNIST" / "raw", "train", train_images, train_labels)
    write_idx(data / "MNIST" / "raw", "t10k", test_images, test_labels)
    run = train_run("acgan", "mnist", overrides=["max_steps=6", "batch_size=16", "log_every=2"], data_dir=data,
                    runs_dir=base / "runs", device="cpu", progress=False)
    return run, data, base


def _evaluate(run, data, out, *extra, env=None):
    return run_cli("evaluate", "acgan", "--run", str(run), "--data-dir", str(data), "--out", str(out), "--n", "20",
                   "--quiet", *extra, env={"GANZOO_JUDGE_STEPS": "60", **(env or {})})


OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}


def test_report_files_with_inline_images_and_inception_unavailable_offline(tiny_run, tmp_path, isolated_home):
    run, data, _ = tiny_run
    out = tmp_path / "report"
    result = _evaluate(run, data, out, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert "Inception FID unavailable" in result.stderr
    assert "Downloading" not in result.stderr  # no announcement of a download that cannot happen
    report = json.loads((out / "report.json").read_text())
    m = report["metrics"]
    weights = str(inception.weights_path()).replace(str(isolated_home), "")
    assert m["inception_fid"]["status"] == "unavailable" and m["inception_fid"]["value"] is None
    assert "put it at" in m["inception_fid"]["reason"] and weights in m["inception_fid"]["reason"]
    assert 0.0 <= report["judge"]["test_accuracy"] <= 1.0
    assert len(m["accuracy"]["per_class"]) == 10 and len(m["accuracy"]["confusion"]) == 10
    assert m["classifier_fid"]["value"] >= 0 and m["classifier_fid"]["floor"] >= 0
    assert len(m["intra_class_fid"]["per_class"]) == 10
    assert report["step"] == 6 and report["samples"]["n_total"] == 200
    assert {"torch", "pytorch-fid"} <= set(report["packages"]) and report["wall_time_s"] > 0
    # every number names its protocol: code, features and their weights, resize, N, split, seed
    judge_sha = report["judge"]["sha256"]
    assert len(judge_sha) == 64 and report["judge"]["source"] == "trained on this machine"
    for key in ("classifier_fid", "intra_class_fid", "accuracy", "kid", "precision_recall", "density_coverage"):
        made = m[key]["provenance"]
        assert made["weights_sha256"] == judge_sha and made["n_generated"] == 200 and made["n_real"] == 60, key
        assert made["real_split"]["sha256"] == report["real_split"]["sha256"] and made["seed"] == 0, key
        assert made["resize"] == "none: images at their own size (1x28x28)", key
    assert m["kid"]["provenance"]["implementation"].endswith("ganzoo.evaluate.set_metrics.kid")
    assert m["cas"]["provenance"]["n_generated"] == 200 and "weights_sha256" not in m["cas"]["provenance"]
    # the CAS classifier trained on this machine's fast path, and says which
    assert m["cas"]["precision"] in ("fp32", "bf16") and m["cas"]["channels_last"] is True
    # 6 real images of a class (60 in all) cannot fill a 128-d covariance, and nearest-neighbour metrics depend on N
    assert any(w.startswith("intra-class FID from as few as 6 images") for w in report["warnings"]), report["warnings"]
    assert any(w.startswith("precision / recall from 60 images per set") for w in report["warnings"])
    assert any(w.startswith("classifier FID from 60 images of one set") for w in report["warnings"])

    page = (out / "report.html").read_text()
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)  # + the latent walk
    assert 'alt="latent interpolation"' in page
    assert not re.search(r'(src|href)="(?!data:)', page) and "<link" not in page and "<script" not in page
    assert "EvalClassifier" in page and "unavailable" in page
    assert "# Evaluation of acgan" in (out / "report.md").read_text()

    again = _evaluate(run, data, out, "--metrics", "accuracy", env=OFFLINE)
    assert again.returncode == 2 and "already holds a report; pass --force" in again.stderr
    forced = _evaluate(run, data, out, "--metrics", "accuracy,classifier-fid", "--force", env=OFFLINE)
    assert forced.returncode == 0, forced.stderr
    assert set(json.loads((out / "report.json").read_text())["metrics"]) == {"accuracy", "classifier_fid"}


def test_inception_fid_through_pytorch_fid_with_stand_in_weights(tiny_run, tmp_path, monkeypatch):
    from conftest import evaluate_folder as evaluate

    run, data, _ = tiny_run
    _stand_in_inception_weights()
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "60")
    calls = {"n": 0}
    original = inception.inception_features

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(inception, "inception_features", counted)  # the real images' features
    monkeypatch.setattr(builtin_metrics, "inception_features", counted)  # the generated ones'
    first = evaluate("acgan", run=run, data_dir=data, n_per_class=4, fid_n=40, out=tmp_path / "a",
                     metrics="inception-fid,inception-score,inception-kid,inception-precision-recall,"
                     "inception-density-coverage", device="cpu", progress=False)
    metrics = json.loads((first / "report.json").read_text())["metrics"]
    entry = metrics["inception_fid"]
    assert entry["status"] == "ok" and entry["value"] > 0 and not entry["reference_stats_cached"]
    assert calls["n"] == 2  # the real test images, then the generated ones (shared by all five metrics)
    score = metrics["inception_score"]
    assert score["status"] == "ok" and 1.0 <= score["value"] <= 1008 and score["splits"] == 10
    assert metrics["inception_kid"]["status"] == "ok" and metrics["inception_kid"]["subset_size"] == 40
    assert 0 <= metrics["inception_precision_recall"]["recall"] <= 1
    assert metrics["inception_density_coverage"]["provenance"]["feature_extractor"].startswith("pytorch-fid")
    with np.load(entry["reference_stats"]) as stats:  # pytorch-fid's own .npz layout
        assert stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
        real = np.load(str(entry["reference_stats"]).replace("-inception.npz", "-inception-features.npy"))
        assert real.shape == (60, 2048)  # the real features are cached beside the statistics
        np.testing.assert_allclose(stats["mu"], real.astype(np.float64).mean(0), rtol=1e-4, atol=1e-5)

    second = evaluate("acgan", run=run, data_dir=data, n_per_class=4, fid_n=40, out=tmp_path / "b",
                      metrics="inception-fid,inception-kid", device="cpu", progress=False)
    again = json.loads((second / "report.json").read_text())["metrics"]
    assert calls["n"] == 3  # the real statistics and features came from the cache: only the generated images
    assert again["inception_fid"]["reference_stats_cached"]
    assert again["inception_fid"]["value"] == pytest.approx(entry["value"], rel=1e-6)
    assert again["inception_kid"]["value"] == pytest.approx(metrics["inception_kid"]["value"], rel=1e-6)


def test_the_inception_score_uses_the_weights_files_own_final_layer():
    path = _stand_in_inception_weights()
    state = torch.load(path, weights_only=True)
    features = np.random.default_rng(0).random((5, 2048))
    expected = torch.from_numpy(features) @ state["fc.weight"].double().T + state["fc.bias"].double()
    torch.testing.assert_close(inception.logits_of(features), expected)
    torch.save({k: v for k, v in state.items() if not k.startswith("fc.")}, path)
    with pytest.raises(inception.InceptionUnavailable, match="no readable final layer"):
        inception.logits_of(features)


def test_bad_metric_name_is_a_usage_error(tiny_run, tmp_path):
    run, data, _ = tiny_run
    result = _evaluate(run, data, tmp_path / "x", "--metrics", "acuracy")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ganzoo: error: unknown metric 'acuracy'; did you mean 'accuracy'? "
        "(metrics: classifier-fid, intra-fid, accuracy, class-distribution, kid, precision-recall, density-coverage, "
        "classifier-score, cas, inception-fid, inception-kid, inception-precision-recall, inception-density-coverage, "
        "inception-score)"
    ]


def test_the_metrics_compare_against_the_training_split_when_asked(tiny_run, tmp_path):
    """--real-split train: every metric against the 200 training images (as papers' CIFAR-10
    FIDs are), while the judge's accuracy and CAS stay on the 60 test images."""
    run, data, base = tiny_run
    quick = ("--metrics", "accuracy,classifier-fid,intra-fid,cas,classifier-score", "--json")
    on_test = _evaluate(run, data, tmp_path / "test", *quick, env=OFFLINE)
    on_train = _evaluate(run, data, tmp_path / "train", *quick, "--real-split", "train", env=OFFLINE)
    assert on_test.returncode == 0 and on_train.returncode == 0, on_test.stderr + on_train.stderr
    a, b = json.loads(on_test.stdout), json.loads(on_train.stdout)
    assert (a["real_split"]["split"], a["real_split"]["images"]) == ("test", 60)
    assert (b["real_split"]["split"], b["real_split"]["images"]) == ("train", 200)
    ma, mb = a["metrics"], b["metrics"]
    assert mb["classifier_fid"]["provenance"]["n_real"] == 200 and ma["classifier_fid"]["provenance"]["n_real"] == 60
    assert mb["classifier_fid"]["sets"] == "200 generated vs 200 real training images"
    assert mb["classifier_fid"]["value"] != pytest.approx(ma["classifier_fid"]["value"], rel=1e-3)
    assert mb["classifier_fid"]["floor"] == pytest.approx(ma["classifier_fid"]["floor"], rel=1e-3)  # train vs test
    # the judge is tested where it always is, and CAS too
    assert b["judge"]["tested_on"] == a["judge"]["tested_on"] == "test"
    assert b["judge"]["real_test_accuracy_now"] == a["judge"]["real_test_accuracy_now"]
    assert mb["cas"]["value"] == pytest.approx(ma["cas"]["value"], abs=1e-9)
    assert mb["classifier_score"]["real_test_split"] == pytest.approx(ma["classifier_score"]["real_test_split"])
    assert any("which the judge learnt from" in w for w in b["warnings"]) and not any(
        "judge learnt" in w for w in a["warnings"])
    text = (tmp_path / "train" / "report.md").read_text()
    assert "its own accuracy on the real test split" in text and "the training split in" in text

    summary = _evaluate(run, data, tmp_path / "train", "--metrics", "accuracy", "--real-split", "train", "--force")
    assert "compared against: the real training split (200 images)" in summary.stdout, summary.stdout
    refused = _evaluate(run, data, tmp_path / "other", "--real-split", "valid")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "ganzoo: error: --real-split must be test or train, got 'valid'"]
    assert not (tmp_path / "other").exists()
    board = run_cli("leaderboard", "--recipe", "mnist", "--runs-dir", str(base / "runs"), "--data-dir", str(data),
                    "--out", str(tmp_path / "board"), "--n", "10", "-q", "--metrics", "classifier-fid",
                    "--real-split", "train", env={"GANZOO_JUDGE_STEPS": "60"})
    assert board.returncode == 0, board.stderr
    made = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert made["real_split"]["split"] == "train" and made["judge"]["tested_on"] == "test"
    assert "against the real training split" in (tmp_path / "board" / "leaderboard.md").read_text()


def test_eval_every_logs_metrics_and_keeps_the_best_checkpoint(tiny_run, monkeypatch):
    from ganzoo.runs.checkpoint import load_checkpoint

    _, data, base = tiny_run
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "60")
    run = train_run("acgan", "mnist", overrides=["max_steps=6", "batch_size=16", "eval_every=3", "eval_samples=10"],
                    data_dir=data, runs_dir=base / "runs-eval", device="cpu", progress=False)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "eval" in line]
    assert [e["step"] for e in evals] == [3, 6]
    assert all(e["eval"]["classifier_fid"] >= 0 and 0 <= e["eval"]["accuracy_mean"] <= 1 for e in evals)
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    fids = {e["step"]: e["eval"]["classifier_fid"] for e in evals}
    assert best["best"]["step"] == min(fids, key=fids.get)
    assert best["best"]["classifier_fid"] == pytest.approx(min(fids.values()))


def test_images_of_ones_own_without_a_test_split_are_judged_against_a_held_out_tenth(tmp_path, monkeypatch):
    """An image folder with no test/ trains as it is; eval_every and evaluate hold out every
    10th image of each class, train the judge on the rest, and the report says so."""
    from PIL import Image

    from ganzoo.tables import summary_lines
    from conftest import evaluate_folder as evaluate

    images, labels = blob_images(20, size=28, seed=1)
    data = tmp_path / "blobs"
    for i, (image, label) in enumerate(zip(images, labels.tolist())):
        (data / f"blob{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.numpy()).save(data / f"blob{label}" / f"{i:03d}.png")
    recipe = tmp_path / "blobs.yaml"
    recipe.write_text("dataset: imagefolder\nimage_size: 28\nchannels: 1\nepochs: 1\nbatch_size: 16\n")
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "60")
    run = train_run("acgan", str(recipe), overrides=["max_steps=4", "eval_every=4", "eval_samples=5"], data_dir=data,
                    runs_dir=tmp_path / "runs", device="cpu", progress=False)
    evals = [json.loads(line)["eval"] for line in (run / "metrics.jsonl").read_text().splitlines() if "eval" in line]
    assert len(evals) == 1 and evals[0]["classifier_fid"] >= 0 and 0 <= evals[0]["accuracy_mean"] <= 1
    out = evaluate("acgan", run=run, n_per_class=10, metrics="accuracy,classifier-fid", out=tmp_path / "report",
                   device="cpu", progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["real_split"]["split"] == "held-out tenth of train" and report["real_split"]["images"] == 20
    assert report["metrics"]["classifier_fid"]["provenance"]["real_split"] == report["real_split"]
    assert report["class_names"] == [f"blob{k}" for k in range(10)]
    text = (out / "report.md").read_text()
    assert "every 10th image of each class" in text and "the generator trained on them, the judge did not" in text
    assert "held-out real images" in (out / "report.html").read_text()
    first_line = summary_lines(json.loads((out / "report.json").read_text()))[0]
    assert first_line.startswith("judge accuracy on held-out real images: ")
    other = tmp_path / "other"
    for name in ("cat", "dog"):
        (other / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(images[i].numpy()).save(other / name / f"{i}.png")
    with pytest.raises(UsageError, match=r"classes in .*other \(cat, dog\) differ from those .* trained on "
                                         r"\(blob0, blob1, blob2, blob3, blob4, \.\.\. \(10 in all\)\)"):
        evaluate("acgan", run=run, data_dir=other, n_per_class=10, out=tmp_path / "r2", device="cpu", progress=False)


def test_data_of_one_class_have_no_judge_and_are_scored_by_inceptions_metrics(tmp_path, monkeypatch):
    """A flat folder of pictures is one class: no judge is trained (a classifier could learn
    nothing), the judge's metrics are left out and the report says why, Inception's are
    computed; eval_every is refused before any run folder exists; the leaderboard ranks by
    Inception FID."""
    from PIL import Image

    from ganzoo.tables import summary_lines
    from conftest import leaderboard_folder as leaderboard
    from conftest import evaluate_folder as evaluate

    images, _ = blob_images(6, size=28, seed=1)
    data = tmp_path / "faces"
    data.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image.numpy()).save(data / f"{i:03d}.png")
    recipe = tmp_path / "faces.yaml"
    recipe.write_text("dataset: imagefolder\nimage_size: 28\nchannels: 1\nepochs: 1\nbatch_size: 8\n")
    runs = tmp_path / "runs"
    refused = run_cli("train", "dcgan", "--recipe", str(recipe), "--data-dir", str(data), "--runs-dir", str(runs),
                      "--set", "eval_every=2")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "eval_every scores with the judge, and the data have one class" in refused.stderr
    assert not runs.exists() or not any(runs.iterdir())
    run = train_run("dcgan", str(recipe), overrides=["max_steps=2"], data_dir=data, runs_dir=runs, device="cpu",
                    progress=False)

    _stand_in_inception_weights()
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("a judge of one class was trained"))
    out = evaluate("dcgan", run=run, n_per_class=20, fid_n=20, out=tmp_path / "report", device="cpu", progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["judge"] is None and report["judge_unavailable"].startswith("the data have one class")
    assert set(report["metrics"]) == {"inception_fid", "inception_kid", "inception_precision_recall",
                                      "inception_density_coverage", "inception_score"}
    assert report["metrics"]["inception_fid"]["status"] == "ok" and report["metrics"]["inception_fid"]["value"] >= 0
    assert report["class_names"] == ["faces"] and report["real_split"]["images"] == 6  # every 10th of 60
    assert "- judge: none (the data have one class" in (out / "report.md").read_text()
    assert "(1 class)" in (out / "report.md").read_text()
    assert "<b>Judge:</b> none (the data have one class" in (out / "report.html").read_text()
    first_line = summary_lines(json.loads((out / "report.json").read_text()))[0]
    assert first_line.startswith("judge: none (the data have one class")

    board_folder = leaderboard("faces", runs_dir=runs, n_per_class=20, fid_n=20, device="cpu", progress=False)
    board = json.loads((board_folder / "leaderboard.json").read_text())
    assert board["judge"] is None and board["ranked_by"]["metric"] == "inception-fid"
    assert board["classifier_fid_floor"] is None and "No judge: the data have one class" in (
        board_folder / "leaderboard.md").read_text()
    with pytest.raises(UsageError, match="--rank-by 'kid' needs the judge, and the data have one class"):
        leaderboard("faces", runs_dir=runs, out=tmp_path / "board", rank_by="kid", device="cpu", progress=False)
    with pytest.raises(DataError, match="the data have one class"):  # the judge itself refuses, whoever asks
        clf.get_judge(*(ImageData("faces", images[:, None], torch.zeros(60, dtype=torch.long), ["faces"]),) * 2,
                      torch.device("cpu"))


def test_sigterm_outside_training_is_one_line_and_exit_143(tiny_run, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run, data, _ = tiny_run
    log = tmp_path / "stderr.txt"
    env = {**os.environ, "GANZOO_JUDGE_STEPS": "1000000"}  # a judge that would train for hours
    with open(log, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ganzoo", "evaluate", "acgan", "--run", str(run), "--data-dir", str(data),
             "--out", str(tmp_path / "r"), "--n", "10"], env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 120
        while "training the evaluation classifier" not in log.read_text() and time.time() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
    lines = log.read_text().splitlines()
    assert lines.count("ganzoo: error: terminated") == 1 and "Traceback" not in log.read_text()
    assert not (tmp_path / "r").exists()


def test_quiet_mode_still_says_what_a_long_pass_waits_for(capsys):
    import time

    from ganzoo.waiting import said_if_slow

    with said_if_slow("training the evaluation classifier (2,000 steps)", quiet=True, after=0.05):
        time.sleep(0.3)
    with said_if_slow("a quick pass", quiet=True, after=0.5):
        pass
    with said_if_slow("a pass with its own progress bar", quiet=False, after=0.0):
        time.sleep(0.1)
    assert capsys.readouterr().err == "ganzoo: training the evaluation classifier (2,000 steps) ...\n"
