"""The CUDA-graph step computes what the eager step computes (runs only where CUDA is)."""

import ganzoo
import pytest
import torch

from ganzoo.data import ImageData
from ganzoo.zoo import build_model
from ganzoo.recipes import resolve
from ganzoo.train.loop import Trainer
from ganzoo.train.session import seed_everything

from conftest import blob_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")

STEPS = 6
TOLERANCE = 1e-2  # relative difference of the weight updates, graph vs eager


def _trainer(cuda_graph: str, precision: str = "fp32") -> Trainer:
    images, labels = blob_images(30, size=16, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [str(k) for k in range(10)])
    recipe = {"dataset": "blobs", "image_size": 16, "channels": 1, "epochs": 100, "max_steps": STEPS,
              "batch_size": 64, "log_every": STEPS, "seed": 0, "precision": precision,
              "channels_last": "off", "cuda_graph": cuda_graph}
    settings = resolve(ganzoo.get_model_spec("acgan"), "blobs", recipe)
    seed_everything(0)
    torch.cuda.manual_seed_all(0)
    model = build_model("acgan", settings, data.num_classes)
    return Trainer(model, settings, data, device="cuda", progress=False)


def _weights(trainer: Trainer) -> torch.Tensor:
    params = list(trainer.generator.parameters()) + list(trainer.discriminator.parameters())
    return torch.cat([p.detach().float().flatten() for p in params])


def _fit_from_seed(trainer: Trainer) -> None:
    """Both trainers share torch's global CUDA generator (dropout): start each from the same state."""
    torch.manual_seed(123)
    torch.cuda.manual_seed_all(123)
    trainer.fit()


@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "dropout"])
def test_graphed_and_eager_steps_give_the_same_weights(dropout, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    eager, graphed = _trainer("off"), _trainer("on")
    if not dropout:  # the graph machinery alone, free of random masks
        for trainer in (eager, graphed):
            for module in trainer.discriminator.modules():
                if isinstance(module, torch.nn.Dropout2d):
                    module.p = 0.0
    start = _weights(eager)
    assert torch.equal(start, _weights(graphed))
    _fit_from_seed(eager)
    _fit_from_seed(graphed)
    assert graphed._graphed is not None, "the step was not captured"
    assert eager._graphed is None
    moved = _weights(eager) - start
    difference = (_weights(graphed) - _weights(eager)).norm() / moved.norm()
    print(f"dropout={dropout}: relative difference of the weight updates after {STEPS} steps: {difference:.2e}")
    assert moved.norm() > 0
    assert difference < TOLERANCE
    # the losses the two logged agree too
    assert graphed.history[-1]["d_loss"] == pytest.approx(eager.history[-1]["d_loss"], rel=1e-3)


def test_graphed_bf16_step_trains_with_finite_losses():
    trainer = _trainer("on", precision="bf16")
    trainer.fit()
    assert trainer._graphed is not None
    assert all(torch.isfinite(torch.tensor([m["d_loss"], m["g_loss"]])).all() for m in trainer.history)


def test_a_failed_capture_falls_back_to_eager(monkeypatch, capsys):
    import ganzoo.train.loop as trainer_module

    def refuse(*args, **kwargs):
        raise RuntimeError("capture refused for the test")

    monkeypatch.setattr(trainer_module, "GraphedStep", refuse)
    trainer = _trainer("on")
    trainer.fit()
    assert trainer._graphed is None and not trainer.plan.cuda_graph
    assert "CUDA graph capture failed, training eagerly (capture refused for the test)" in capsys.readouterr().err
