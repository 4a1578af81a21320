"""Training in several processes through torchrun and DistributedDataParallel, on the
CPU with the gloo backend: two processes on B images each take the step one process takes
on the global batch of 2B; one run folder; --resume; the --nproc-per-node shortcut."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_cli

HELPER = REPO / "tests" / "helpers" / "ddp_one_step.py"
EXIT_CHECK = REPO / "tests" / "helpers" / "ganzoo_exit_check.py"  # python -m ganzoo, reporting at exit
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _run(command: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_two_processes_take_the_step_one_process_takes_on_the_global_batch(tmp_path):
    single, ddp = tmp_path / "single.pt", tmp_path / "ddp.pt"
    done = _run([sys.executable, str(HELPER), "single", str(single)])
    assert done.returncode == 0, done.stderr
    done = _run([*TORCHRUN, str(HELPER), "ddp", str(ddp)])
    assert done.returncode == 0, done.stderr
    one, two = torch.load(single), torch.load(ddp)
    moved = max((one["generator"][k] - one["generator_before"][k]).abs().max().item() for k in one["generator"])
    assert moved > 1e-3  # the step really changed the weights (two D updates, one G update)
    for net in ("generator", "discriminator"):
        for key, value in one[net].items():
            # The tolerance: fp32 sums over 32 images in one order (one process) or two sums
            # of 16 averaged by the all-reduce (DDP) differ in the last bits, and Adam's first
            # steps (about lr * sign(gradient)) magnify that for tiny gradients: measured
            # up to 1.3e-6, against weight changes above 1e-3.
            torch.testing.assert_close(two[net][key], value, rtol=1e-5, atol=1e-5, msg=f"{net}.{key}")
    assert two["d_loss"] == pytest.approx(one["d_loss"], rel=1e-5)  # the logged loss is the mean over ranks
    # A checkpoint keeps the sums of the unlogged steps averaged over the ranks (every rank
    # resumes from them), not rank 0's own.
    torch.testing.assert_close(two["metric_sums"], one["metric_sums"], rtol=1e-4, atol=1e-5)


def test_torchrun_writes_one_run_folder_and_resumes(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    common = ["--data-dir", str(mnist_like_root), "--runs-dir", str(runs), "-q"]
    first = _run([*TORCHRUN, str(EXIT_CHECK), "train", "acgan", "--recipe", "mnist", *common,
                  "--set", "max_steps=4", "--set", "batch_size=16", "--set", "log_every=2"])
    assert first.returncode == 0, first.stderr
    assert "Grad strides do not match" not in first.stderr  # acgan's channels-last [1, 64, 3, 3] conv: spurious
    # The process group went before the interpreter's teardown (where gloo can abort a
    # rank): nothing holding it (the DDP wrappers) outlived the training.
    assert sorted(re.findall(r"rank (\d): DDP wrappers alive at exit: (\d+)", first.stderr)) == [("0", "0"), ("1", "0")]
    assert [p.name for p in runs.iterdir()] and len(list(runs.iterdir())) == 1  # rank 0 alone created a folder
    run = next(runs.iterdir())
    assert first.stdout.count("run folder:") == 1
    checkpoint = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["rng"]["per_rank"]) == 2
    assert not torch.equal(checkpoint["rng"]["per_rank"][0]["torch"], checkpoint["rng"]["per_rank"][1]["torch"])
    assert "processes: 2" in (run / "config.yaml").read_text()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # one writer: no doubled lines

    # the shortcut runs torchrun itself
    resumed = run_cli("train", "acgan", "--resume", str(run), "--nproc-per-node", "2", "--set", "max_steps=6", *common)
    assert resumed.returncode == 0, resumed.stderr
    assert "Setting OMP_NUM_THREADS" not in resumed.stderr  # the shortcut shared the cores itself
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 6
    assert len(list(runs.iterdir())) == 1

    alone = run_cli("train", "acgan", "--resume", str(run), "--set", "max_steps=8", *common)
    assert alone.returncode == 2
    assert alone.stderr.strip().count("\n") == 0 and "--nproc-per-node 2" in alone.stderr


def test_wgan_gp_with_its_gradient_penalty_trains_under_ddp(mnist_like_root, tmp_path):
    runs = tmp_path / "runs"
    done = _run([*TORCHRUN, "-m", "ganzoo", "train", "wgan-gp", "--recipe", "mnist", "--data-dir", str(mnist_like_root),
                 "--runs-dir", str(runs), "-q", "--set", "max_steps=2", "--set", "batch_size=8", "--set", "width=8",
                 "--set", "conditional=true"])
    assert done.returncode == 0, done.stderr
    line = (next(runs.iterdir()) / "metrics.jsonl").read_text().splitlines()[-1]
    assert '"d_gp"' in line


def test_bad_process_counts_and_sync_batchnorm_on_the_cpu_are_one_line(mnist_like_root, tmp_path):
    bad = run_cli("train", "acgan", "--nproc-per-node", "two")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--nproc-per-node takes" in bad.stderr
    runs = tmp_path / "runs"
    refused = _run([*TORCHRUN, "-m", "ganzoo", "train", "dcgan", "--recipe", "mnist", "--data-dir", str(mnist_like_root),
                    "--runs-dir", str(runs), "-q", "--set", "max_steps=2", "--set", "sync_batchnorm=true"])
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() if line.startswith("ganzoo: error:")]
    assert errors == ["ganzoo: error: sync_batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only"]


def test_sigterm_to_torchrun_stops_every_rank_after_the_same_step_with_a_checkpoint(mnist_like_root, tmp_path):
    import signal
    import time

    runs = tmp_path / "runs"
    command = [*TORCHRUN, str(EXIT_CHECK), "train", "dcgan", "--recipe", "mnist", "--data-dir", str(mnist_like_root),
               "--runs-dir", str(runs), "-q", "--set", "max_steps=100000", "--set", "batch_size=8", "--set", "width=8",
               "--set", "log_every=5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.glob("*/metrics.jsonl")):
        time.sleep(0.5)
    assert list(runs.glob("*/metrics.jsonl")), "training did not start"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    said = [line for line in stderr.splitlines() if line.startswith("ganzoo: error:")]
    assert len(said) == 1 and "interrupted by SIGTERM" in said[0] and "checkpoint saved; resume with" in said[0], stderr
    # a run that stopped on an error leaves nothing holding the process group either
    assert sorted(re.findall(r"rank (\d): DDP wrappers alive at exit: (\d+)", stderr)) == [("0", "0"), ("1", "0")]
    run = next(runs.iterdir())
    step = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert step % 10 == 0  # the ranks agreed on a step (they check every 10)
    resumed = _run([*TORCHRUN, "-m", "ganzoo", "train", "dcgan", "--resume", str(run), "--data-dir", str(mnist_like_root),
                    "-q", "--set", f"max_steps={step + 2}"])
    assert resumed.returncode == 0, resumed.stderr


def test_only_the_spurious_grad_stride_warning_is_silenced():
    """DDP's warning when strides differ only where a dimension has size 1 (the same memory) is
    left out; a real mismatch is still shown."""
    import re

    from ganzoo.train.distributed import spurious_stride_warning

    weight = torch.zeros(1, 64, 3, 3).to(memory_format=torch.channels_last)  # strides (576, 1, 192, 64)
    pattern = re.compile(spurious_stride_warning(weight), re.I)  # as the warnings module compiles it

    def message(grad_strides):
        return ("Grad strides do not match bucket view strides. This may indicate grad was not created according to "
                "the gradient layout contract, or that the param's strides changed since DDP was constructed.  This "
                f"is not an error, but may impair performance.\ngrad.sizes() = [1, 64, 3, 3], strides() = "
                f"[{grad_strides}]\nbucket_view.sizes() = [1, 64, 3, 3], strides() = [576, 1, 192, 64] (Triggered "
                "internally at /pytorch/torch/csrc/distributed/c10d/reducer.cpp:335.)")

    assert pattern.match(message("64, 1, 192, 64"))  # what ganzoo's acgan gets under torchrun
    assert not pattern.match(message("576, 9, 3, 1"))  # contiguous against channels-last: a real copy


def test_the_shortcut_shares_the_cores_among_its_processes(monkeypatch):
    """torchrun alone gives every process 1 thread: 2 of 16 cores for `--nproc-per-node 2`."""
    from ganzoo.launch import threads_per_process, torchrun_command

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert [threads_per_process(count) for count in ("2", "3", "16", "32", "cpu", "gpu", "auto")] == [
        "8", "5", "1", "1", "1", None, None]
    command, environment = torchrun_command(["train", "acgan", "--nproc-per-node", "4", "--recipe", "mnist"])
    assert command[-5:] == ["ganzoo", "train", "acgan", "--recipe", "mnist"] and environment["OMP_NUM_THREADS"] == "4"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stays theirs
    assert threads_per_process("2") is None
    assert torchrun_command(["train", "acgan", "--nproc-per-node=2"])[1]["OMP_NUM_THREADS"] == "3"
