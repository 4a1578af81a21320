"""The name ganzoo 0.1 gave its building blocks, kept for plugins written against it
(the stability promise): everything lives in :mod:`ganzoo.blocks` now."""

from .blocks import *  # noqa: F401,F403
from .blocks import UpsampleConv2d, doubling_plan, set_fused_upsample  # noqa: F401
