"""Shared fixtures: small data sets made by the tests themselves, and an isolated home."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import pytest


def xdist_workers() -> int:
    """How many pytest-xdist workers run the suite (0: not run by xdist)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))


def threads_per_worker() -> int:
    """Each worker's share of the CPU cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, xdist_workers()))


def _share_the_cores() -> None:
    """Under pytest-xdist (``make test`` runs one worker per core) each worker and the
    ganzoo processes it starts get ``cores / workers`` CPU threads: two-thread processes
    sharing two cores slow each other several-fold (docs/performance.md, 'Several
    trainings on one 2-core machine'), one-thread ones do not."""
    if xdist_workers() > 1:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads_per_worker())


_share_the_cores()  # before torch starts its thread pool

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

# The files whose tests train for minutes, longest first (seconds of test time on the AMX
# Xeon at one thread per worker, 2026-11-29: 284, 164, 149, 121, 83, 80, 75, 70, 65, 61).
# `make test` hands whole files to its worker processes in collection order (--dist
# loadfile --no-loadscope-reorder): starting the longest ones first keeps one worker from
# being handed a long file while the other runs out of work (the longest-first rule).
LONG_FILES = ("test_custom_step.py", "test_acgan_family.py", "test_zoo.py", "test_evaluate.py", "test_run_data.py",
              "test_behaviour.py", "test_distributed.py", "test_learning.py", "test_signals.py", "test_ecosystem.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))  # stable: a file keeps its order


def pytest_configure(config):
    """A worker of the parallel suite counts as one of the CPU jobs ganzoo's own trainings
    and evaluations share the cores with (ganzoo.cores.counted): a training started
    beside `make test` takes its share instead of spinning two threads against the
    workers'."""
    if xdist_workers() > 1 and os.environ.get("PYTEST_XDIST_WORKER"):
        from contextlib import ExitStack

        from ganzoo.cores import counted

        config._ganzoo_counted = ExitStack()
        config._ganzoo_counted.enter_context(counted())


def pytest_unconfigure(config):
    stack = getattr(config, "_ganzoo_counted", None)
    if stack is not None:
        stack.close()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Caches, runs and data roots of every test live in a temporary folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("GANZOO_RUNS_DIR", str(home / "runs"))
    monkeypatch.delenv("GANZOO_DATA_DIR", raising=False)
    monkeypatch.delenv("GANZOO_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("GANZOO_DEVICE", "cpu")
    yield home


@pytest.fixture
def fresh_plugins():
    """A plugin host loaded anew for this test, and again after it."""
    from ganzoo import plugins

    host = plugins.reload()
    yield host
    plugins.forget()  # the next use loads again, after this test's environment is undone


def write_idx(raw: Path, prefix: str, images: torch.Tensor, labels: torch.Tensor, compress: bool = False) -> None:
    """Write images (N, H, W) uint8 and labels (N,) as IDX files, as MNIST ships them."""
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    image_bytes = struct.pack(">IIII", 0x00000803, n, h, w) + images.numpy().tobytes()
    label_bytes = struct.pack(">II", 0x00000801, n) + labels.to(torch.uint8).numpy().tobytes()
    for name, payload in ((f"{prefix}-images-idx3-ubyte", image_bytes), (f"{prefix}-labels-idx1-ubyte", label_bytes)):
        if compress:
            with gzip.open(raw / f"{name}.gz", "wb") as f:
                f.write(payload)
        else:
            (raw / name).write_bytes(payload)


def blob_images(n_per_class: int, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A 10-class image set: class k lights cell k of a 4x4 grid on a black background.

    The brightness of the cell varies from image to image. uint8 images (N, size, size)
    and labels (N,).
    """
    g = torch.Generator().manual_seed(seed)
    cell = size // 4
    labels = torch.arange(10).repeat(n_per_class)
    images = torch.zeros(len(labels), size, size, dtype=torch.uint8)
    brightness = torch.randint(200, 256, (len(labels),), generator=g, dtype=torch.uint8)
    for i, k in enumerate(labels.tolist()):
        row, col = divmod(k, 4)
        images[i, row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = brightness[i]
    return images, labels


@pytest.fixture
def mnist_like_root(tmp_path) -> Path:
    """A data root holding a small MNIST-format data set (28x28, 10 classes) in raw IDX files."""
    return write_mnist_like(tmp_path / "data")


def write_mnist_like(root: Path, per_class: int = 20, size: int = 28) -> Path:
    """Write a blob data set in MNIST's files under ``root``: ``per_class`` training and 5
    test images per class (``mnist_like_root``'s: 20, 28x28)."""
    train_images, train_labels = blob_images(per_class, size=size, seed=1)
    test_images, test_labels = blob_images(5, size=size, seed=2)
    raw = root / "MNIST" / "raw"
    write_idx(raw, "train", train_images, train_labels)
    write_idx(raw, "t10k", test_images, test_labels)
    return root


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    """Run ``python -m ganzoo ARGS`` in a subprocess with this test's environment."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ganzoo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def build_wheel(pyproject: str, files: dict[str, str], folder: Path) -> Path:
    """A wheel of a plugin distribution: its name, version and ``ganzoo`` entry points
    from the text of its pyproject.toml, ``files`` (path in the wheel -> text) as its
    contents. Built by hand, so that no build backend needs to be downloaded."""
    import base64
    import csv
    import hashlib
    import io
    import tomllib
    import zipfile

    project = tomllib.loads(pyproject)["project"]
    name, version = project["name"], project["version"]
    dist = f"{name.replace('-', '_')}-{version}"
    entry_points = "[ganzoo]\n" + "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["ganzoo"].items())
    contents = dict(files)
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


def pip_install(pyproject: str, files: dict[str, str], folder: Path) -> Path:
    """pip-install a plugin distribution into ``folder/site`` (offline, no dependencies);
    put that folder on PYTHONPATH to use it."""
    import subprocess

    wheel = build_wheel(pyproject, files, folder)
    site = folder / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    return site


def headless_chromium(window: str = "1280,1000"):
    """A selenium driver of headless Chromium, or a skip with the reason: the browser tests
    need Debian's chromium and chromium-driver (.ci/run installs them where it can) and
    selenium (the [test] extra)."""
    import shutil

    import pytest

    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
                   None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no headless Chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the [test] extra) is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def evaluate_folder(model: str, **keywords) -> Path:
    """``ganzoo.api.evaluate``'s report folder."""
    import ganzoo.api as gz

    return Path(gz.evaluate(model, **keywords)["folder"])


def leaderboard_folder(recipe: str, **keywords) -> Path:
    """``ganzoo.api.leaderboard``'s folder."""
    import ganzoo.api as gz

    return Path(gz.leaderboard(recipe, **keywords)["folder"])


def evaluate_images_folder(images: Path, **keywords) -> Path:
    """``ganzoo.api.evaluate_images``'s report folder."""
    import ganzoo.api as gz

    return Path(gz.evaluate_images(images, **keywords)["folder"])
