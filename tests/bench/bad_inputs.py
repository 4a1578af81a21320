"""Re-try, as a user would at the command line, the classes of bad input that ganzoo must
answer with one clear line, the right exit code and nothing half-written (issue 17's list
and docs/reliability.md). Prints a Markdown table: class, command, exit code, what stderr
said, and whether the contract held (one line, no traceback, no "internal error",
nothing changed that should not have).

    .venv/bin/python tests/bench/bad_inputs.py [--keep DIR]

Runs from a fresh clone's venv in about three minutes on 2 cores. The full-disk case
mounts a 300 KB tmpfs and runs only as root (skipped otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import blob_images, write_idx  # noqa: E402


@dataclass
class Case:
    group: str
    what: str
    args: list[str]
    code: int | tuple[int, ...]
    env: dict[str, str] = field(default_factory=dict)
    signal_after: float | None = None  # send SIGINT after this many seconds
    unchanged: list[Path] = field(default_factory=list)  # must be byte-identical afterwards
    absent: list[Path] = field(default_factory=list)  # must not exist afterwards
    check: Callable[[subprocess.CompletedProcess], str] | None = None  # extra check: '' when it holds


def run(args: list[str], env: dict[str, str], signal_after: float | None, cwd: Path) -> subprocess.CompletedProcess:
    process = subprocess.Popen([sys.executable, "-m", "ganzoo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **env}, cwd=cwd)
    if signal_after is not None:
        time.sleep(signal_after)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def snapshot(paths: list[Path]) -> dict[Path, bytes | None]:
    return {p: (p.read_bytes() if p.is_file() else None) for p in paths}


def verdict(case: Case, result: subprocess.CompletedProcess, before: dict[Path, bytes | None]) -> str:
    lines = result.stderr.strip().splitlines()
    problems = []
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    if result.returncode not in codes:
        problems.append(f"exit {result.returncode}, wanted {codes}")
    errors = [line for line in lines if line.startswith("ganzoo: error: ")]
    if len(errors) != (1 if result.returncode else 0) or (errors and lines[-1] != errors[0]):
        problems.append(f"{len(errors)} error lines")
    if any(not line.startswith("ganzoo: ") for line in lines):  # -q: no progress bars, only ganzoo's own lines
        problems.append("stray stderr lines")
    if "Traceback" in result.stderr or "internal error" in result.stderr:
        problems.append("traceback / internal error")
    for path, content in before.items():
        if (path.read_bytes() if path.is_file() else None) != content:
            problems.append(f"{path.name} changed")
    for path in case.absent:
        if path.exists():
            problems.append(f"{path.name} left behind")
    if case.check is not None:
        extra = case.check(result)
        if extra:
            problems.append(extra)
    return "yes" if not problems else "NO: " + "; ".join(problems)


def build(work: Path) -> dict[str, Path]:
    """A tiny data set, a trained run, its export and the broken files the cases read."""
    data = work / "data"
    images, labels = blob_images(10, size=28, seed=3)
    write_idx(data / "MNIST" / "raw", "train", images, labels)
    write_idx(data / "MNIST" / "raw", "t10k", images, labels)
    runs = work / "runs"
    env = {**os.environ, "GANZOO_DATA_DIR": str(data), "GANZOO_RUNS_DIR": str(runs), "GANZOO_DEVICE": "cpu",
           "XDG_CACHE_HOME": str(work / "cache"), "GANZOO_JUDGE_STEPS": "30"}
    subprocess.run([sys.executable, "-m", "ganzoo", "train", "acgan", "--recipe", "mnist", "--set", "max_steps=2",
                    "--set", "batch_size=16", "-q"], check=True, env=env, capture_output=True)
    run_dir = next(p for p in runs.iterdir() if p.is_dir())
    exported = work / "g.safetensors"
    subprocess.run([sys.executable, "-m", "ganzoo", "export", "acgan", "--run", str(run_dir), "--out", str(exported)],
                   check=True, env=env, capture_output=True)
    files = {"data": data, "runs": runs, "run": run_dir, "exported": exported}

    short = work / "short-labels"  # a labels file shorter than its images file
    write_idx(short / "MNIST" / "raw", "train", images, labels)
    write_idx(short / "MNIST" / "raw", "t10k", images, labels)
    raw = (short / "MNIST" / "raw" / "train-labels-idx1-ubyte").read_bytes()
    (short / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 50) + raw[8:58])
    files["short"] = short

    header = work / "bad-header"  # an IDX file with a wrong magic number
    shutil.copytree(data, header)
    path = header / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x09\x99" + path.read_bytes()[4:])
    files["header"] = header

    files["garbage"] = work / "garbage.pt"
    files["garbage"].write_bytes(b"\x80\x02\x8a\x0alo")
    files["random"] = work / "random.pt"
    files["random"].write_bytes(os.urandom(1 << 20))
    files["null_meta"] = work / "null-meta.safetensors"
    meta = json.dumps({"__metadata__": None, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    files["null_meta"].write_bytes(struct.pack("<Q", len(meta)) + meta + b"\0" * 8)
    files["range_meta"] = work / "range.safetensors"
    meta = json.dumps({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**62]}}).encode()
    files["range_meta"].write_bytes(struct.pack("<Q", len(meta)) + meta)

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(exported), framework="pt") as f:
        metadata = f.metadata()
    tensors = {k: (v.to(torch.int8) if v.is_floating_point() else v) for k, v in load_file(str(exported)).items()}
    files["int8"] = work / "int8.safetensors"
    save_file(tensors, str(files["int8"]), metadata=metadata)

    files["dup"] = work / "dup.yaml"
    files["dup"].write_text("dataset: mnist\nlr: 0.001\nlr: 0.01\n")
    files["malformed"] = work / "malformed.yaml"
    files["malformed"].write_text("dataset: mnist\nlr: [1, 2\n")

    broken = work / "broken-run"  # a run whose config.yaml is damaged
    shutil.copytree(run_dir, broken)
    (broken / "config.yaml").write_text("model: acgan\nsettings: {lr: [\n")
    files["broken"] = broken

    import numpy as np

    files["npz_float"] = work / "float.npz"
    np.savez(files["npz_float"], images=np.zeros((10, 28, 28), np.float32))
    files["npz_labels"] = work / "labels.npz"
    np.savez(files["npz_labels"], images=np.zeros((10, 28, 28), np.uint8), labels=np.arange(10) + 5)
    files["npz_pickle"] = work / "pickle.npz"
    np.savez(files["npz_pickle"], images=np.array([1, "x"], dtype=object))
    files["pngs"] = work / "pngs"
    (files["pngs"] / "seven").mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(files["pngs"] / "seven" / "a.png")
    return files


def cases(f: dict[str, Path], work: Path) -> list[Case]:
    run = str(f["run"])
    last = f["run"] / "checkpoints" / "last.pt"
    out = work / "out"
    return [
        Case("1 outputs whole or absent", "SIGINT 7 s into sampling 5,000 images to a PNG",
             ["sample", "acgan", "--run", run, "--n", "5000", "--class", "all", "--out", str(out / "x.png"), "-q"], 130,
             signal_after=7.0, absent=[out / "x.png"]),
        Case("1 outputs whole or absent", "SIGINT 7 s into sampling 5,000 images to a folder",
             ["sample", "acgan", "--run", run, "--n", "5000", "--class", "all", "--out", str(out / "dir") + "/", "-q"], 130,
             signal_after=7.0, absent=[out / "dir"]),
        Case("1 outputs whole or absent", "SIGINT 8 s into an evaluation (-q: it says what it waits for)",
             ["evaluate", "acgan", "--run", run, "--n", "400", "--out", str(out / "report"), "-q"], 130,
             env={"GANZOO_JUDGE_STEPS": "100000"}, signal_after=8.0, absent=[out / "report"]),
        Case("2 no run folder before good inputs", "labels file shorter than the images file",
             ["train", "acgan", "--recipe", "mnist", "--data-dir", str(f["short"]), "--runs-dir", str(work / "r2")], 1,
             absent=[work / "r2"]),
        Case("2 no run folder before good inputs", "a model setting of the wrong type",
             ["train", "acgan", "--recipe", "mnist", "--set", "lr=fast", "--runs-dir", str(work / "r3")], 2,
             absent=[work / "r3"]),
        Case("3 readers: one line, right code", "a 7-byte garbage checkpoint",
             ["sample", "acgan", "--checkpoint", str(f["garbage"]), "--out", str(out / "g.png")], 1,
             unchanged=[f["garbage"]], absent=[out / "g.png"]),
        Case("3 readers: one line, right code", "safetensors with null metadata",
             ["sample", "acgan", "--checkpoint", str(f["null_meta"]), "--out", str(out / "n.png")], 1,
             absent=[out / "n.png"]),
        Case("3 readers: one line, right code", "safetensors with a 2^40-element tensor and out-of-range offsets",
             ["sample", "acgan", "--checkpoint", str(f["range_meta"]), "--out", str(out / "r.png")], 1,
             absent=[out / "r.png"]),
        Case("3 readers: one line, right code", "--resume of a run whose config.yaml is damaged",
             ["train", "acgan", "--resume", str(f["broken"]), "--set", "max_steps=4"], (1, 2),
             unchanged=[f["broken"] / "config.yaml"]),
        Case("4 clear messages", "1 MB of random bytes as a checkpoint",
             ["sample", "acgan", "--checkpoint", str(f["random"]), "--out", str(out / "q.png")], 1,
             check=lambda r: "" if "not a PyTorch checkpoint" in r.stderr else "message does not say what the file is"),
        Case("4 clear messages", "GANZOO_DISABLE_PLUGINS=acgan, then train acgan",
             ["train", "acgan", "--recipe", "mnist"], 2, env={"GANZOO_DISABLE_PLUGINS": "acgan"},
             check=lambda r: "" if "disabled" in r.stderr else "does not say the plugin is disabled"),
        Case("4 clear messages", "an IDX file with a wrong magic number",
             ["train", "acgan", "--recipe", "mnist", "--data-dir", str(f["header"]), "--runs-dir", str(work / "r4")],
             1, absent=[work / "r4"], check=lambda r: "nothing after the colon" if r.stderr.strip().endswith(":") else ""),
        Case("5 signals anywhere", "SIGINT 0.3 s after the start (during imports)", ["models"], (0, 130),
             signal_after=0.3),
        Case("5 signals anywhere", "SIGINT 1.5 s after the start of a sampling", ["sample", "acgan", "--run", run,
             "--out", str(out / "s.png")], (0, 130), signal_after=1.5),
        Case("6 conflicting input refused", "--resume with --recipe",
             ["train", "acgan", "--resume", run, "--recipe", "fashion-mnist"], 2, unchanged=[last]),
        Case("6 conflicting input refused", "int8 weights in an exported generator",
             ["sample", "acgan", "--checkpoint", str(f["int8"]), "--out", str(out / "i.png")], 1,
             absent=[out / "i.png"]),
        Case("6 conflicting input refused", "a key given twice in a recipe",
             ["train", "acgan", "--recipe", str(f["dup"]), "--runs-dir", str(work / "r5")], 2, absent=[work / "r5"]),
        Case("6 conflicting input refused", "malformed recipe YAML",
             ["train", "acgan", "--recipe", str(f["malformed"]), "--runs-dir", str(work / "r6")], 2,
             absent=[work / "r6"]),
        Case("7 plugin names", "a typo in GANZOO_DISABLE_PLUGINS: reported, the rest works",
             ["models"], 0, env={"GANZOO_DISABLE_PLUGINS": "acgna"},
             check=lambda r: "" if "acgna" in r.stderr and "acgan" in r.stdout else "typo not reported"),
        Case("7 plugin names", "an unknown model name", ["sample", "acgann", "--run", run], 2,
             check=lambda r: "" if "did you mean 'acgan'" in r.stderr else "no suggestion"),
        Case("8 unbounded work", "sample --n 10000000 (more than the disk holds?)",
             ["sample", "acgan", "--run", run, "--n", "10000000", "--out", str(out / "huge") + "/"], (2, 130),
             signal_after=20.0, absent=[out / "huge"]),
        Case("16 --images", "an .npz of float pixels", ["evaluate", "--images", str(f["npz_float"]), "--dataset",
             "mnist"], 1),
        Case("16 --images", "labels out of range", ["evaluate", "--images", str(f["npz_labels"]), "--dataset",
             "mnist", "--out", str(out / "l"), "-q"], 1, absent=[out / "l"]),
        Case("16 --images", "an .npz holding pickled objects", ["evaluate", "--images", str(f["npz_pickle"]),
             "--dataset", "mnist"], 1),
        Case("16 --images", "a class sub-folder that names no class", ["evaluate", "--images", str(f["pngs"]),
             "--dataset", "mnist", "--out", str(out / "p"), "-q"], 1, absent=[out / "p"]),
    ]


def full_disk_case(f: dict[str, Path], work: Path) -> tuple[str, subprocess.CompletedProcess | None, str]:
    """Training into a 300 KB file system: the first checkpoint cannot be written."""
    mount = work / "full"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        return "skipped (needs root to mount a small tmpfs)", None, ""
    try:
        args = ["train", "acgan", "--recipe", "mnist", "--runs-dir", str(mount), "--set", "max_steps=4", "--set",
                "batch_size=16", "-q"]
        result = run(args, {}, None, work)
        leftovers = [p.name for p in mount.rglob("*.tmp")]
        return " ".join(args), result, f"temporary files left: {leftovers}" if leftovers else ""
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ganzoo-bad-inputs-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update({"GANZOO_DEVICE": "cpu", "XDG_CACHE_HOME": str(work / "cache"), "GANZOO_JUDGE_STEPS": "30"})
    files = build(work)
    os.environ.update({"GANZOO_DATA_DIR": str(files["data"]), "GANZOO_RUNS_DIR": str(files["runs"])})
    (work / "out").mkdir(exist_ok=True)
    print("| class | input | command | exit | stderr | contract held |\n| --- | --- | --- | --- | --- | --- |")
    failures = 0
    for case in cases(files, work):
        before = snapshot(case.unchanged)
        result = run(case.args, case.env, case.signal_after, work)
        held = verdict(case, result, before)
        failures += held != "yes"
        said = " / ".join(result.stderr.strip().splitlines()).replace(str(work), "$W").replace("|", "\\|")
        command = "ganzoo " + " ".join(case.args).replace(str(work), "$W")
        print(f"| {case.group} | {case.what} | `{command}` | {result.returncode} | {said} | {held} |")
    command, result, extra = full_disk_case(files, work)
    if result is None:
        print(f"| 3 readers: one line, right code | a full disk while saving the first checkpoint | {command} | | | |")
    else:
        lines = result.stderr.strip().splitlines()
        held = "yes" if result.returncode == 1 and len(lines) == 1 and "full" in lines[0] and not extra \
            else f"NO: exit {result.returncode}, {len(lines)} lines {extra}"
        failures += held != "yes"
        said = " / ".join(lines).replace(str(work), "$W")
        print(f"| 3 readers: one line, right code | a full disk (300 KB tmpfs) while saving the first checkpoint | "
              f"`ganzoo {command.replace(str(work), '$W')}` | {result.returncode} | {said} | {held} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{failures} case(s) where the contract did not hold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
