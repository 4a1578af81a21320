"""ganzoo's own grids, PNGs and IDX reader give what torchvision's gave (torchvision is
the oracle here), and the everyday commands no longer import torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image
from torchvision import datasets
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid, save_image

from ganzoo.grids import save_png, tile, to_pil

from conftest import SHARED_DATASETS, write_mnist_like

SHAPES = [(1, 1, 28, 28), (7, 1, 28, 28), (10, 3, 16, 16), (23, 1, 8, 12), (4, 3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nrow,padding,pad_value", [(8, 2, 0.0), (10, 2, 1.0), (3, 0, 0.5), (1, 4, 0.0)])
def test_tile_lays_out_as_make_grid(shape, nrow, padding, pad_value):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    expected = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    assert torch.equal(tile(images, nrow=nrow, padding=padding, pad_value=pad_value), expected)
    as_bytes = (images * 255).to(torch.uint8)
    assert torch.equal(tile(as_bytes, nrow=nrow, padding=padding, pad_value=255),
                       make_grid(as_bytes, nrow=nrow, padding=padding, pad_value=255))


def test_a_single_picture_and_a_2d_one_are_tiled_as_make_grid_tiles_them():
    picture = torch.rand(1, 12, 9)
    assert torch.equal(tile(picture), make_grid(picture))
    assert torch.equal(tile(picture[0]), make_grid(picture[0]))


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG")])
def test_save_png_writes_the_bytes_save_image_wrote(tmp_path, suffix, fmt):
    images = torch.randint(0, 256, (12, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    ours, theirs = tmp_path / f"ours{suffix}", tmp_path / f"theirs{suffix}"
    save_png(images, ours, nrow=10, padding=2, format=fmt)  # uint8 straight in
    save_image(images.float() / 255.0, theirs, nrow=10, padding=2, format=fmt)  # the way ganzoo called it
    assert ours.read_bytes() == theirs.read_bytes()
    floats = torch.rand(5, 3, 16, 16)
    save_png(floats, ours, nrow=4, format=fmt)
    save_image(floats, theirs, nrow=4, format=fmt)
    assert ours.read_bytes() == theirs.read_bytes()


def test_to_pil_makes_the_image_to_pil_image_made():
    grey = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    colour = torch.randint(0, 256, (3, 20, 24), dtype=torch.uint8)
    for picture in (grey, colour):
        ours, theirs = to_pil(picture), to_pil_image(picture)
        assert ours.mode == theirs.mode and ours.size == theirs.size
        assert ours.tobytes() == theirs.tobytes()
    assert isinstance(to_pil(grey), Image.Image) and to_pil(grey).mode == "L"


def _same_as_torchvision(root, cls, name):
    from ganzoo.data import load_dataset

    for train in (True, False):
        ours = load_dataset(name, root, train=train)
        theirs = cls(str(root), train=train, download=False)
        assert torch.equal(ours.images[:, 0], theirs.data)
        assert torch.equal(ours.labels, theirs.targets)
        assert ours.class_names == list(theirs.classes)


def test_the_idx_reader_reads_what_torchvision_reads(tmp_path):
    _same_as_torchvision(write_mnist_like(tmp_path / "data"), datasets.MNIST, "mnist")


@pytest.mark.parametrize("name,folder,cls", [("mnist", "mnist-5k", datasets.MNIST),
                                             ("fashion-mnist", "fashion-mnist", datasets.FashionMNIST)])
def test_the_idx_reader_reads_the_real_files_as_torchvision_does(name, folder, cls):
    from ganzoo.datasets import FASHION_MNIST, MNIST, idx_root

    root = SHARED_DATASETS / folder
    if not root.is_dir():
        pytest.skip(f"needs {root} (not in a fresh clone)")
    ready = idx_root(root, MNIST if name == "mnist" else FASHION_MNIST)  # decompressed into the cache if need be
    _same_as_torchvision(ready, cls, name)


def test_training_sampling_and_listing_import_no_torchvision(tmp_path):
    """torchvision's import costs about 1.5 s (torch._dynamo): the everyday commands skip it."""
    data = write_mnist_like(tmp_path / "data", per_class=4, size=16)
    script = f"""
import sys
from pathlib import Path
from ganzoo.main import main
for args in (["models"], ["train", "acgan", "--recipe", "mnist", "--data-dir", {str(data)!r}, "--runs-dir",
             {str(tmp_path / "runs")!r}, "-q", "--set", "max_steps=2", "--set", "image_size=16", "--set",
             "batch_size=8", "--set", "sample_every=1"],
             ["sample", "acgan", "--runs-dir", {str(tmp_path / "runs")!r}, "--class", "all", "--n", "2", "-o",
              {str(tmp_path / "grid.png")!r}]):
    sys.argv = ["ganzoo", *args]
    try:
        main()
    except SystemExit as done:
        assert not done.code, (args, done.code)
assert Path({str(tmp_path / "grid.png")!r}).stat().st_size > 0
print("torchvision" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout
