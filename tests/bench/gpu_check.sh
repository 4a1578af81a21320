#!/usr/bin/env bash
# The GPU measurements of issue 4, in one run on the device machine (nothing downloaded):
#   - installs ganzoo + ganzoo-acgan from this tree (no index, no deps: torch etc. are there)
#     and pytorch-fid from a carried wheel (.gpu/*.whl),
#   - the CUDA-graph test, the speed benchmark at batch 64 and 1024 (one round each: a lent GPU
#     is not shared; fused upsampling measured both ways), and the quality parity
#     of the fast path against fp32 eager on Fashion-MNIST (3 seeds).
# Data (mnist-5k, fashion-mnist) is carried in .gpu/. Logs go to $OUT.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/ganzoo-gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/acgan >"$OUT/install.log" 2>&1 \
  || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/*.whl >>"$OUT/install.log" 2>&1 && export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
echo "== CUDA graph test"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda_graph.py -s 2>&1 | tee "$OUT/graph_test.log" | tail -15
echo "== speed, batch 64"
python3 tests/bench/train_speed.py --data-dir .gpu/mnist-5k --device cuda --steps ${STEPS64:-1000} --warmup 100 \
  --rounds ${ROUNDS:-1} --variants ${VARIANTS64:-fp32-unfused,fp32-eager,bf16-eager,bf16-fused,fp32-graph,bf16-graph,bf16-graph-fused,auto} \
  2>&1 | tee "$OUT/bench64.log"
echo "== speed, batch 1024"
python3 tests/bench/train_speed.py --data-dir .gpu/mnist-5k --device cuda --batch-size 1024 --steps ${STEPS1024:-300} \
  --warmup 30 --rounds ${ROUNDS:-1} --variants ${VARIANTS1024:-fp32-graph,bf16-graph,bf16-graph-fused,auto} \
  2>&1 | tee "$OUT/bench1024.log"
echo "== quality parity"
python3 tests/bench/quality_parity.py --dataset fashion-mnist --data-dir .gpu/fashion-mnist --device cuda \
  --steps ${PARITY_STEPS:-2000} --variants fp32-eager,auto 2>&1 | tee "$OUT/parity.log"
