"""Sample outputs are written whole or not at all: an interruption (Ctrl-C) or a failure
while writing a grid, an .npz or a folder leaves no partial file, no stray temporary file,
and an existing output (under --force) intact."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

import ganzoo.sample
from ganzoo.files import current_umask, folder_replaced_atomically, write_text_atomic
from ganzoo.sample import save_images

IMAGES = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])
NAMES = ["a", "b", "c"]


def interrupt_after(monkeypatch, calls: int) -> None:
    """Make the PNG writers (ganzoo.grids.save_png and save_picture, as sample.py calls
    them) raise KeyboardInterrupt on call number ``calls + 1``, after writing part of its file."""
    count = {"n": 0}

    def flaky(real):
        def write(tensor, fp, *args, **kwargs):
            if count["n"] == calls:
                with open(fp, "wb") as file:
                    file.write(b"\x89PNG half")
                raise KeyboardInterrupt
            count["n"] += 1
            return real(tensor, fp, *args, **kwargs)

        return write

    for name in ("save_png", "save_picture"):
        monkeypatch.setattr(ganzoo.sample, name, flaky(getattr(ganzoo.sample, name)))


@pytest.mark.parametrize("name", ["grid.png", "grid.jpg"])
def test_an_interrupted_grid_leaves_nothing(monkeypatch, tmp_path, name):
    interrupt_after(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        save_images(IMAGES, LABELS, tmp_path / name, nrow=3, class_names=NAMES)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_folder_leaves_nothing_and_keeps_the_old_one(monkeypatch, tmp_path):
    out = tmp_path / "pngs"
    interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        save_images(IMAGES, LABELS, out, nrow=3, class_names=NAMES)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    save_images(IMAGES[:2], LABELS[:2], out, nrow=3, class_names=NAMES)
    before = sorted(p.name for p in out.iterdir())
    interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        save_images(IMAGES, LABELS, out, nrow=3, class_names=NAMES, force=True)
    assert sorted(p.name for p in out.iterdir()) == before == ["00000_a.png", "00001_b.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["pngs"]
    monkeypatch.undo()
    save_images(IMAGES, LABELS, out, nrow=3, class_names=NAMES, force=True)  # a complete --force replaces it
    assert len(list(out.iterdir())) == 6 and [p.name for p in tmp_path.iterdir()] == ["pngs"]


def test_a_failed_npz_keeps_the_file_it_would_replace(monkeypatch, tmp_path):
    out = tmp_path / "s.npz"
    save_images(IMAGES, LABELS, out, nrow=3, class_names=NAMES)

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(KeyboardInterrupt):
        save_images(IMAGES[:1], LABELS[:1], out, nrow=3, class_names=NAMES, force=True)
    assert np.load(out)["images"].shape == (6, 1, 8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]


def test_complete_outputs_are_readable(tmp_path):
    from PIL import Image

    assert Image.open(save_images(IMAGES, LABELS, tmp_path / "g.png", nrow=3, class_names=NAMES)).format == "PNG"
    assert Image.open(save_images(IMAGES, LABELS, tmp_path / "g.jpg", nrow=3, class_names=NAMES)).format == "JPEG"
    assert np.load(save_images(IMAGES, LABELS, tmp_path / "s.npz", nrow=3, class_names=NAMES))["labels"].tolist() == \
        LABELS.tolist()


def test_an_output_that_cannot_fit_is_refused_before_generating(monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    from ganzoo.errors import UsageError
    from ganzoo.sample import bytes_needed, check_room

    assert bytes_needed(tmp_path / "x.npz", 5000, (1, 28, 28), 10) > 5000 * 784
    assert bytes_needed(tmp_path / "pngs", 5000, (1, 28, 28), 10) >= 5000 * 4096  # a block per file at least
    assert bytes_needed(tmp_path / "g.png", 100, (3, 32, 32), 10) < bytes_needed(tmp_path / "pngs", 100, (3, 32, 32), 10)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))  # 1 MB free
    check_room(tmp_path / "g.png", 100, (1, 28, 28), 10)  # a grid fits
    with pytest.raises(UsageError, match=r"5000 images for .*pngs need about 19\.5 MB and .* has 976\.6 KB free"):
        check_room(tmp_path / "deeper" / "pngs", 5000, (1, 28, 28), 10)  # measured where the folder will be
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_written_outputs_get_the_permissions_a_plain_write_would(tmp_path, umask_022):
    # mkstemp/mkdtemp are private (0600/0700): a run's files would be unreadable to the group
    # and to a web server showing the reports, unlike the files written directly beside them
    write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
    with folder_replaced_atomically(tmp_path / "report") as building:
        (building / "report.json").write_text("{}")
    assert _mode(tmp_path / "config.yaml") == 0o644 and _mode(tmp_path / "report") == 0o755
    assert current_umask() == 0o022
    os.umask(0o077)
    write_text_atomic(tmp_path / "private.yaml", "a: 1\n")
    assert _mode(tmp_path / "private.yaml") == 0o600  # a stricter umask is kept to
    # a file or folder replaced keeps the permissions it had
    os.chmod(tmp_path / "config.yaml", 0o640)
    os.chmod(tmp_path / "report", 0o750)
    write_text_atomic(tmp_path / "config.yaml", "a: 2\n")
    with folder_replaced_atomically(tmp_path / "report") as building:
        (building / "report.json").write_text("{}")
    assert _mode(tmp_path / "config.yaml") == 0o640 and _mode(tmp_path / "report") == 0o750


def test_a_run_folder_and_its_outputs_are_readable_to_others_under_the_usual_umask(mnist_like_root, tmp_path,
                                                                                   umask_022):
    from ganzoo.train.session import train_run
    from conftest import run_cli

    run = train_run("acgan", "mnist", overrides=["max_steps=2", "batch_size=16", "sample_every=2"],
                    data_dir=mnist_like_root, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    for name in ("config.yaml", "metrics.jsonl", "checkpoints/last.pt", "checkpoints/step_0000002.pt",
                 "samples/step_0000002.png"):
        assert _mode(run / name) == 0o644, name
    exported = tmp_path / "acgan.safetensors"
    folder = tmp_path / "ones"
    for args in (("export", "acgan", "--run", str(run), "--out", str(exported)),
                 ("sample", "acgan", "--run", str(run), "--class", "1", "--out", str(folder))):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
    assert _mode(exported) == _mode(exported.with_suffix(".json")) == 0o644
    assert _mode(folder) == 0o755 and all(_mode(png) == 0o644 for png in folder.iterdir())
