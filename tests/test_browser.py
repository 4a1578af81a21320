"""The evaluation report and the leaderboard, opened in a real headless Chromium: every
image decodes and the tables show the numbers of report.json / leaderboard.json.

Needs Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``;
``.ci/run`` installs them where it runs as root with apt) and selenium (the ``[test]``
extra); skips with the reason elsewhere. Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from ganzoo.train.session import train_run

from conftest import headless_chromium, write_mnist_like

@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


IMAGES_JS = """return Array.from(document.images).map(
    i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));"""
TABLES_JS = """return Array.from(document.querySelectorAll('table')).map(
    t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim())));"""


def opened(driver, page, screenshots):
    """(images as the browser decoded them, tables as rendered text) of ``page``."""
    driver.get(page.as_uri())
    images, tables = driver.execute_script(IMAGES_JS), driver.execute_script(TABLES_JS)
    driver.save_screenshot(str(screenshots / f"{page.parent.name}-{page.stem}.png"))
    return images, tables


def undecoded(images):
    return [image["alt"] for image in images if not (image["complete"] and image["width"] > 0 and image["height"] > 0)]


def row_of(tables, first_cell):
    return next(row for table in tables for row in table if row and row[0] == first_cell)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs (acgan, dcgan) on a blob data set, and the data."""
    base = tmp_path_factory.mktemp("browser")
    data = write_mnist_like(base / "data", per_class=6)
    for model in ("acgan", "dcgan"):
        train_run(model, "mnist", overrides=["max_steps=3", "batch_size=16", "log_every=1"], data_dir=data,
                  runs_dir=base / "runs", device="cpu", progress=False)
    return base, data


def test_the_report_renders_every_image_and_the_numbers_of_report_json(runs, tmp_path, browser, monkeypatch):
    from conftest import evaluate_folder as evaluate

    base, data = runs
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "30")
    folder = evaluate("acgan", runs_dir=base / "runs", data_dir=data, n_per_class=12, out=tmp_path / "report",
                      device="cpu", progress=False)
    report = json.loads((folder / "report.json").read_text())
    images, tables = opened(browser, folder / "report.html", tmp_path)
    assert [image["alt"] for image in images] == ["sample grid", "latent interpolation", "confusion matrix",
                                                  "loss curves"]
    assert undecoded(images) == []
    for row in report["summary"]:  # the Metrics table: one row per metric, its cell as report.json says
        assert row_of(tables, row["label"])[1] == row["summary"], row["label"]
    accuracy = report["metrics"]["accuracy"]
    for k, name in enumerate(report["class_names"]):
        assert row_of(tables, name)[1] == f"{accuracy['per_class'][k]:.2%}"
    assert row_of(tables, "Classifier FID")[1] == f"{report['metrics']['classifier_fid']['value']:.2f}"

    # the mutation: one image's bytes damaged; the browser must see it, and this check with it
    page = (folder / "report.html").read_text()
    first = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    raw = bytearray(base64.b64decode(first.group(1)))
    raw[40:80] = b"\x00" * 40  # inside the IHDR/IDAT chunks: the PNG no longer decodes
    damaged = tmp_path / "damaged" / "report.html"
    damaged.parent.mkdir()
    damaged.write_text(page.replace(first.group(1), base64.b64encode(bytes(raw)).decode(), 1))
    images, _ = opened(browser, damaged, tmp_path)
    assert undecoded(images) == ["sample grid"]


def test_the_leaderboard_renders_every_grid_and_the_numbers_of_leaderboard_json(runs, tmp_path, browser, monkeypatch):
    from conftest import leaderboard_folder as leaderboard

    base, data = runs
    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "30")
    folder = leaderboard("mnist", runs_dir=base / "runs", out=tmp_path / "board", data_dir=data, n_per_class=6,
                         device="cpu", progress=False, metrics="classifier-fid,accuracy,class-distribution,kid")
    board = json.loads((folder / "leaderboard.json").read_text())
    images, tables = opened(browser, folder / "leaderboard.html", tmp_path)
    assert sorted(image["alt"] for image in images) == ["acgan samples", "dcgan samples"]
    assert undecoded(images) == []
    labels = [column["label"] for column in board["columns"]]
    for rank, row in enumerate(board["rows"], start=1):
        shown = row_of(tables, str(rank))
        assert shown[1] == row["model"]
        for label, column in zip(labels, board["columns"]):
            cell = shown[2 + labels.index(label)]
            expected = row["metrics"][column["metric"]]["summary"] if column["metric"] in row["metrics"] else "n/a"
            assert cell == expected, (row["model"], label)
