"""The plugin API's rules and doors beyond models: tunings only for one's own models, a
model's own optimiser, a logger through the hook, and the CUDA-graph bookkeeping of the
default step checked on the CPU."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import ganzoo
from ganzoo import ModelSpec, hookimpl
from ganzoo.data import ImageData
from ganzoo.errors import PluginError
from ganzoo.plugins import register_plugin
from ganzoo.recipes import resolve
from ganzoo.train.loop import Trainer

from conftest import blob_images
from test_training_features import SPEC, toy_trainer


def _plugin_with_tuning(target: str, path):
    class Plugin:
        @hookimpl
        def register_recipes(self, register):
            register("mnist", path, model=target)

    return Plugin()


@pytest.mark.parametrize("target, owner", [("acgan", "plugin 'acgan''s"), ("nosuchgan", "no plugin's")])
def test_a_tuning_of_a_model_the_plugin_does_not_register_is_refused(fresh_plugins, tmp_path, target, owner):
    tuning = tmp_path / "mnist.yaml"
    tuning.write_text("epochs: 3\n")
    with pytest.raises(PluginError, match=f"plugin 'sneaky' ships a tuning of '{target}' for recipe 'mnist', "
                                          f"but '{target}' is {owner} model"):
        register_plugin(_plugin_with_tuning(target, tuning), "sneaky")
    assert fresh_plugins.tuning("acgan", "mnist").owner == "acgan"  # nothing of the plugin was kept


def test_a_tuning_of_its_own_model_as_a_mapping_on_the_spec(fresh_plugins):
    class Own:
        @hookimpl
        def register_models(self, register):
            register(ModelSpec(name="own-gan", build=SPEC.build, loss="hinge", tunings={"mnist": {"epochs": 2}}))

    register_plugin(Own(), "own")
    assert fresh_plugins.tuning("own-gan", "mnist").settings == {"epochs": 2}


def test_a_model_may_bring_its_own_optimiser():
    calls = []

    def sgd(params, *, lr, betas):
        calls.append((lr, betas))
        return torch.optim.SGD(params, lr=lr, momentum=betas[0])

    trainer = toy_trainer()
    spec = replace(SPEC, optimizer=sgd)
    images, labels = blob_images(8, size=8, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [str(k) for k in range(10)])
    settings = resolve(spec, "blobs", {"dataset": "blobs", "image_size": 8, "max_steps": 2, "batch_size": 16,
                                       "precision": "fp32", "lr_d": 1e-3})
    model = ganzoo.BuiltModel(spec, trainer.generator, trainer.discriminator, ganzoo.get_loss("non-saturating"))
    sgd_trainer = Trainer(model, settings, data, device="cpu", progress=False)
    assert isinstance(sgd_trainer.opt_g, torch.optim.SGD) and isinstance(sgd_trainer.opt_d, torch.optim.SGD)
    assert calls == [(2e-4, (0.5, 0.999)), (1e-3, (0.5, 0.999))]
    sgd_trainer.fit()


class RecordingLogger:
    seen: list = []

    def __init__(self, run_dir, settings):
        self.seen.append(("start", settings["logger"]))

    def scalars(self, metrics):
        self.seen.append(("scalars", metrics["step"]))

    def evaluation(self, step, results):
        self.seen.append(("evaluation", step))

    def samples(self, step, grid):
        self.seen.append(("samples", step, tuple(grid.shape)))

    def close(self):
        self.seen.append(("close",))


class LoggerPlugin:
    @hookimpl
    def register_loggers(self, register):
        register("recording", RecordingLogger, "keeps what it is told, for a test")


def test_a_logger_registered_by_a_plugin_gets_the_runs_scalars_and_samples(fresh_plugins, mnist_like_root, tmp_path):
    from ganzoo.train.session import train_run

    register_plugin(LoggerPlugin(), "recorder")
    RecordingLogger.seen = []
    train_run("dcgan", "mnist", overrides=["max_steps=4", "log_every=2", "sample_every=4", "logger=recording",
                                           "width=8", "batch_size=16", "precision=fp32"],
              data_dir=mnist_like_root, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    assert RecordingLogger.seen[0] == ("start", "recording") and RecordingLogger.seen[-1] == ("close",)
    assert [e[1] for e in RecordingLogger.seen if e[0] == "scalars"] == [2, 4]
    assert [e[:2] for e in RecordingLogger.seen if e[0] == "samples"] == [("samples", 4)]
    with pytest.raises(ganzoo.UsageError, match="unknown logger 'recordin'; did you mean 'recording'"):
        train_run("dcgan", "mnist", overrides=["logger=recordin"], data_dir=mnist_like_root, runs_dir=tmp_path / "x")


class StepCounter(ganzoo.Callback):
    """Counts the steps it saw, across resumes (its count goes into every checkpoint)."""

    def __init__(self, settings):
        self.steps = 0
        self.restored = None

    def after_step(self, trainer, last):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = self.restored = state["steps"]


class CallbackPlugin:
    made: list = []

    @hookimpl
    def register_callbacks(self, register):
        def make(settings):
            callback = StepCounter(settings)
            CallbackPlugin.made.append(callback)
            return callback

        register("count-steps", make, "counts the steps, for a test")


def test_a_callback_registered_by_a_plugin_runs_when_named_and_resumes_its_state(fresh_plugins, mnist_like_root,
                                                                                  tmp_path):
    from ganzoo.train.session import resume_run, train_run

    register_plugin(CallbackPlugin(), "counter")
    CallbackPlugin.made = []
    common = ["log_every=2", "width=8", "batch_size=16", "precision=fp32", "checkpoint_every=3"]
    run = train_run("dcgan", "mnist", overrides=["max_steps=4", "callbacks=count-steps", *common],
                    data_dir=mnist_like_root, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    assert [c.steps for c in CallbackPlugin.made] == [4]
    checkpoint = torch.load(run / "checkpoints" / "step_0000003.pt", weights_only=True)
    assert checkpoint["callbacks"]["StepCounter"] == {"steps": 3}  # its state after step 3, in step 3's checkpoint
    resume_run("dcgan", run / "checkpoints" / "step_0000003.pt", overrides=["max_steps=6"], data_dir=mnist_like_root,
               device="cpu", progress=False)
    assert CallbackPlugin.made[-1].restored == 3 and CallbackPlugin.made[-1].steps == 6
    with pytest.raises(ganzoo.UsageError, match="unknown callback 'count-step'; did you mean 'count-steps'"):
        train_run("dcgan", "mnist", overrides=["callbacks=count-step"], data_dir=mnist_like_root, runs_dir=tmp_path)


def test_the_guides_callback_plugin_runs(fresh_plugins, mnist_like_root, tmp_path, capsys):
    """docs/writing-a-plugin.md's callback example, registered as a plugin and named by a run."""
    import re
    import types

    from conftest import REPO
    from ganzoo.train.session import train_run

    guide = (REPO / "docs" / "writing-a-plugin.md").read_text(encoding="utf-8")
    code = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if "class PrintEvery" in block)
    module = types.ModuleType("print_every_plugin")
    exec(compile(code, "writing-a-plugin.md", "exec"), module.__dict__)  # noqa: S102 - our own documentation
    register_plugin(module, "print-every-plugin")
    train_run("dcgan", "mnist", overrides=["max_steps=4", "log_every=2", "callbacks=print-every", "width=8",
                                           "batch_size=16", "precision=fp32"],
              data_dir=mnist_like_root, runs_dir=tmp_path / "runs", device="cpu", progress=False)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in printed] == ["step 2", "step 4"]


