"""ACGAN for ganzoo: networks, loss and the hook implementations that register them."""

from .loss import ACGANLoss
from .networks import ACGANDiscriminator, ACGANGenerator, build

__all__ = ["ACGANDiscriminator", "ACGANGenerator", "ACGANLoss", "build"]
