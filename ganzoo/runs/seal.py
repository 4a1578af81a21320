"""A checkpoint's own checksum: the sha256 of its bytes, written into the comment of the
zip archive ``torch.save`` makes (the last bytes of the file, which zip readers and
``torch.load`` skip). The zip's CRCs cover the records' data but not their headers, and
nothing checks them on load: a byte flipped in the middle of a checkpoint loaded and
sampled. With the seal, a byte changed anywhere is found before the file is used.

Checkpoints written before seals (no comment) load as they did, unverified. An exported
generator (safetensors) carries its own: :func:`weights_sha256` of its tensors and its
configuration, in its metadata.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import torch

PREFIX = b"ganzoo-sha256:"
SEAL_BYTES = len(PREFIX) + 64  # the comment: the prefix and the digest in hex
END_RECORD = b"PK\x05\x06"  # a zip's end of central directory record
END_BYTES = 22  # its size without a comment; the last 2 bytes are the comment's length
CHUNK = 1 << 20


def _digest(handle, length: int) -> str:
    handle.seek(0)
    digest, left = hashlib.sha256(), length
    while left:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


def seal(path: Path) -> None:
    """Write the sha256 of everything before the comment's length into the comment of
    the zip at ``path`` (a file torch.save just wrote, with no comment); a file of
    another shape is left as it is."""
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < END_BYTES:
            return
        handle.seek(size - END_BYTES)
        end = handle.read(END_BYTES)
        if not end.startswith(END_RECORD) or end[-2:] != b"\0\0":
            return
        digest = _digest(handle, size - 2)
        handle.seek(size - 2)
        handle.write(struct.pack("<H", SEAL_BYTES) + PREFIX + digest.encode("ascii"))


def seal_problem(path: Path) -> str | None:
    """Why the sealed file at ``path`` is not the one written (its reason, for an
    error), or None: intact, or written before seals (a zip without a comment)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < END_BYTES + SEAL_BYTES:
            return None
        handle.seek(size - END_BYTES - SEAL_BYTES)
        tail = handle.read(END_BYTES + SEAL_BYTES)
        if not tail.startswith(END_RECORD):
            return None if tail.endswith(b"\0\0") else _looks_sealed(tail)
        length = struct.unpack("<H", tail[END_BYTES - 2:END_BYTES])[0]
        comment = tail[END_BYTES:]
        if length != SEAL_BYTES or not comment.startswith(PREFIX):
            return "its checksum record is damaged"
        if _digest(handle, size - SEAL_BYTES - 2) != comment[len(PREFIX):].decode("ascii", "replace"):
            return "its bytes differ from the checksum written with it"
    return None


def _looks_sealed(tail: bytes) -> str | None:
    """A tail with no end record where a seal's would be: damaged if the seal's prefix is
    still there (the end record's signature was hit), else not a sealed file."""
    return "its end record is damaged" if PREFIX[:8] in tail else None


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over tensors' names, dtypes, shapes and bytes, in name order: a judge's name
    (the same for a pinned file, a cached judge and one trained just now), an export's seal."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
