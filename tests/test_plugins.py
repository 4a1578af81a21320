import importlib
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
        assert status["broken_register"] == ("failed", "RuntimeError: cannot build my model today")
        assert all(status[name][0] == "ok" for name in ZOO)
        assert ganzoo.list_models() == ZOO
        err = capsys.readouterr().err
        assert "plugin 'broken_import' skipped: ImportError: needs the package frobnicate" in err
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
        assert err == ["ganzoo: loss 'shared-loss' is registered by plugins 'alpha' and 'beta'; neither gets it "
                       "(disable one with GANZOO_DISABLE_PLUGINS)",
                       "ganzoo: model 'shared-gan' is registered by plugins 'alpha' and 'beta'; neither gets it "
                       "(disable one with GANZOO_DISABLE_PLUGINS)"]
        with pytest.raises(UsageError, match="model 'shared-gan' is registered by plugins 'alpha' and 'beta', so by "
                                             "neither; disable one with GANZOO_DISABLE_PLUGINS"):
            ganzoo.get_model("shared-gan")
        monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "beta")
        plugins.reload()
        assert ganzoo.list_models() == ["alpha-gan", "shared-gan"]  # the user's choice settles it
    finally:
        monkeypatch.undo()
        plugins.forget()
