"""Small building blocks that several model plugins share."""

from __future__ import annotations


def doubling_plan(image_size: int, *, smallest: int = 4, largest: int = 7) -> tuple[int, int]:
    """``(start_side, doublings)`` with ``start_side * 2**doublings == image_size``.

    Generators start from a ``start_side`` x ``start_side`` map (between ``smallest``
    and ``largest`` pixels) and double it; discriminators halve back down to it:
    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4).
    """
    side, doublings = int(image_size), 0
    while side > largest and side % 2 == 0:
        side //= 2
        doublings += 1
    if doublings == 0 or not smallest <= side <= largest:
        raise ValueError(
            f"image size {image_size} is not a {smallest}..{largest}-pixel square doubled at least once "
            "(e.g. 28, 32, 64)"
        )
    return side, doublings
