import importlib
import re
import textwrap

import pytest

import ganzoo
from ganzoo import ModelSpec, hookimpl
from ganzoo.errors import PluginError, UsageError
from ganzoo.plugins import register_plugin, unregister_plugin

from conftest import run_cli


def test_acgan_arrives_through_its_real_entry_point(fresh_plugins):
    info = {p.name: p for p in fresh_plugins.plugins}
    assert info["acgan"].status == "ok"
    assert info["acgan"].distribution == "ganzoo-acgan"
    assert info["acgan"].location.endswith("ganzoo_acgan/__init__.py")
    assert "acgan" in ganzoo.list_models()
    assert fresh_plugins.models.owner("acgan") == "acgan"
    built = ganzoo.get_model("acgan", num_classes=10, channels=1, image_size=28)
    assert built.generator.latent_dim == 100 and built.generator.image_shape == (1, 28, 28)
    assert type(built.loss).__name__ == "ACGANLoss"


from ganzoo_acgan import build as _tiny_build  # any real builder will do for a fake model


class FakePlugin:
    def __init__(self, recipe_path):
        self.recipe_path = recipe_path

    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="fake-gan", build=_tiny_build, loss="acgan", description="a test model"))

    @hookimpl
    def register_recipes(self, register):
        register("fake-recipe", self.recipe_path)


ZOO = ["acgan", "cgan", "dcgan", "reacgan", "sngan", "tacgan", "wgan-gp"]  # the plugins this repository installs
ALL_OF_THEM = ",".join(ZOO)


def test_a_plugin_registered_in_a_test_adds_a_model_and_a_recipe(fresh_plugins, tmp_path):
    recipe = tmp_path / "fake.yaml"
    recipe.write_text("dataset: mnist\n")
    register_plugin(FakePlugin(recipe), "fake")
    assert ganzoo.list_models("fake*") == ["fake-gan"]
    assert fresh_plugins.recipes.get("fake-recipe").owner == "fake"
    unregister_plugin("fake")
    assert ganzoo.list_models("fake*") == []
    assert ganzoo.list_models() == ZOO


class MisspelledHook:
    @hookimpl
    def register_model(self, register):  # the spec is register_models
        raise AssertionError("never called")


def test_a_hook_that_matches_no_spec_fails_loudly(fresh_plugins):
    with pytest.raises(PluginError, match="unknown hook 'register_model'; did you mean 'register_models'"):
        register_plugin(MisspelledHook(), "typo")
    assert "typo" not in [name for name, _ in fresh_plugins.pm.list_name_plugin()]


class Duplicate:
    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="acgan", build=_tiny_build, loss="acgan"))


def test_a_duplicate_model_name_is_refused(fresh_plugins):
    with pytest.raises(PluginError, match=r"already taken: model 'acgan' \(already acgan's\)"):
        register_plugin(Duplicate(), "dup")
    assert fresh_plugins.models.owner("acgan") == "acgan"


def _install_fake_distribution(site, name, module_source):
    """A dist-info folder on sys.path makes its entry point as real as pip's."""
    (site / f"{name}.py").write_text(textwrap.dedent(module_source))
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[ganzoo]\n{name} = {name}\n")


