"""WGAN-GP for ganzoo: generator, critic (conditional or not) and the gradient-penalty loss."""

from .loss import WassersteinGPLoss
from .networks import WGANCritic, WGANGenerator, build

__all__ = ["WGANCritic", "WGANGenerator", "WassersteinGPLoss", "build"]
