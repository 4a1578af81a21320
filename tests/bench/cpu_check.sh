#!/usr/bin/env bash
# Everything a 2-core CPU of a kind not yet measured needs checked (an AVX2-only AMD EPYC,
# or a Xeon with AMX), in one run, each part alone on the machine (on 2 cores, concurrent
# PyTorch processes slow each other 15-30x: start nothing else meanwhile):
#   - the CPU (model, the flags that decide) and what `auto` picks on it,
#   - `make test`'s wall time and its skips (the suite's target: under 15 minutes),
#   - train_speed.py against the reference loop: auto and the paths it was chosen over
#     (fp32 without AMX, bf16 with it),
#   - concurrency.py: 1, 2 and 3 trainings at once, and a training beside the test suite,
#   - `make demo`'s wall time (the 3,000-step training, then sampling and evaluation).
# Needs the MNIST copy in ../shared/datasets/mnist-5k (or DATA_DIR) and a venv made by
# `make setup` (`make test` makes it). Logs and summary.txt go to OUT (default
# /tmp/ganzoo-cpu-check). Parts can be skipped: SKIP="tests demo concurrency speed".
# About 40 minutes in all on an AVX2-only CPU:
#   tests/bench/cpu_check.sh 2>&1 | tee /tmp/cpu_check.log
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ganzoo-cpu-check}; mkdir -p "$OUT"
DATA_DIR=${DATA_DIR:-../shared/datasets/mnist-5k}
SKIP=${SKIP:-}
PY=.venv/bin/python
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
skipped() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
clock() { date +%s; }

[ -d "$DATA_DIR" ] || { echo "cpu_check: no MNIST copy at $DATA_DIR (set DATA_DIR)" >&2; exit 2; }
[ -x "$PY" ] || make setup >"$OUT/setup.log" 2>&1 || { echo "cpu_check: make setup failed, see $OUT/setup.log" >&2; exit 1; }

say "== CPU"
say "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') (family $(grep -m1 '^cpu family' /proc/cpuinfo | sed 's/.*: //'), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores)"
say "deciding flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_bf16|amx_bf16|amx_tile' | sort | tr '\n' ' ')"
say "auto picks: $($PY -c 'import torch; from ganzoo.speed import plan_speed; print(plan_speed({}, torch.device("cpu")).describe())')"
if grep -qw amx_bf16 /proc/cpuinfo; then VARIANTS=${VARIANTS:-auto,bf16-unkept,bf16-split,fp32-channels-last}
else VARIANTS=${VARIANTS:-auto,fp32-unkept,fp32-phases,fp32-unsplit}; fi

if ! skipped tests; then
  say "== make test"
  start=$(clock)
  make test >"$OUT/test.log" 2>&1
  rc=$?
  say "make test: rc $rc, $(( $(clock) - start )) s in all; $(grep -E '[0-9]+ (passed|failed)' "$OUT/test.log" | tail -1)"
  grep -E '^SKIPPED' "$OUT/test.log" | tee -a "$SUMMARY"
fi

if ! skipped speed; then
  say "== train_speed.py, batch 64 (variants $VARIANTS)"
  $PY tests/bench/train_speed.py --data-dir "$DATA_DIR" --steps "${STEPS:-100}" --rounds "${ROUNDS:-3}" \
    --variants "$VARIANTS" 2>&1 | tee "$OUT/speed.log" | tee -a "$SUMMARY"
fi

if ! skipped concurrency; then
  say "== concurrency.py: 1, 2, 3 trainings at once"
  $PY tests/bench/concurrency.py --data-dir "$DATA_DIR" --copies 1,2,3 --steps 150 2>&1 | tee "$OUT/concurrency.log" \
    | tee -a "$SUMMARY"
  say "== concurrency.py: a training beside the test suite"
  $PY tests/bench/concurrency.py --data-dir "$DATA_DIR" --copies 1 --steps 150 --log-every 25 --beside-tests \
    --head-start 30 2>&1 | tee "$OUT/beside_tests.log" | tee -a "$SUMMARY"
fi

if ! skipped demo; then
  say "== make demo"
  start=$(clock)
  make demo DEMO_RUNS="$OUT/demo-runs" DEMO_DATA="$DATA_DIR" >"$OUT/demo.log" 2>&1
  rc=$?
  say "make demo: rc $rc, $(( $(clock) - start )) s in all"
  metrics=$(ls -t "$OUT"/demo-runs/*/metrics.jsonl 2>/dev/null | head -1)
  [ -n "$metrics" ] && say "its training: $($PY -c 'import json, sys
last = [json.loads(line) for line in open(sys.argv[1]) if "elapsed_s" in line][-1]
print(last["step"], "steps in", round(last["elapsed_s"]), "s")' "$metrics")"
  grep -E '^(accuracy mean|classifier FID|CAS)' "$OUT/demo.log" | tee -a "$SUMMARY"
fi
say "summary: $SUMMARY"
