"""Train the pinned judges that ship with ganzoo (ganzoo/evaluate/judges/), bit for bit.

    python tests/bench/train_judges.py mnist=../shared/datasets/mnist-5k \\
        fashion-mnist=../shared/datasets/fashion-mnist
    python tests/bench/train_judges.py --label emoji --image-size 32 imagefolder=../shared/datasets/emoji
    python tests/bench/train_judges.py --check mnist=...   # retrain, compare, write nothing

Each judge is ganzoo's own ``train_classifier`` (the judge's recipe: 2,000 steps of
AdamW, batch 128, shifts of up to 2 pixels, seed 0) in fp32 on one CPU thread, so the
same CPU kind and torch version give the same bits (``--check`` shows it: exit 1 when a
retrained judge's sha256 differs from the shipped one). Across CPU kinds the last bits
of fp32 convolutions differ; the recorded test accuracy is what to compare then.
The manifest records, per judge: the data it learnt from (fingerprint), its accuracy on
the real test split, the torch version and CPU it was trained with. A judge of an image
folder (``--label`` names it) is pinned to its images: ganzoo chooses it only for a
training split with that fingerprint (ganzoo/evaluate/pinned.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from ganzoo.data import fingerprint, load_dataset
from ganzoo.evaluate.classifier import CLASSIFIER_VERSION, TRAIN_STEPS, accuracy_of, train_classifier
from ganzoo.evaluate.pinned import JUDGES_DIR, MANIFEST, manifest, weights_sha256


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train_judge(name: str, root: Path, args: argparse.Namespace) -> tuple[dict, dict[str, torch.Tensor]]:
    shape = {"channels": args.channels, "image_size": args.image_size}
    train = load_dataset(name, root, train=True, **shape)
    test = load_dataset(name, root, train=False, **shape)
    started = time.perf_counter()
    model = train_classifier(train, torch.device("cpu"), steps=TRAIN_STEPS, seed=0, precision="fp32")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    shape = list(train.images.shape[1:])
    label = args.label or name
    entry = {
        "dataset": name, "shape": shape, "version": CLASSIFIER_VERSION, "class_names": list(train.class_names),
        **({"label": label, "match": "contents"} if name == "imagefolder" else {}),
        "file": f"{label}-{'x'.join(map(str, shape))}-v{CLASSIFIER_VERSION}.safetensors",
        "sha256": weights_sha256(state), "steps": TRAIN_STEPS, "seed": 0, "precision": "fp32",
        "threads": torch.get_num_threads(),
        "trained_on": fingerprint(train), "test_split": fingerprint(test),
        "test_accuracy": accuracy_of(model, test, torch.device("cpu")),
        "torch": torch.__version__, "cpu": cpu_name(), "training_seconds": round(time.perf_counter() - started, 1),
    }
    return entry, state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", help="NAME=DATA_ROOT, one per judge")
    parser.add_argument("--check", action="store_true", help="retrain and compare with the shipped judges")
    parser.add_argument("--image-size", type=int, help="the judge's image size (default: the dataset's own)")
    parser.add_argument("--channels", type=int, help="the judge's channels (default: the dataset's own)")
    parser.add_argument("--label", help="the judge's name: required for an image folder (e.g. emoji)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1: the shipped judges'; the bits depend on it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shipped = {e["file"]: e for e in manifest()}
    entries = dict(shipped)
    failed = False
    for spec in args.data:
        name, _, root = spec.partition("=")
        if name == "imagefolder" and not args.label:
            parser.error("an image folder's judge needs --label (its name in the manifest and the file name)")
        entry, state = train_judge(name, Path(root), args)
        key = entry["file"]
        print(f"{entry.get('label', name)} {'x'.join(map(str, entry['shape']))}: sha256 {entry['sha256'][:16]}, test accuracy {entry['test_accuracy']:.2%}, "
              f"{entry['training_seconds']} s on {entry['cpu']}")
        if args.check:
            old = shipped.get(key)
            same = old is not None and old["sha256"] == entry["sha256"]
            print(f"  {'same bits as' if same else 'DIFFERS from'} the shipped judge"
                  f" ({old['sha256'][:16] if old else 'none shipped'})")
            failed |= not same
            continue
        from safetensors.torch import save_file

        JUDGES_DIR.mkdir(parents=True, exist_ok=True)
        save_file(state, str(JUDGES_DIR / entry["file"]), metadata={"format": "ganzoo-judge-v1",
                                                                      "sha256": entry["sha256"]})
        entries[key] = entry
    if not args.check:
        ordered = sorted(entries.values(), key=lambda e: e["file"])
        MANIFEST.write_text(json.dumps({"judges": ordered}, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MANIFEST}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
