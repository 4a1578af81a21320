"""Record what training does, to the bit: per-step losses and a hash of the weights.

For each model, ``ganzoo train MODEL`` runs 50 steps on the CPU in fp32 with a fixed
seed, logging every step; the record keeps each logged loss and the SHA-256 of the
generator's and the discriminator's state dicts after the last step. It drives the
command line only, so a record taken before a refactor of the trainer can be compared
with one taken after it (tests/test_behaviour.py keeps such a record as a regression
test).

Floating-point results depend on the CPU's instruction set and the thread count, so a
record is keyed by :func:`machine_key`.

    python tests/helpers/behaviour_record.py --data-dir DIR [--models acgan,cgan] [--steps 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

MODELS = ("acgan", "cgan", "dcgan", "reacgan", "sngan", "tacgan", "wgan-gp")
# acgan's record is of the seed article's configuration (its default since 0.3 is tuned)
PRESETS = {"acgan": "reference"}
LOSS_KEYS = ("d_loss", "g_loss", "d_penalty", "d_gp", "d_r1", "d_class_accuracy")


def cpu_isa() -> str:
    """The widest vector extension the CPU has (amx, avx512, avx2 or other), after the
    vendor when it is not Intel: an AMD EPYC with AVX-512 is 'amd avx512'. MKL and oneDNN
    take other kernels on AMD's CPUs than on Intel's with the same flags, so their float
    results differ in the last bits (an EPYC 9004, Zen 4, against the Xeon's record)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "other"
    flags: set[str] = set()
    vendor = ""
    for line in text.splitlines():
        if line.startswith("vendor_id") and not vendor:
            vendor = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    prefix = "" if vendor in ("GenuineIntel", "") else ("amd " if vendor == "AuthenticAMD" else f"{vendor} ")
    for isa, flag in (("amx", "amx_bf16"), ("avx512", "avx512f"), ("avx2", "avx2")):
        if flag in flags:
            return prefix + isa
    return prefix + "other"


def machine_key() -> str:
    return f"torch {torch.__version__.split('+')[0]} | {cpu_isa()} | {torch.get_num_threads()} threads"


def state_hash(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode())
        if isinstance(value, torch.Tensor):
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def record_model(model: str, data_dir: Path, runs: Path, steps: int, batch_size: int) -> dict:
    command = [
        sys.executable, "-m", "ganzoo", "train", model, "--recipe", "mnist", "--data-dir", str(data_dir),
        "--runs-dir", str(runs), "--device", "cpu", "--quiet",
        "--set", f"max_steps={steps}", "--set", f"batch_size={batch_size}", "--set", "seed=0",
        # the speed path the record was taken on (fp32, NCHW, plain to-image convolutions)
        "--set", "precision=fp32", "--set", "channels_last=off", "--set", "narrow_conv=off",
        "--set", "log_every=1", "--set", f"sample_every={steps}",
        "--set", f"checkpoint_every={steps}",
    ]
    if model in PRESETS:
        command += ["--set", f"preset={PRESETS[model]}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{model}: {done.stderr.strip()}")
    run = Path(done.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    losses = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "d_loss" in entry:
            losses.append({key: entry[key] for key in LOSS_KEYS if entry.get(key) is not None})
    payload = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    return {
        "losses": losses,
        "generator_sha256": state_hash(payload["generator"]),
        "discriminator_sha256": state_hash(payload["discriminator"]),
    }


def record(data_dir: Path, models: tuple[str, ...] = MODELS, steps: int = 50, batch_size: int = 32) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return {model: record_model(model, data_dir, Path(tmp), steps, batch_size) for model in models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    result = record(args.data_dir, tuple(args.models.split(",")), args.steps, args.batch_size)
    json.dump({"machine": machine_key(), "steps": args.steps, "batch_size": args.batch_size, "models": result},
              sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    os.environ.setdefault("GANZOO_DEVICE", "cpu")
    main()
