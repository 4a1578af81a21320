"""Training does what it did: the per-step losses and the final weights of every built-in
model, 50 steps on the CPU in fp32, against a record taken before the trainer was
rebuilt around model-owned steps (tests/data/behaviour_record.json; reacgan, sngan and
tacgan joined it before the core's redesign of 0.6).

Float results depend on the CPU's vendor, instruction set and thread count: on a machine
kind that has a record of the model the comparison is bitwise; on another, the first steps' losses must
agree to float rounding, as training's chaos grows it (``EARLY_RTOL``), and the rest is
skipped with the reason. Record a new machine kind with ``python
tests/helpers/behaviour_record.py --data-dir DIR``, DIR made by ``write_record_data``
below.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from conftest import REPO, write_mnist_like

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from behaviour_record import MODELS, machine_key, record  # noqa: E402

RECORD = REPO / "tests" / "data" / "behaviour_record.json"
# On a machine kind without a record, the first steps' losses must agree to these relative
# tolerances. Step 1 is the forward pass and the losses (rounding: at most 7.9e-7 measured);
# step 2 follows Adam's first update, which turns gradients that differ at rounding level
# in sign into whole lr-sized moves (up to 1.0e-4: cgan with MKL held to SSE4.2); after it
# GAN training's chaos grows the difference (up to 2.2e-3 by step 5: wgan-gp, five critic
# updates a step). Measured against the avx512 entries with oneDNN and ATen held to AVX2
# and MKL to AVX2 or SSE4.2 (an AMD EPYC's kernels), at 1 and 2 threads; with the former
# 1e-3 for every step, wgan-gp's step 3 (1.3e-3) failed `make test` there.
EARLY_RTOL = (1e-5, 1e-3, 1e-2, 1e-2, 1e-2)
EARLY_STEPS = len(EARLY_RTOL)  # compared on every machine kind
# One name changed on purpose: wgan-gp's gradient penalty came from its own loss object in
# ganzoo 0.1 (logged as d_penalty); it is the core's gp_weight regulariser now (d_gp).
RENAMED = {"d_penalty": "d_gp"}


def renamed(losses: list[dict]) -> list[dict]:
    return [{RENAMED.get(key, key): value for key, value in step.items()} for step in losses]


def write_record_data(root: Path) -> Path:
    """The data the record was taken on: 100 blob images per class, 28x28, as MNIST IDX."""
    return write_mnist_like(root, per_class=100)


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RECORD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def record_data(tmp_path_factory) -> Path:
    return write_record_data(tmp_path_factory.mktemp("behaviour-data"))


@pytest.fixture(scope="module")
def measured(record_data) -> dict:
    return record(record_data)


def same_as(now: dict, before: dict) -> bool:
    return (now["losses"] == renamed(before["losses"]) and now["generator_sha256"] == before["generator_sha256"]
            and now["discriminator_sha256"] == before["discriminator_sha256"])


@pytest.mark.parametrize("model", MODELS)
def test_training_reproduces_the_record(model, recorded, measured, record_data):
    now = measured[model]
    entries = recorded["machines"]
    if model in entries.get(machine_key(), {}):
        before = entries[machine_key()][model]
        if not same_as(now, before):
            # Seen on the AMX Xeon: about one full suite in five, one model's fp32 run differed from
            # the record in the 7th digit of one loss, and the same test alone then matched. A
            # changed behaviour differs every time, so one fresh measurement decides.
            now = record(record_data, (model,))[model]
        assert now["losses"] == renamed(before["losses"]), f"{model}: the losses changed"
        assert now["generator_sha256"] == before["generator_sha256"], f"{model}: the generator's weights changed"
        assert now["discriminator_sha256"] == before["discriminator_sha256"], f"{model}: D's weights changed"
        return
    kinds = [key for key, models in entries.items() if model in models]
    assert kinds, f"no machine kind has a record of {model}"
    before = entries[kinds[0]][model]
    assert len(now["losses"]) == len(before["losses"])
    for step, (a, b) in enumerate(zip(now["losses"][:EARLY_STEPS], renamed(before["losses"])[:EARLY_STEPS]), start=1):
        assert set(a) == set(b), f"{model} step {step}: logged {sorted(a)}, recorded {sorted(b)}"
        for key in a:
            tolerance = EARLY_RTOL[step - 1]
            assert math.isclose(a[key], b[key], rel_tol=tolerance, abs_tol=min(tolerance, 1e-4)), \
                f"{model} step {step} {key}"
    pytest.skip(f"no bitwise record of {model} for '{machine_key()}' (have: {', '.join(kinds)}); "
                f"the first {EARLY_STEPS} steps agree to {', '.join(map(str, EARLY_RTOL))}")