def test_broken_plugins_are_reported_and_skipped(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_distribution(site, "broken_import", "raise ImportError('needs the package frobnicate')\n")
    _install_fake_distribution(
        site,
        "broken_register",
        """
        from ganzoo import hookimpl

        @hookimpl
        def register_models(register):
            raise RuntimeError('cannot build my model today')
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    from ganzoo import plugins

    try:
        host = plugins.reload()
        status = {p.name: (p.status, p.reason) for p in host.plugins}
        assert status["broken_import"] == ("failed", "ImportError: needs the package frobnicate")
        # what raised, in which hook, where in the plugin's code
        assert status["broken_register"] == (
            "failed", "register_models raised RuntimeError: cannot build my model today (broken_register.py:6)")
        assert all(status[name][0] == "ok" for name in ZOO)
        assert ganzoo.list_models() == ZOO
        err = capsys.readouterr().err
        assert "plugin 'broken_import' skipped: ImportError: needs the package frobnicate (set GANZOO_DEBUG=1" in err
    finally:
        plugins.forget()


def test_disabled_plugins_leave_a_core_with_no_models(fresh_plugins, monkeypatch, capsys):
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", ALL_OF_THEM.replace(",", ", ") + ", other")
    from ganzoo import plugins

    host = plugins.reload()
    assert len(host.models) == 0
    assert [(p.name, p.status) for p in host.plugins if p.name in ZOO] == [(name, "disabled") for name in ZOO]
    assert capsys.readouterr().err.startswith("ganzoo: GANZOO_DISABLE_PLUGINS names no installed plugin: other (")
    with pytest.raises(UsageError, match="model 'acgan' is not available: its plugin 'acgan' is disabled by "
                                         "GANZOO_DISABLE_PLUGINS"):
        ganzoo.get_model("acgan")
    with pytest.raises(UsageError, match=r"unknown model 'bigan' \(none available\) \(plugins disabled by"):
        ganzoo.get_model("bigan")


def test_cli_without_plugins_lists_no_models_and_trains_none():
    env = {"GANZOO_DISABLE_PLUGINS": ALL_OF_THEM}
    listing = run_cli("models", env=env)
    assert listing.returncode == 0
    assert "no models registered" in listing.stdout
    plugins = run_cli("plugins", env=env)
    assert "disabled: blocked by GANZOO_DISABLE_PLUGINS" in plugins.stdout
    train = run_cli("train", "acgan", "--recipe", "mnist", env=env)
    assert train.returncode == 2
    assert train.stderr.strip() == ("ganzoo: error: model 'acgan' is not available: its plugin 'acgan' is disabled "
                                    "by GANZOO_DISABLE_PLUGINS")


class _EntryPoint:
    """Stands in for an installed entry point whose module is ``plugin``."""

    def __init__(self, name, plugin):
        self.name, self.value, self.dist, self._plugin = name, f"{name}_module", None, plugin

    def load(self):
        return self._plugin


def _plugin_registering(*models, loss=None):
    class Plugin:
        @hookimpl
        def register_models(self, register):
            for model in models:
                register(ModelSpec(name=model, build=_tiny_build, loss="non-saturating", tunings={"mnist": {"epochs": 2}}))

        @hookimpl
        def register_losses(self, register):
            if loss:
                register(loss, object)

    return Plugin()


@pytest.mark.parametrize("order", [("alpha", "beta"), ("beta", "alpha")])
def test_a_name_two_plugins_register_goes_to_neither_whatever_the_order(monkeypatch, capsys, order):
    from importlib import metadata

    from ganzoo import plugins

    made = {"alpha": _plugin_registering("shared-gan", "alpha-gan", loss="shared-loss"),
            "beta": _plugin_registering("shared-gan", "beta-gan", loss="shared-loss")}
    entry_points = [_EntryPoint(name, made[name]) for name in order]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: entry_points)
    try:
        host = plugins.reload()
        assert ganzoo.list_models() == ["alpha-gan", "beta-gan"]  # the uncontested models of both load
        assert host.tuned_recipes("alpha-gan") == ["mnist"] and host.tuned_recipes("shared-gan") == []
        err = capsys.readouterr().err.splitlines()
        choose = ("so by neither; choose one: GANZOO_DISABLE_PLUGINS=beta keeps 'alpha''s or "
                  "GANZOO_DISABLE_PLUGINS=alpha keeps 'beta''s")
        assert err == [f"ganzoo: loss 'shared-loss' is registered by plugins 'alpha' and 'beta', {choose}",
                       f"ganzoo: model 'shared-gan' is registered by plugins 'alpha' and 'beta', {choose}"]
        with pytest.raises(UsageError, match=f"model 'shared-gan' is registered by plugins 'alpha' and 'beta', "
                                             f"{re.escape(choose)}"):
            ganzoo.get_model("shared-gan")
        status = {p.name: (p.status, p.reason) for p in host.plugins}
        assert status["alpha"] == ("contested", "loss 'shared-loss', model 'shared-gan' registered by another plugin "
                                                "too")
        monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "beta")
        plugins.reload()
        assert ganzoo.list_models() == ["alpha-gan", "shared-gan"]  # the user's choice settles it
    finally:
        monkeypatch.undo()
        plugins.forget()


def test_a_run_made_by_a_plugin_keeps_working_when_another_plugin_takes_its_models_name(monkeypatch, tmp_path,
                                                                                        mnist_like_root):
    """The run records the plugin that made its model (config.yaml's origin): sampling,
    evaluating, exporting and resuming it build that plugin's model although a second
    plugin now registers the name too; a new run of the name is refused, saying how to
    choose; `ganzoo models` and `ganzoo plugins` show the contest."""
    from importlib import metadata

    import ganzoo.api as gz
    from ganzoo import listings, plugins
    from ganzoo.tables import model_line

    from ganzoo import standard

    made = {"alpha": _plugin_registering("shared-gan"), "beta": _plugin_registering("shared-gan"), "standard": standard}
    everyone_elses = metadata.entry_points  # torch's own lazy imports look up theirs (triton's backends)

    def entry_points(group=None, **select):
        return [_EntryPoint(n, made[n]) for n in made] if group == "ganzoo" else everyone_elses(group=group, **select)

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "beta")
    try:
        plugins.reload()
        run = gz.train("shared-gan", settings={"max_steps": 2, "batch_size": 16}, data_dir=mnist_like_root,
                       runs_dir=tmp_path / "runs", device="cpu")
        assert (run / "config.yaml").read_text().count("plugin: alpha") == 1
        monkeypatch.delenv("GANZOO_DISABLE_PLUGINS")
        plugins.reload()  # now both register shared-gan
        assert gz.load(run, device="cpu").sample(3, n=2).shape == (2, 1, 28, 28)
        assert gz.resume(run, settings={"max_steps": 3}, device="cpu") == run
        with pytest.raises(UsageError, match="model 'shared-gan' is registered by plugins 'alpha' and 'beta'"):
            gz.train("shared-gan", settings={"max_steps": 2}, data_dir=mnist_like_root, runs_dir=tmp_path / "runs")
        [row] = [row for row in listings.models() if row["name"] == "shared-gan"]
        assert row["contested_by"] == ["alpha", "beta"]
        assert "not available" in model_line(row) and "choose one" in model_line(row)
    finally:
        monkeypatch.undo()
        plugins.forget()


FAULTY_GAN = """
import ganzoo
from ganzoo import ModelSpec, hookimpl
from ganzoo_dcgan import build


class FaultyStep(ganzoo.AdversarialStep):
    def generator_terms(self, fake, fake_labels):
        return {"g_loss": fake.source.mean() / 0 + {}["no such key"]}


@hookimpl
def register_models(register):
    register(ModelSpec(name="faulty-gan", build=build, loss="non-saturating", step=FaultyStep))
"""


def test_an_error_in_a_plugins_own_code_names_the_plugin_and_the_place(tmp_path, mnist_like_root):
    """Not "internal error": the plugin, its method, file and line; GANZOO_DEBUG=1 is
    suggested only where it is not set."""
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_distribution(site, "faulty_gan", FAULTY_GAN)
    args = ("train", "faulty-gan", "--recipe", "mnist", "--data-dir", str(mnist_like_root), "--runs-dir",
            str(tmp_path / "runs"), "--set", "max_steps=2", "--set", "batch_size=16", "--set", "width=8", "-q")
    failed = run_cli(*args, env={"PYTHONPATH": str(site)})
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines() == [
        "ganzoo: error: plugin 'faulty_gan' failed in generator_terms at faulty_gan.py:9: KeyError: 'no such key' "
        "(set GANZOO_DEBUG=1 for the traceback)"]
    debugged = run_cli(*args, env={"PYTHONPATH": str(site), "GANZOO_DEBUG": "1"})
    assert "Traceback" in debugged.stderr
    assert debugged.stderr.strip().splitlines()[-1] == ("ganzoo: error: plugin 'faulty_gan' failed in generator_terms "
                                                         "at faulty_gan.py:9: KeyError: 'no such key'")


def test_a_checkpoint_that_does_not_fit_says_what_and_which_plugin_made_it(tmp_path, mnist_like_root):
    """Not torch's bare heading ("Error(s) in loading state_dict for DCGANGenerator:"), but
    its first detail; and when another plugin made the run, that plugin."""
    import torch

    import ganzoo.api as gz
    from ganzoo.artifacts import load_generator
    from ganzoo.errors import CheckpointError
    from ganzoo.runs.checkpoint import load_checkpoint, save_checkpoint

    run = gz.train("dcgan", settings={"max_steps": 1, "batch_size": 16, "width": 8}, data_dir=mnist_like_root,
                   runs_dir=tmp_path / "runs", device="cpu")
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    assert payload["config"]["origin"] == {"plugin": "dcgan", "distribution": "ganzoo-dcgan",
                                           "version": payload["config"]["origin"]["version"]}
    payload["config"]["settings"]["width"] = 16  # the weights no longer fit what the config builds
    payload["config"]["origin"] = {"plugin": "other-dcgan", "distribution": "other-gans", "version": "9.9"}
    moved = tmp_path / "moved.pt"
    save_checkpoint(moved, {key: value for key, value in payload.items() if key != "format"})
    with pytest.raises(CheckpointError) as refused:
        load_generator(moved, "dcgan", torch.device("cpu"))
    message = str(refused.value)
    assert "Error(s) in loading state_dict for DCGANGenerator: size mismatch for " in message
    assert message.endswith("; the run was made by plugin 'other-dcgan' (other-gans 9.9), and 'dcgan' is now plugin "
                            "'dcgan''s") and "\n" not in message
