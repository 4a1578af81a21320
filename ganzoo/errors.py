"""Errors that the CLI turns into one line on stderr and an exit code.

Everything a user can get wrong raises a subclass of :class:`GanzooError`; the CLI is the
only place that catches them. ``UsageError`` (exit 2) is for bad names, keys and values
on the command line or in a recipe; every other error is a runtime error (exit 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GanzooError(Exception):
    """A failure with a message meant for the user."""

    exit_code = 1


class UsageError(GanzooError):
    """The user asked for something that does not exist or is not valid."""

    exit_code = 2


class PluginError(GanzooError):
    """A plugin broke a rule of the plugin API."""


class DataError(GanzooError):
    """A dataset is missing, unreadable or malformed."""


class NoTestSplit(DataError):
    """A dataset has no test split (a dataset loader raises it for ``train=False``): an
    evaluation then holds out a tenth of the training split instead."""


class CheckpointError(GanzooError):
    """A checkpoint is missing, corrupt or belongs to something else."""


def first_line(exc: BaseException, fallback: str | None = None) -> str:
    """The first line of an exception's message, for a one-line error; ``fallback`` (default:
    the exception's type name) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if fallback is None else fallback


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A short suffix naming the close matches of ``name`` among ``choices`` (or all of them)."""
    choices = sorted(set(choices))
    if not choices:
        return " (none available)"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; choose from " + ", ".join(choices)
