"""docs/writing-a-plugin.md's reference section, made from the code: every public name of
``ganzoo`` (``ganzoo.__all__``) and of the modules plugins import (``ganzoo.blocks``,
``ganzoo.losses``' standard parts, ``ganzoo.augment``), each with its signature and the
first line of its docstring, the members a plugin calls or overrides, and what each
hook's ``register`` takes. ``tests/test_reference_docs.py`` checks the page against it;

    python tests/helpers/api_reference.py --write

rewrites the section after a change of the code.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

import ganzoo
from ganzoo import augment, blocks, losses
from ganzoo.evaluate.metric_api import MetricInputs
from ganzoo.plugins import Registration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-plugin.md"
BEGIN = "<!-- reference: made by tests/helpers/api_reference.py from the code; tests/test_reference_docs.py checks it -->"
END = "<!-- end of the reference -->"
MEMBERS = {  # what a plugin calls or overrides, by class
    "AdversarialStep": ("discriminator_update", "generator_update", "discriminator_terms", "generator_terms",
                        "discriminator_losses", "generator_losses", "forward", "optimizers"),
    "TrainStep": ("forward", "optimizers"),
    "StepContext": ("real", "generate", "critic", "distributed", "frozen", "autocast", "update"),
    "Callback": ("start", "after_step", "end", "state_dict", "load_state_dict", "state_key"),
    "Logger": ("scalars", "evaluation", "samples", "close", "resumed"),
    "Loss": ("discriminator_loss", "generator_loss"),
    "Generator": ("sample_latent", "forward"),
    "Discriminator": ("forward", "critic"),
    "RunSettings": ("group",),
    "Metric": ("fits",),
}
EXTRA = (  # the standard parts plugins import, beside ganzoo's own names
    [(f"ganzoo.blocks.{name}", getattr(blocks, name)) for name in blocks.__all__]
    + [(f"ganzoo.losses.{name}", getattr(losses, name)) for name in
       ("NonSaturatingLoss", "HingeLoss", "WassersteinLoss", "LeastSquaresLoss", "gradient_penalty", "r1_penalty")]
    + [(f"ganzoo.augment.{name}", getattr(augment, name)) for name in ("DiffAugment", "color", "translation",
                                                                        "cutout")]
    + [("ganzoo.evaluate.metric_api.MetricInputs", MetricInputs)]
)


def first_line(thing: object) -> str:
    if not callable(thing) and not isinstance(thing, property):
        return "the installed version" if isinstance(thing, str) else ""  # a value: its type's docstring says nothing
    doc = inspect.getdoc(thing) or ""
    return doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|").strip()


def signature(name: str, thing: object) -> str:
    short = name.rsplit(".", 1)[-1]
    if short == "register":  # a bound method of Registration: the hook's register callback
        return f"register{_signature_text(thing)}"
    if isinstance(thing, property):
        return f"{short} (a property)"
    if not callable(thing):
        return f"{short}: {type(thing).__name__}"
    if not (getattr(thing, "__module__", "") or "").startswith("ganzoo"):
        return f"{short} ({type(thing).__module__}.{type(thing).__qualname__})"
    try:
        return f"{short}{_signature_text(thing)}"
    except (TypeError, ValueError):
        return short


def _signature_text(thing: object) -> str:
    text = str(inspect.signature(thing))
    text = re.sub(r"<function (\w+) at 0x[0-9a-f]+>", r"\1", text)  # a default that is a function: its name
    text = re.sub(r"ForwardRef\((.*?)\)(?=\s*[,)=])", r"\1", text)  # a NamedTuple's string annotations
    text = re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)  # annotations written as strings, unquoted
    return text.replace("|", "\\|")


def rows() -> list[str]:
    out = []
    names = [(f"ganzoo.{name}", getattr(ganzoo, name)) for name in ganzoo.__all__] + EXTRA
    for name, thing in names:
        out.append(f"| `{name}` | `{signature(name, thing)}` | {first_line(thing)} |")
        for member in MEMBERS.get(name.rsplit(".", 1)[-1], ()):
            value = inspect.getattr_static(thing, member)
            value = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            out.append(f"| `.{member}` | `{signature(member, value)}` | {first_line(value)} |")
    return out


def hook_rows() -> list[str]:
    registration = Registration("example")
    return [f"| `{hook}(register)` | `{signature('register', method)}` | {first_line(method)} |"
            for hook, method in registration.by_hook().items()]


def section() -> str:
    return "\n".join([
        BEGIN, "",
        "| name | signature | what it is |", "| --- | --- | --- |", *rows(), "",
        "| hook | what `register` takes | registers |", "| --- | --- | --- |", *hook_rows(), "",
        END,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the section of docs/writing-a-plugin.md")
    args = parser.parse_args()
    if not args.write:
        print(section())
        return
    page = PAGE.read_text(encoding="utf-8")
    if BEGIN not in page or END not in page:
        sys.exit(f"{PAGE} has no reference section ({BEGIN!r} ... {END!r})")
    start, end = page.index(BEGIN), page.index(END) + len(END)
    PAGE.write_text(page[:start] + section() + page[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