class EagerGraph:
    """A CPU stand-in for GraphedStep with the same bookkeeping: warm-up steps that change
    the state, then the state restored from copies (and the RNG), then replays that read
    their inputs from fixed buffers. If the loop leaves a tensor the step changes out of
    the state it hands over, the warm-up's change survives and the run drifts."""

    WARMUP_STEPS = 3

    def __init__(self, step_fn, inputs, state):
        self.step_fn, self.inputs = step_fn, inputs
        saved = [t.detach().clone() for t in state]
        rng = torch.get_rng_state()
        for _ in range(self.WARMUP_STEPS):
            step_fn(*inputs)
        with torch.no_grad():
            for tensor, copy in zip(state, saved):
                tensor.copy_(copy)
        torch.set_rng_state(rng)

    def __call__(self, *values):
        for buffer, value in zip(self.inputs, values):
            buffer.copy_(value)
        self.step_fn(*self.inputs)


def test_the_capture_bookkeeping_keeps_the_trajectory(monkeypatch):
    """The default step with EMA and augmentation, run through the capture path's state
    save and restore (an eager stand-in for the CUDA graph), trains bit for bit as eager."""
    import ganzoo.train.loop as loop

    settings = {"ema": 0.9, "augment": "translation,cutout", "r1_gamma": 0.5, "max_steps": 5}
    eager = toy_trainer(**settings)
    eager.fit()
    monkeypatch.setattr(loop, "GraphedStep", EagerGraph)
    graphed = toy_trainer(**settings)
    graphed.plan = replace(graphed.plan, cuda_graph=True)
    graphed.fit()
    assert graphed._graphed is not None and graphed.step_context.graphed
    for a, b in ((eager.generator, graphed.generator), (eager.discriminator, graphed.discriminator),
                 (eager.ema.model, graphed.ema.model)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name
    assert [m["d_loss"] for m in eager.history] == [m["d_loss"] for m in graphed.history]
