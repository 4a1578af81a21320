"""One training step of a small BN-free conditional GAN, either in one process on a
global batch of 2B images or under torchrun in two processes of B images each; rank 0
saves the parameters after the step and the metric sums a checkpoint keeps after a
second one (tests/test_distributed.py compares the two).

    python tests/helpers/ddp_one_step.py single OUT.pt
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/helpers/ddp_one_step.py ddp OUT.pt
"""

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for conftest's blob_images

import ganzoo
from ganzoo.train import distributed
from ganzoo.data import ImageData
from ganzoo.recipes import resolve
from ganzoo.train.loop import Trainer
from ganzoo.train.state import checkpoint_payload
from ganzoo.train.session import seed_everything
from conftest import blob_images

PER_RANK_BATCH = 16


class Gen(ganzoo.Generator):
    def __init__(self):
        super().__init__(latent_dim=8, num_classes=10, image_shape=(1, 16, 16))
        self.embed = nn.Embedding(10, 8)
        self.net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 256), nn.Tanh())

    def forward(self, z, labels=None):
        return self.net(torch.cat([z, self.embed(labels)], 1)).view(-1, 1, 16, 16)


class Critic(ganzoo.Discriminator):
    uses_labels = True

    def __init__(self):
        super().__init__(num_classes=10, image_shape=(1, 16, 16))
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(256, 64), nn.LeakyReLU(0.2))
        self.head = nn.Linear(64, 1)
        self.embed = nn.Embedding(10, 64)

    def forward(self, images, labels=None):
        h = self.features(images)
        return ganzoo.DiscriminatorOutput(self.head(h).squeeze(1) + (self.embed(labels) * h).sum(1))


def main(mode: str, out: str) -> None:
    context, device = distributed.init(torch.device("cpu"))
    assert (mode == "ddp") == context.enabled, (mode, context)
    train_and_save(context, device, out)
    distributed.finish()  # after the trainer's frame is gone, as ganzoo's own sessions do


def train_and_save(context: distributed.Context, device: torch.device, out: str) -> None:
    images, labels = blob_images(20, size=16, seed=0)
    data = ImageData("blobs", images.unsqueeze(1), labels, [str(k) for k in range(10)])
    spec = ganzoo.ModelSpec(name="tiny", build=lambda **_: (Gen(), Critic()), loss="hinge")
    batch = PER_RANK_BATCH if context.enabled else PER_RANK_BATCH * 2
    recipe = {"dataset": "blobs", "image_size": 16, "channels": 1, "batch_size": batch, "max_steps": 1, "n_critic": 2,
              "lr": 1e-3, "precision": "fp32", "seed": 3}
    settings = resolve(spec, "blobs", recipe)
    seed_everything(3)
    model = ganzoo.BuiltModel(spec, Gen(), Critic(), ganzoo.get_loss("hinge"))
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    trainer = Trainer(model, settings, data, device=device, progress=False, context=context)
    trainer.fit()
    after = {"generator": model.generator.state_dict(), "discriminator": model.discriminator.state_dict()}
    after = {net: {k: v.clone() for k, v in state.items()} for net, state in after.items()}
    trainer.run_step()  # a second step whose metric sums are not logged yet: what a checkpoint keeps
    unlogged = checkpoint_payload(trainer)["metric_sums"]  # every rank takes part (it gathers)
    if context.is_main:
        torch.save({**after, "generator_before": before, "d_loss": trainer.history[-1]["d_loss"],
                    "metric_sums": unlogged}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
