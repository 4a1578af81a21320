"""The dataset recipes that ship with ganzoo (installed as ``ganzoo.builtin_recipes``)."""
