"""Do the fast paths train as well as fp32 eager? Same recipe, same steps, several seeds.

    .venv/bin/python tests/bench/quality_parity.py --dataset fashion-mnist \
        --data-dir ../shared/datasets/fashion-mnist --steps 1500 --variants fp32-eager,bf16-eager
    python tests/bench/quality_parity.py --device cuda --variants fp32-eager,bf16-graph ...

Each run trains ACGAN with the dataset's recipe in memory (no run folder), then the shared
evaluator's classifier metrics: classifier FID against the real test split and the mean
per-class accuracy of 1,000 samples per class. Prints one line per run and, per variant,
mean and spread (min-max) over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from train_speed import VARIANTS  # noqa: E402


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

    import torch

    from ganzoo.data import load_dataset
    from ganzoo.evaluate.classifier import get_judge
    from ganzoo.evaluate.core import RealFeatures, classifier_metrics, generate_set
    from ganzoo.models import build_model, resolve_device
    from ganzoo.plugins import get_host
    from ganzoo.recipes import load_recipe, resolve
    from ganzoo.train.trainer import Trainer
    from ganzoo.training import seed_everything

    device = resolve_device(args.device)
    host = get_host()
    recipe, raw = load_recipe(args.dataset, host.recipes)
    train = load_dataset(args.dataset, args.data_dir, train=True, channels=1, image_size=28)
    test = load_dataset(args.dataset, args.data_dir, train=False, channels=1, image_size=28)
    judge = get_judge(train, test, device, progress=False, **({"steps": args.judge_steps} if args.judge_steps else {}))
    real = RealFeatures.of(judge, test, device)
    print(f"judge: test accuracy {judge.test_accuracy:.4f} ({'trained now' if judge.trained_now else 'cached'})")

    results: dict[str, list[dict]] = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            overrides = {"max_steps": args.steps, "seed": seed, "log_every": args.steps, **VARIANTS[variant]}
            settings = resolve(host.models.get("acgan"), recipe, raw, overrides).settings
            seed_everything(seed)
            model = build_model("acgan", settings, train.num_classes)
            trainer = Trainer(model, settings, train, device=device, progress=False)
            start = time.perf_counter()
            trainer.fit()
            seconds = time.perf_counter() - start
            samples = generate_set(model.generator, train.num_classes, args.n_per_class, seed=1000 + seed, device=device)
            metrics = classifier_metrics(samples, judge, real, device)
            row = {"seed": seed, "fid": metrics["classifier_fid"], "acc": metrics["accuracy"]["mean"],
                   "min": metrics["accuracy"]["min"], "seconds": seconds, "plan": trainer.plan.describe()}
            results.setdefault(variant, []).append(row)
            print(f"{variant:<11} seed {seed}: classifier FID {row['fid']:8.2f}  accuracy mean {row['acc']:.3f} "
                  f"min {row['min']:.3f}  train {seconds:6.1f} s  {row['plan']}", flush=True)
            del trainer, model
            if device.type == "cuda":
                torch.cuda.empty_cache()

    print(f"\n{args.dataset}, {args.steps} steps, batch 64, seeds {args.seeds}, device {device}")
    for variant, rows in results.items():
        fids, accs = [r["fid"] for r in rows], [r["acc"] for r in rows]
        print(f"{variant:<11}: classifier FID mean {statistics.mean(fids):7.2f} (range {min(fids):.2f}-{max(fids):.2f})"
              f"   accuracy mean {statistics.mean(accs):.3f} (range {min(accs):.3f}-{max(accs):.3f})")


if __name__ == "__main__":
    main()
