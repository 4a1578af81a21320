#!/usr/bin/env bash
# Everything the GPU needs checked, in one run on the device machine (nothing downloaded):
#   - installs ganzoo and every plugin in plugins/ from this tree (no index, no deps: torch
#     etc. are there) and pytorch-fid from a carried wheel (.gpu/*.whl),
#   - the CUDA-graph tests (tests/test_cuda_graph.py),
#   - the speed benchmark at batch 1024 and 64 (one round each: a lent GPU is not shared),
#     the fused upsampling measured both ways,
#   - make demo's commands on the GPU (train 3,000 steps, sample, evaluate),
#   - the quality parity of the fast paths against fp32 eager on Fashion-MNIST (3 seeds),
#   - every model of the zoo trained a few hundred steps on CUDA with its recipe defaults.
# Data (mnist-5k, fashion-mnist) is carried in .gpu/. Logs go to $OUT; each part has its
# own time limit so that one slow part cannot take the rest's device time. On an H200 the
# whole took about 11 minutes with two more variants in each benchmark (2026-11-29); as it
# stands it should end within one command's 10 minutes (timeout_s 570).
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/ganzoo-gpu-out}; mkdir -p "$OUT"
plugins=$(for p in plugins/*/pyproject.toml; do printf -- '-e %s ' "$(dirname "$p")"; done)
# shellcheck disable=SC2086
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . $plugins >"$OUT/install.log" 2>&1 \
  || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/*.whl >>"$OUT/install.log" 2>&1 \
  && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
lscpu | grep -m1 'Model name'

echo "== CUDA graph tests"
timeout 120 python3 -m pytest -q -p no:cacheprovider -p no:xdist tests/test_cuda_graph.py 2>&1 \
  | tee "$OUT/graph_test.log" | tail -8
echo "== speed, batch 1024"
timeout 150 python3 tests/bench/train_speed.py --data-dir .gpu/mnist-5k --device cuda --batch-size 1024 \
  --steps "${STEPS1024:-300}" --warmup 30 --rounds 1 \
  --variants "${VARIANTS1024:-fp32-graph,bf16-graph,auto}" 2>&1 | tee "$OUT/bench1024.log"
echo "== speed, batch 64"
timeout 150 python3 tests/bench/train_speed.py --data-dir .gpu/mnist-5k --device cuda --steps "${STEPS64:-1000}" \
  --warmup 100 --rounds 1 \
  --variants "${VARIANTS64:-fp32-graph,bf16-graph,auto}" \
  2>&1 | tee "$OUT/bench64.log"
echo "== make demo's commands"
runs=/tmp/demo-runs
( timeout 120 python3 -m ganzoo train acgan --recipe mnist --runs-dir $runs --set max_steps=3000 --data-dir .gpu/mnist-5k -q \
  && timeout 60 python3 -m ganzoo sample acgan --class all --n 10 --runs-dir $runs \
  && timeout 120 python3 -m ganzoo evaluate acgan --runs-dir $runs ) 2>&1 | tee "$OUT/demo.log" | tail -25
find $runs -name '*.md' -path '*report*' -exec cp {} "$OUT/demo-report.md" \; 2>/dev/null
echo "== quality parity"
timeout 200 python3 tests/bench/quality_parity.py --dataset fashion-mnist --data-dir .gpu/fashion-mnist --device cuda \
  --steps "${PARITY_STEPS:-2000}" --variants "${PARITY_VARIANTS:-fp32-eager,auto}" \
  2>&1 | tee "$OUT/parity.log"
echo "== every model, recipe defaults, batch 64"
timeout 120 python3 tests/bench/train_speed.py --data-dir .gpu/mnist-5k --device cuda --steps 200 --warmup 30 \
  --rounds 1 --no-reference --variants auto --models acgan,tacgan,reacgan,cgan,dcgan,sngan,wgan-gp \
  2>&1 | tee "$OUT/zoo.log"
