"""Latent exploration: spherical and linear paths between seeds start and end at the
seeds' own samples, a walk across classes keeps the noise, the truncation trick pulls the
noise toward its mean (psi 0: one image for every seed); `ganzoo interpolate` writes a
PNG strip and a looping GIF."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

import ganzoo
import ganzoo.api as gz
from ganzoo.interpolate import interpolation_grid, slerp
from ganzoo.generation import latents

from conftest import run_cli
from test_cli import trained_run  # noqa: F401 - the shared tiny run


def test_slerp_keeps_the_ends_and_the_length():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    t = torch.tensor([0.0, 0.5, 1.0])
    path = slerp(a.expand(3, 2), b.expand(3, 2), t)
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[2], b[0])
    assert torch.allclose(path.norm(dim=1), torch.ones(3))  # on the circle, not the chord
    assert torch.allclose(path[1], torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    same = slerp(a.expand(3, 2), a.expand(3, 2), t)  # parallel: a straight line (no 0/0)
    assert torch.allclose(same, a.expand(3, 2))


def test_truncation_pulls_the_noise_to_its_mean():
    g = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28).generator
    draw = lambda psi: latents(g, 256, rng=torch.Generator().manual_seed(3), device=torch.device("cpu"),  # noqa: E731
                               truncation=psi)
    assert torch.equal(draw(0.5), draw(None) * 0.5) and torch.equal(draw(1.0), draw(None))
    assert torch.equal(draw(0.0), torch.zeros(256, 100))  # the mean latent
    for bad in (-1.0, float("inf"), float("nan")):  # inf drew NaN images
        with pytest.raises(ganzoo.UsageError, match="truncation must be a number >= 0"):
            draw(bad)


def test_a_walk_too_long_to_make_and_images_too_many_to_hold_are_refused(trained_run, monkeypatch):  # noqa: F811
    """Before: a million-frame walk, or --n 10^8, ran until the system killed the process."""
    run_dir, _, _ = trained_run
    loaded = gz.load(run_dir, device="cpu")
    with pytest.raises(ganzoo.UsageError, match="--steps 1000000 between 2 seeds makes 1,000,001 frames; a walk has "
                                                "at most 1000"):
        interpolation_grid(loaded.generator, loaded.class_names, seeds=[0, 1], steps=1_000_000, mode="linear",
                           class_spec=None, across_classes=False, device=torch.device("cpu"))
    monkeypatch.setattr("ganzoo.device.available_memory", lambda: 10 * 2**20)  # 10 MiB left
    with pytest.raises(ganzoo.UsageError, match=r"^100,000 images of 1x28x28 need 0.1 GiB of memory and 0.0 GiB is "
                                                r"available; ask for fewer \(--n\)$"):
        loaded.sample(5, n=100_000)
    assert loaded.sample(5, n=1000).shape == (1000, 1, 28, 28)  # 0.75 MiB: fits


def test_truncation_zero_gives_the_mean_latents_image_for_every_seed(trained_run):  # noqa: F811
    run_dir, _, _ = trained_run
    loaded = gz.load(run_dir, device="cpu")
    images = torch.stack([loaded.sample(5, n=1, seed=seed, truncation=0.0)[0] for seed in range(4)])
    assert (images == images[0]).all()
    assert not (torch.stack([loaded.sample(5, n=1, seed=seed)[0] for seed in range(4)]) == images[0]).all()


def test_the_path_starts_and_ends_at_the_seeds_own_samples(trained_run):  # noqa: F811
    run_dir, _, _ = trained_run
    loaded = gz.load(run_dir, device="cpu")
    for mode in ("linear", "spherical"):
        grid = interpolation_grid(loaded.generator, loaded.class_names, seeds=[4, 9], steps=5, mode=mode,
                                  class_spec="3", across_classes=False, device=torch.device("cpu"))
        assert grid.shape == (1, 6, 1, 28, 28)
        first, last = loaded.sample(3, n=1, seed=4)[0], loaded.sample(3, n=1, seed=9)[0]
        assert (grid[0, 0].int() - first.int()).abs().max() <= 1 and (grid[0, -1].int() - last.int()).abs().max() <= 1
    across = interpolation_grid(loaded.generator, loaded.class_names, seeds=[4], steps=2, mode="linear",
                                class_spec=None, across_classes=True, device=torch.device("cpu"))
    assert across.shape == (1, 10, 1, 28, 28)
    assert (across[0, 7].int() - loaded.sample(7, n=1, seed=4)[0].int()).abs().max() <= 1  # the same noise


def test_the_command_writes_a_strip_and_a_looping_gif(trained_run, tmp_path):  # noqa: F811
    run_dir, env, _ = trained_run
    out = tmp_path / "walk.png"
    made = run_cli("interpolate", "acgan", "--run", str(run_dir), "--seeds", "0,1,2", "--steps", "4", "--out", str(out),
                   env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"interpolation: {out} and {out.with_suffix('.gif')}"
    strip = Image.open(out)
    assert strip.size == (9 * 30 + 2, 10 * 30 + 2)  # 9 frames (two legs of 4, then the last seed), a row per class
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames == 9 + 7 and gif.info.get("loop") == 0  # there and back
    again = run_cli("interpolate", "acgan", "--run", str(run_dir), "--out", str(out), env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    one = run_cli("interpolate", "acgan", "--run", str(run_dir), "--seeds", "5", "--out", str(tmp_path / "x.png"),
                  env=env)
    assert one.returncode == 2 and one.stderr.strip() == ("ganzoo: error: --seeds needs at least two seeds to go "
                                                          "between, e.g. --seeds 0,1")
    assert not (tmp_path / "x.png").exists()
    huge = run_cli("interpolate", "acgan", "--run", str(run_dir), "--seeds", f"0,{2**64}", "--out",
                   str(tmp_path / "x.png"), env=env)  # torch's own overflow was an internal error
    assert huge.returncode == 2 and huge.stderr.strip() == (f"ganzoo: error: each of --seeds must be a whole number "
                                                           f"from 0 to 4611686018427387903 (2**62 - 1), got {2**64}")
    assert not (tmp_path / "x.png").exists()
    both = run_cli("interpolate", "acgan", "--run", str(run_dir), "--class", "3", "--across-classes", "--out",
                   str(tmp_path / "x.png"), env=env)
    assert both.returncode == 2 and both.stderr.strip() == ("ganzoo: error: --across-classes walks through every "
                                                           "class: leave out --class")
    assert not (tmp_path / "x.png").exists()
