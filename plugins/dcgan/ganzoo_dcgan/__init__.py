"""DCGAN for ganzoo: an unconditional generator and discriminator, and the non-saturating loss."""

from .loss import NonSaturatingLoss
from .networks import DCGANDiscriminator, DCGANGenerator, build

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "NonSaturatingLoss", "build"]
