"""Inception FID through pytorch-fid: its InceptionV3 (the TensorFlow FID weights), 2048-d
pool features, reference statistics cached in pytorch-fid's own ``.npz`` format.

The weights come from pytorch-fid's download into torch's hub cache. Offline, without
the file, :class:`InceptionUnavailable` says why and exactly where the file must go;
the caller reports "unavailable" and carries on with every other metric.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from tqdm import tqdm

from .. import cores
from ..data import cache_dir
from ..errors import first_line
from ..files import replaced_atomically
from ..waiting import said_if_slow
from .metrics import feature_statistics

FEATURE_DIM = 2048


class InceptionUnavailable(Exception):
    """The Inception weights are neither cached nor downloadable."""


def weights_path() -> Path:
    """Where pytorch-fid (through torch.hub) keeps its Inception weights."""
    from pytorch_fid.inception import FID_WEIGHTS_URL  # start-up: pytorch-fid imports torchvision (1.6 s)

    return Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_URL.rsplit("/", 1)[-1]


def load_inception(device: torch.device):
    """pytorch-fid's InceptionV3 returning the 2048-d pool features, in eval mode."""
    from pytorch_fid.inception import FID_WEIGHTS_URL, InceptionV3  # start-up: it imports torchvision (1.6 s)

    path = weights_path()
    try:
        if not path.exists():
            # fetched here rather than by pytorch-fid, whose torch.hub call announces
            # "Downloading: ..." before it knows whether it can, a misleading line offline
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(FID_WEIGHTS_URL, str(path), progress=True)
            print(f"ganzoo: Inception weights saved to {path}", file=sys.stderr)
        # stdout must stay clean for --json, whatever the loader prints
        with contextlib.redirect_stdout(sys.stderr):
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
    except (URLError, OSError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InceptionUnavailable(
            f"the Inception weights are not cached and could not be downloaded ({reason}); "
            f"download {FID_WEIGHTS_URL} and put it at {path}"
        ) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise InceptionUnavailable(
            f"the cached Inception weights at {path} are unreadable ({first_line(exc)}); delete the file and "
            f"download {FID_WEIGHTS_URL} again"
        ) from None
    return model.to(device).eval()


def logits_of(features: np.ndarray) -> torch.Tensor:
    """The 1008-way logits of Inception pool features: the weights file's own final layer
    (``fc``), which pytorch-fid's feature extractor leaves out."""
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weight, bias = state["fc.weight"].double(), state["fc.bias"].double()
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, AttributeError) as exc:
        raise InceptionUnavailable(f"the Inception weights at {path} have no readable final layer "
                                   f"({first_line(exc)})") from None
    if weight.shape != (1008, FEATURE_DIM) or bias.shape != (1008,):
        raise InceptionUnavailable(f"the Inception weights at {path} have a final layer of shape "
                                   f"{tuple(weight.shape)}, not (1008, {FEATURE_DIM})")
    return torch.from_numpy(features).double() @ weight.T + bias


@torch.no_grad()
def inception_features(model, images: torch.Tensor, device: torch.device, *, batch_size: int = 100,
                       progress: bool = True, what: str = "images") -> np.ndarray:
    """2048-d features of uint8 images (N, C, H, W), streamed in batches. Grey images are
    repeated to three channels, as pytorch-fid's own loader does with ``convert('RGB')``;
    pixels go in as floats in [0, 1] and the model resizes them to 299 x 299."""
    out = np.empty((len(images), FEATURE_DIM), dtype=np.float64)
    with said_if_slow(f"computing Inception features of {len(images):,} {what}", quiet=not progress):
        for start in tqdm(range(0, len(images), batch_size), desc=f"Inception features of {what}",
                          disable=not progress, file=sys.stderr,
                          mininterval=0.1 if sys.stderr.isatty() else 30.0):
            cores.poll()
            batch = images[start : start + batch_size].to(device).float().div(255)
            if batch.shape[1] == 1:
                batch = batch.expand(-1, 3, -1, -1)
            features = model(batch)[0]
            out[start : start + len(batch)] = features.squeeze(-1).squeeze(-1).double().cpu().numpy()
    return out


def reference_features(model, images: torch.Tensor, key: str, device: torch.device, *,
                       progress: bool = True) -> np.ndarray:
    """Inception features of the real images (for KID, precision/recall, density/coverage on
    Inception's features), cached as ``<cache>/fid_stats/KEY-inception-features.npy``
    (float32)."""
    path = cache_dir() / "fid_stats" / f"{key}-inception-features.npy"
    if path.is_file():
        try:
            features = np.load(path, allow_pickle=False)
            if features.shape == (len(images), FEATURE_DIM):
                return features.astype(np.float64)
        except (OSError, ValueError):
            pass  # unreadable: compute again and replace it
    features = inception_features(model, images, device, progress=progress, what="real images")
    _cache(path, lambda f: np.save(f, features.astype(np.float32)))
    return features


def reference_statistics(model, images: torch.Tensor, key: str, device: torch.device, *,
                         progress: bool = True) -> tuple[np.ndarray, np.ndarray, Path, bool]:
    """(mu, sigma) of the real images, cached as ``<cache>/fid_stats/KEY-inception.npz``
    (readable by ``python -m pytorch_fid``); returns whether the cache was used."""
    path = cache_dir() / "fid_stats" / f"{key}-inception.npz"
    if path.is_file():
        try:
            with np.load(path) as f:
                return f["mu"][:], f["sigma"][:], path, True
        except (OSError, ValueError, KeyError):
            pass  # unreadable: compute again and replace it
    mu, sigma = feature_statistics(reference_features(model, images, key, device, progress=progress))
    _cache(path, lambda f: np.savez_compressed(f, mu=mu, sigma=sigma))
    return mu, sigma, path, False


def _cache(path: Path, write) -> None:
    """``write(file)`` into the cache at ``path``, whole or not at all; a read-only cache
    costs a recomputation next time, nothing else."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as tmp, open(tmp, "wb") as file:
            write(file)
    except OSError:
        pass
