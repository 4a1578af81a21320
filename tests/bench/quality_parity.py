"""Do the fast paths train as well as fp32 eager? Same recipe, same steps, several seeds.

    .venv/bin/python tests/bench/quality_parity.py --dataset fashion-mnist \
        --data-dir ../shared/datasets/fashion-mnist --steps 1500 --variants fp32-eager,bf16-eager
    python tests/bench/quality_parity.py --device cuda --variants fp32-eager,bf16-graph ...

Each run trains ACGAN with the dataset's recipe in memory (no run folder), then the shared
evaluator's classifier metrics: classifier FID against the real test split and the mean
per-class accuracy of 1,000 samples per class. Prints one line per run and, per variant,
mean and spread (min-max) over the seeds.

The variant ``reference`` trains the reference loop itself (``reference_acgan.py``, MNIST
only: the article's loop reads torchvision's MNIST) for the same steps and seed, then its
generator's weights go into ganzoo's ACGAN generator (the same layout and function, see
tests/test_layers.py) so the same evaluator judges it the same way:

    .venv/bin/python tests/bench/quality_parity.py --dataset mnist \
        --data-dir ../shared/datasets/mnist-5k --steps 1000 --variants reference,auto
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from train_speed import VARIANTS, reference_root  # noqa: E402

REFERENCE = "reference"


def train_reference(args, seed: int, generator):
    """The article's loop for ``args.steps`` batches; its weights end up in ``generator``."""
    import torch

    import reference_acgan

    torch.manual_seed(seed)
    trained = reference_acgan.train(str(reference_root(args.data_dir)), args.steps, 64, args.device)
    ours = generator.state_dict()
    generator.load_state_dict(dict(zip(ours, trained.state_dict().values())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="fp32-eager,auto")
    parser.add_argument("--n-per-class", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--judge-steps", type=int, default=None, help="evaluation classifier steps (default: its own)")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS and v != REFERENCE]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {[REFERENCE, *VARIANTS]}")
    if REFERENCE in variants and args.dataset != "mnist":
        parser.error("the reference loop reads MNIST only: use --dataset mnist with the reference variant")

    import torch

    from ganzoo.data import load_dataset
    from ganzoo.evaluate.classifier import get_judge
    from ganzoo.evaluate.core import RealFeatures, classifier_metrics, generate_set
    from ganzoo.zoo import build_model, get_model_spec
    from ganzoo.device import resolve_device
    from ganzoo.plugins import get_host
    from ganzoo.recipes import load_recipe, resolve
    from ganzoo.train.loop import Trainer
    from ganzoo.train.session import seed_everything

    device = resolve_device(args.device)
    host = get_host()
    recipe, raw = load_recipe(args.dataset, host.recipes)
    train = load_dataset(args.dataset, args.data_dir, train=True, channels=1, image_size=28)
    test = load_dataset(args.dataset, args.data_dir, train=False, channels=1, image_size=28)
    judge = get_judge(train, test, device, progress=False, **({"steps": args.judge_steps} if args.judge_steps else {}))
    real = RealFeatures.of(judge, test, device)
    print(f"judge: test accuracy {judge.test_accuracy:.4f} ({'trained now' if judge.trained_now else 'cached'})")

    results: dict[str, list[dict]] = {}
    for variant in variants:
        for seed in [int(s) for s in args.seeds.split(",")]:
            # the reference preset: the seed article's configuration, which is what parity is about
            overrides = {"max_steps": args.steps, "seed": seed, "log_every": args.steps, "preset": "reference",
                         **VARIANTS.get(variant, {})}
            settings = resolve(get_model_spec("acgan"), recipe, raw, overrides)
            seed_everything(seed)
            model = build_model("acgan", settings, train.num_classes)
            start = time.perf_counter()
            if variant == REFERENCE:
                train_reference(args, seed, model.generator)
                plan = "the article's loop, fp32"
            else:
                trainer = Trainer(model, settings, train, device=device, progress=False)
                trainer.fit()
                plan = trainer.plan.describe()
                del trainer
            seconds = time.perf_counter() - start
            samples = generate_set(model.generator, train.num_classes, args.n_per_class, seed=1000 + seed, device=device)
            metrics = classifier_metrics(samples, judge, real, device)
            row = {"seed": seed, "fid": metrics["classifier_fid"], "acc": metrics["accuracy"]["mean"],
                   "min": metrics["accuracy"]["min"], "seconds": seconds, "plan": plan}
            results.setdefault(variant, []).append(row)
            print(f"{variant:<11} seed {seed}: classifier FID {row['fid']:8.2f}  accuracy mean {row['acc']:.3f} "
                  f"min {row['min']:.3f}  train {seconds:6.1f} s  {row['plan']}", flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()

    print(f"\n{args.dataset}, {args.steps} steps, batch 64, seeds {args.seeds}, device {device}")
    for variant, rows in results.items():
        fids, accs = [r["fid"] for r in rows], [r["acc"] for r in rows]
        print(f"{variant:<11}: classifier FID mean {statistics.mean(fids):7.2f} (range {min(fids):.2f}-{max(fids):.2f})"
              f"   accuracy mean {statistics.mean(accs):.3f} (range {min(accs):.3f}-{max(accs):.3f})")


if __name__ == "__main__":
    main()
