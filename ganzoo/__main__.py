"""``python -m ganzoo`` runs the CLI (so ``torchrun -m ganzoo`` works too)."""

from .main import main

main()
