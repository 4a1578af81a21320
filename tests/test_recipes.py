import subprocess
import sys

import pytest
import torch

import ganzoo
from ganzoo.errors import UsageError
from ganzoo.plugins import get_host
from ganzoo.recipes import load_recipe, load_tuning, parse_overrides, resolve

from conftest import REPO


def resolved(recipe="mnist", overrides=(), model="acgan"):
    host = get_host()
    name, raw = load_recipe(recipe, host.recipes)
    tuning = load_tuning(host.tuning(model, name)) if recipe in host.recipes else {}
    return resolve(ganzoo.get_model_spec(model), name, raw, parse_overrides(overrides), tuning)


def test_builtin_recipes_are_registered():
    assert {"mnist", "fashion-mnist", "cifar10", "emoji"} <= set(get_host().recipes)


def test_mnist_with_the_reference_preset_reproduces_the_reference_configuration():
    s = resolved(overrides=["preset=reference"])
    assert s["dataset"] == "mnist" and s["image_size"] == 28 and s["channels"] == 1
    assert s["batch_size"] == 64 and s["lr"] == 2e-4 and s["betas"] == [0.5, 0.999]
    assert s["lr_g"] is None and s["lr_d"] is None and s["ema"] == 0
    assert s["epochs"] == 100 and s["sample_every"] == 400 and s["max_steps"] is None
    assert s["latent_dim"] == 100 and s["bn_eps"] == 0.8 and s["reference_init"] is True
    assert s["loss"] == "acgan"


def test_cifar10_is_three_channel_32px():
    s = resolved("cifar10")
    assert (s["channels"], s["image_size"], s["dataset"]) == (3, 32, "cifar10")


def test_sngan_tunes_fashion_mnist_only():
    """SNGAN's tuning of fashion-mnist (G at 128 maps and SAGAN's TTUR: with 64 maps or five
    D updates per step it drops classes there) reaches the resolved settings and the built
    generator; mnist keeps the paper's defaults, and --set still wins."""
    s = resolved("fashion-mnist", model="sngan")
    assert (s["g_width"], s["n_critic"], s["lr_g"], s["lr_d"]) == (128, 1, 1e-4, 4e-4)
    paper = resolved("mnist", model="sngan")
    assert (paper["g_width"], paper["n_critic"], paper["lr_g"], paper["lr"]) == (64, 5, None, 2e-4)
    assert resolved("fashion-mnist", ["n_critic=5"], model="sngan")["n_critic"] == 5
    assert resolved("fashion-mnist", ["g_width=64"], model="sngan")["g_width"] == 64
    widths = {"g_width": s["g_width"], "d_width": s["d_width"]}
    generator = ganzoo.get_model("sngan", **widths, channels=1, image_size=28).generator
    assert generator(torch.randn(2, 128)).shape == (2, 1, 28, 28)
    assert max(p.shape[0] for p in generator.parameters() if p.dim() == 4) == 128


def test_overrides_are_typed():
    s = resolved(overrides=["lr=1e-4", "max_steps=10", "batch_size=32", "betas=0.0,0.9", "latent_dim=64"])
    assert s["lr"] == 1e-4 and isinstance(s["lr"], float)
    assert s["max_steps"] == 10 and s["batch_size"] == 32 and s["betas"] == [0.0, 0.9] and s["latent_dim"] == 64


@pytest.mark.parametrize(
    "override, message",
    [
        ("bach_size=3", r"unknown setting 'bach_size' in --set; did you mean 'batch_size'"),
        ("lr=0", r"setting 'lr' must be > 0, got 0.0"),
        ("lr=-1e-3", r"setting 'lr' must be > 0"),
        ("batch_size=0", r"setting 'batch_size' must be > 0"),
        ("epochs=-1", r"setting 'epochs' must be >= 0"),
        ("batch_size=sixty", r"setting 'batch_size' must be a whole number, got 'sixty'"),
        ("batch_size=6.5", r"must be a whole number"),
        ("lr=fast", r"setting 'lr' must be a number"),
        ("betas=0.5", r"two numbers"),
        ("reference_init=maybe", r"true or false"),
        ("nokey", r"--set takes key=value"),
    ],
)
def test_bad_overrides_are_usage_errors(override, message):
    with pytest.raises(UsageError, match=message):
        resolved(overrides=[override])


