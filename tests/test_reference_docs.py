"""The plugin guide's reference of the public names is the code's: every name of
``ganzoo.__all__`` and of the standard parts, every member a plugin overrides and what
each hook's ``register`` takes, with the signatures the code has now
(tests/helpers/api_reference.py makes the section; a doc that drifts fails here)."""

from __future__ import annotations

import sys

import ganzoo

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from api_reference import BEGIN, END, PAGE, section  # noqa: E402


def test_the_guides_reference_is_made_from_the_code_as_it_is():
    page = PAGE.read_text(encoding="utf-8")
    assert BEGIN in page and END in page
    written = page[page.index(BEGIN):page.index(END) + len(END)]
    assert written == section(), "docs/writing-a-plugin.md's reference is stale: python tests/helpers/api_reference.py --write"


def test_every_public_name_and_hook_is_in_the_reference():
    reference = section()
    for name in ganzoo.__all__:
        assert f"| `ganzoo.{name}` |" in reference, name
    for hook in ("register_models", "register_losses", "register_recipes", "register_datasets", "register_metrics",
                 "register_loggers", "register_callbacks"):
        assert f"| `{hook}(register)` |" in reference, hook
    hooks = [name for name in dir(ganzoo.hookspecs) if name.startswith("register_")]
    assert len(hooks) == 7 and all(f"`{hook}(register)`" in reference for hook in hooks)
