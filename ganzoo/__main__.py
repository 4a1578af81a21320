"""``python -m ganzoo`` runs the CLI (so ``torchrun -m ganzoo`` works too)."""

from .cli import main

main()
