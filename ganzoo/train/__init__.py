"""Training: run folders, checkpoints and the generic trainer."""
