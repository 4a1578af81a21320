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