def test_recipe_from_a_path_with_a_per_model_section(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: fashion-mnist\nepochs: 3\nmodels:\n  acgan:\n    latent_dim: 32\n  othergan:\n    foo: 1\n")
    name, _ = load_recipe(str(path), get_host().recipes)
    assert name == "mine"
    r = resolved(str(path), overrides=["epochs=4"])
    assert r["dataset"] == "fashion-mnist" and r["latent_dim"] == 32 and r["epochs"] == 4


def test_unknown_recipe_name_suggests_close_matches():
    with pytest.raises(UsageError, match="unknown recipe 'mnst'; did you mean 'mnist'"):
        resolved("mnst")


def test_unknown_key_in_a_recipe_names_the_recipe(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("dataset: mnist\nsample_evry: 10\n")
    with pytest.raises(UsageError, match=r"unknown setting 'sample_evry' in recipe 'typo'; did you mean 'sample_every'"):
        resolved(str(path))


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("dataset: mnist\nepochs: [1, 2\nlr: 3\n")
    with pytest.raises(UsageError, match=rf"{path}:3: malformed YAML"):
        resolved(str(path))


def test_a_key_given_twice_is_an_error_not_the_last_one_winning(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("dataset: mnist\nlr: 1e-4\nmodels:\n  acgan: {epochs: 1, epochs: 2}\n")
    with pytest.raises(UsageError, match=rf"{path}:4: malformed YAML: duplicate key 'epochs' \(first given on line 4\)"):
        resolved(str(path))
    path.write_text("dataset: mnist\nlr: 1e-4\nbatch_size: 32\nlr: 2e-4\n")
    with pytest.raises(UsageError, match=rf"{path}:4: malformed YAML: duplicate key 'lr' \(first given on line 2\)"):
        resolved(str(path))


def test_python_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("dataset: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UsageError, match="malformed YAML"):
        resolved(str(path))


def test_a_recipe_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- dataset\n- mnist\n")
    with pytest.raises(UsageError, match="must be a mapping"):
        resolved(str(path))


def test_recipes_ship_inside_a_plain_install(tmp_path):
    """A non-editable install of the core finds its recipes from any working directory."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-compile", "--target", str(target), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import ganzoo, ganzoo.plugins as p; h = p.PluginHost(); "
        "print(ganzoo.__file__); print(sorted(h.recipes)); print(h.recipes.get('mnist').path)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(target))
    assert lines[1] == "['cifar10', 'emoji', 'fashion-mnist', 'mnist']"
    assert lines[2].startswith(str(target)) and lines[2].endswith("mnist.yaml")


def test_settings_may_be_named_with_their_group_in_set_and_in_yaml(tmp_path):
    flat = resolved(overrides=["precision=fp32", "log_every=7"])
    assert resolved(overrides=["speed.precision=fp32", "intervals.log_every=7"]) == flat
    recipe = tmp_path / "grouped.yaml"
    recipe.write_text("dataset: mnist\nspeed:\n  precision: fp32\nintervals: {log_every: 7}\n")
    from_yaml = resolved(str(recipe))
    assert from_yaml["precision"] == "fp32" and from_yaml["log_every"] == 7 and "speed" not in from_yaml
    with pytest.raises(UsageError, match="group 'speed' has no setting 'log_every' .*--set"):
        resolved(overrides=["speed.log_every=7"])
    with pytest.raises(UsageError, match="group 'speed' has no setting 'precison'.*did you mean 'precision'"):
        resolved(overrides=["speed.precison=fp32"])


def test_the_recipe_page_lists_every_group_as_the_code_has_it():
    """docs/recipes.md's group table is the settings' own groups, in order."""
    import re

    from ganzoo.settings import GROUPS, TRAIN_SETTINGS

    page = (REPO / "docs" / "recipes.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z]+)` \| ((?:`[a-z_0-9]+`(?:, )?)+) \|$", page, re.M))
    assert list(rows) == list(GROUPS)
    for group, listed in rows.items():
        assert re.findall(r"`([a-z_0-9]+)`", listed) == [k for k, s in TRAIN_SETTINGS.items() if s.group == group]


def test_whether_a_setting_may_change_on_resume_is_a_field_of_the_setting():
    from ganzoo.settings import TRAIN_SETTINGS, resumable_settings

    assert set(resumable_settings()) == {key for key, setting in TRAIN_SETTINGS.items() if setting.resumable}
    assert {"max_steps", "epochs", "log_every", "precision", "logger", "callbacks"} <= set(resumable_settings())
    assert not {"lr", "batch_size", "seed", "dataset", "sync_batchnorm"} & set(resumable_settings())


def test_run_settings_read_by_key_or_attribute_with_the_core_defaults():
    from ganzoo.settings import RunSettings

    settings = RunSettings({"batch_size": 16, "latent_dim": 64})
    assert settings.batch_size == settings["batch_size"] == 16 and settings.latent_dim == 64
    assert settings.n_critic == 1 and settings.group("budget")["batch_size"] == 16
    with pytest.raises(AttributeError, match="no setting 'n_critc'; did you mean 'n_critic'"):
        settings.n_critc


def test_run_settings_survive_copy_and_pickle():
    """A callback or a worker process may copy a run's settings; before, the attribute
    lookup recursed while copy and pickle rebuilt the object (RecursionError)."""
    import copy
    import pickle

    from ganzoo.settings import RunSettings

    settings = RunSettings({"batch_size": 16})
    for twin in (copy.copy(settings), copy.deepcopy(settings), pickle.loads(pickle.dumps(settings))):
        assert twin.batch_size == 16 and dict(twin) == dict(settings)


def test_a_size_of_zero_is_refused_in_words_not_trained(recwarn):
    """--set latent_dim=0 built layers with no weights and trained, after torch's raw
    'Initializing zero-element tensors is a no-op' warning."""
    from ganzoo.errors import UsageError
    from ganzoo.zoo import build_model

    with pytest.raises(UsageError, match=r"acgan with latent_dim=0 has a layer with no weights .*at least 1"):
        build_model("acgan", resolved(overrides=["latent_dim=0"]), 10)
    assert not [w for w in recwarn if "zero-element" in str(w.message)]
    assert build_model("acgan", resolved(overrides=["latent_dim=8"]), 10).generator is not None
