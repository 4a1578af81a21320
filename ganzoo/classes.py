"""Classes by name: a class given as an index or a name (``7``, ``seven``, ``7 - seven``,
``ankle-boot``), and the slugs that file names and caches use."""

from __future__ import annotations

from .errors import UsageError


def resolve_class(spec: str, class_names: list[str]) -> int:
    """A class given as an index or a name (case-insensitive; 'sneaker', 'ankle-boot', 'zero')."""
    spec = spec.strip()
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if 0 <= index < len(class_names):
            return index
    else:
        wanted = slug(spec)
        for index, class_name in enumerate(class_names):
            if wanted in _aliases(class_name):
                return index
    listing = ", ".join(f"{i}={n}" for i, n in enumerate(class_names))
    raise UsageError(f"class {spec!r} does not exist; valid classes: {listing}")


def slug(text: str) -> str:
    """Lower-case words joined by dashes: 'Ankle boot' -> 'ankle-boot', 'T-shirt/top' -> 't-shirt-top'."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _aliases(class_name: str) -> set[str]:
    aliases = {slug(class_name)}
    aliases.update(slug(part) for part in class_name.split(" - "))  # MNIST: '7 - seven'
    return aliases
