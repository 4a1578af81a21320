"""cGAN with a projection discriminator for ganzoo."""

from .loss import HingeLoss
from .networks import ConditionalBatchNorm2d, ProjectionDiscriminator, ProjectionGenerator, build

__all__ = ["ConditionalBatchNorm2d", "HingeLoss", "ProjectionDiscriminator", "ProjectionGenerator", "build"]
