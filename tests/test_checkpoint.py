import errno

import pytest
import torch

from ganzoo.errors import CheckpointError, GanzooError
from ganzoo.runs import checkpoint as ckpt


def _payload(step):
    return {"model": "acgan", "generator": {"w": torch.full((2,), float(step))}, "config": {}, "step": step}


def test_round_trip(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, _payload(3))
    loaded = ckpt.load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["generator"]["w"], torch.full((2,), 3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, _payload(1))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(GanzooError, match="No space left on device; the previous checkpoint is intact"):
        ckpt.save_checkpoint(path, _payload(2))
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.fixture
def small_file_system(tmp_path):
    """A real 256 KB file system (tmpfs), where root may mount one; skipped elsewhere."""
    import os
    import subprocess

    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_real_full_disk_is_said_in_words_and_keeps_what_was_saved(small_file_system):
    first = small_file_system / "step_1.pt"
    big = {**_payload(2), "generator": {"w": torch.zeros(200_000)}}  # 800 KB: more than the disk
    with pytest.raises(GanzooError, match=r"the file system is full \(\d+ KB free\); no checkpoint of this run was "
                                          "written yet"):
        ckpt.save_checkpoint(first, big)
    assert list(small_file_system.iterdir()) == []  # no partial file, no temporary
    ckpt.save_checkpoint(first, _payload(1))
    with pytest.raises(GanzooError, match="the file system is full .*; the previous checkpoint is intact"):
        ckpt.save_checkpoint(small_file_system / "step_2.pt", big)
    assert ckpt.load_checkpoint(first)["step"] == 1
    assert [p.name for p in small_file_system.iterdir()] == ["step_1.pt"]


def test_a_file_size_limit_is_said_in_words(tmp_path):
    """Under `ulimit -f`, torch.save fails with "unexpected pos 24448 vs 24368"; the error names the limit."""
    import subprocess
    import sys

    resource = pytest.importorskip("resource", reason="file size limits are POSIX's")
    script = ("import torch; from ganzoo.runs.checkpoint import save_checkpoint\n"
              "save_checkpoint(r'%s', {'model': 'x', 'generator': {'w': torch.zeros(100_000)}, 'config': {}})")
    done = subprocess.run([sys.executable, "-c", script % (tmp_path / "step_1.pt")], capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100 * 1024, 100 * 1024)))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith(
        "files may be at most 100 KB here (ulimit -f), and the checkpoint is larger; no checkpoint of this run was "
        "written yet")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint(path, _payload(1))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt.load_checkpoint(path)


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "model": "acgan", "generator": RunsCode(), "config": {}}, path)
    with pytest.raises(CheckpointError, match="refusing to load .*could run code"):
        ckpt.load_checkpoint(path)
    assert "this must never run" not in capsys.readouterr().out


def test_something_else_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="is not a ganzoo checkpoint"):
        ckpt.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_a_plain_pickle_is_refused_without_torchs_warning(tmp_path, recwarn, protocol):
    """A pickle of protocol 4 given as a checkpoint printed torch's two-line UserWarning
    before ganzoo's line (in sample, runs and leaderboard)."""
    import pickle

    from ganzoo.errors import CheckpointError
    from ganzoo.runs.checkpoint import checkpoint_step, load_checkpoint

    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"generator": {}, "step": 3}, protocol=protocol))
    with pytest.raises(CheckpointError, match=f"is a plain pickle \\(protocol {protocol}\\), not a file torch.save"):
        load_checkpoint(path)
    assert checkpoint_step(path) is None
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]
