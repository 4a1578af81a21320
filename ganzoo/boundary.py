"""Where the command line's errors become one line on stderr and an exit code.

Usage errors (bad names, keys, values) exit 2, runtime errors 1 (the machine refusing a
write is said in words: a full disk, a read-only file system), SIGINT 130 and SIGTERM 143
(a training run saves a checkpoint first); each is one line on stderr. ``GANZOO_DEBUG=1``
shows the traceback of an unexpected error. stdout that cannot be written (``> /dev/full``)
is one line too; a reader that has gone (``ganzoo runs | head -3``) ends quietly.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import select
import sys
import traceback
from typing import Any, Callable

import typer

from .blame import culprit, debug_hint
from .deferred import signals_deferred
from .errors import GanzooError, first_line
from .plugins import get_host
from .ranks import process_rank


class Terminated(BaseException):
    """SIGTERM outside a training loop (the trainer catches it itself and checkpoints)."""


def raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


MAX_QUOTED_CHARS = 200  # one word of an error line (a value a user gave, a path)
MAX_ERROR_CHARS = 2000  # the whole line, whatever it quotes


def say_error(message: str) -> None:
    """One line on stderr; under torchrun only rank 0 says it (every rank fails alike)."""
    if process_rank() == 0:
        typer.echo(one_short_line(f"ganzoo: error: {message}"), err=True)


def one_short_line(line: str) -> str:
    """``line`` as one line that quotes no word of more than ``MAX_QUOTED_CHARS`` (a value
    may be anything a user gave: its middle is left out, saying how long it was) and is
    at most ``MAX_ERROR_CHARS``; a line of ordinary words and paths stays whole."""
    words = [_shortened(word) for word in " ".join(line.splitlines()).split(" ")]
    line = " ".join(words)
    if len(line) <= MAX_ERROR_CHARS:
        return line
    tail = f" ... ({len(line):,} characters)"
    return line[:MAX_ERROR_CHARS - len(tail)] + tail


def _shortened(word: str) -> str:
    if len(word) <= MAX_QUOTED_CHARS:
        return word
    cut = f"...({len(word):,} characters)..."
    keep = MAX_QUOTED_CHARS - len(cut)
    return word[:keep * 2 // 3] + cut + word[len(word) - keep // 3:]


def _fail(message: str, code: int) -> typer.Exit:
    say_error(message)
    return typer.Exit(code)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (``ganzoo runs | head -3``): the
    kernel then reports an error condition on its write end."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor
        return False


class OutputError(GanzooError):
    """stdout cannot take what a command prints: a full disk, ``> /dev/full``, an I/O error."""


class GuardedStdout(io.TextIOWrapper):
    """``sys.stdout`` whose failed writes say so in words ("cannot write the output: No
    space left on device") instead of as an internal error. A reader that has gone
    (``BrokenPipeError``) is left to click, which ends quietly."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _output_error(exc) from None

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _output_error(exc) from None


def _output_error(exc: OSError) -> OutputError:
    return OutputError(f"cannot write the output: {exc.strerror or first_line(exc)}")


def output_failed(exc: OutputError) -> typer.Exit:
    """Say why, then point stdout at the null device: what is still buffered would fail
    again in the interpreter's last flush, with a second message."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (AttributeError, OSError, ValueError):
        pass
    return _fail(str(exc), exc.exit_code)


def guard_stdout() -> None:
    stream = sys.stdout
    if type(stream) is io.TextIOWrapper:  # the interpreter's own, not a test's capture
        stream.flush()
        sys.stdout = GuardedStdout(stream.buffer, encoding=stream.encoding, errors=stream.errors,
                                   line_buffering=stream.line_buffering, write_through=stream.write_through)


SYSTEM_REFUSALS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.EIO: "an input/output error (a failing disk, or a network file system gone)",
    errno.EFBIG: "a file grew past the size this process may write (ulimit -f)",
    errno.ENAMETOOLONG: "a name is longer than the file system allows (255 bytes a name on most)",
}


def system_refusal(exc: OSError) -> str:
    """An error the machine raised, not a bug of ganzoo's: what happened, in words, and the file."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{SYSTEM_REFUSALS[exc.errno]} ({exc.strerror}){where}"


def out_of_memory(exc: BaseException) -> str | None:
    """torch's report of memory running out, in words; None for any other error."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):  # CUDA's, first line
        return f"out of memory on the GPU: {first_line(exc)}; {LESS_MEMORY}"
    asked = re.search(r"can't allocate memory: you tried to allocate (\d+) bytes", str(exc))
    if asked is None:
        return None
    return f"out of memory: {int(asked[1]) / 2**30:,.1f} GiB could not be allocated; {LESS_MEMORY}"


LESS_MEMORY = "a smaller batch_size or image_size (or --n) needs less"


def at_boundary(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error a command raises into one stderr line and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _heavy_imports()
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except OutputError as exc:
            raise output_failed(exc) from None
        except GanzooError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None
        except Terminated:
            raise _fail("terminated", 143) from None
        except BrokenPipeError as exc:
            if _stdout_closed():  # its reader took what it wanted: click ends quietly with exit 1, as other tools do
                raise
            raise _fail(f"internal error: BrokenPipeError: {first_line(exc, '')}", 1) from None
        except Exception as exc:  # a bug, not bad input: say so in one line
            if isinstance(exc, OSError) and exc.errno in SYSTEM_REFUSALS:  # the machine, not ganzoo
                raise _fail(system_refusal(exc), 1) from None
            memory = out_of_memory(exc)
            if memory:
                raise _fail(memory, 1) from None
            if os.environ.get("GANZOO_DEBUG"):
                traceback.print_exc()
            raise _fail(_unexpected(exc), 1) from None

    return wrapper


def _unexpected(exc: Exception) -> str:
    """An error no one expected, in one line: a plugin's, named with the place in its code,
    or ganzoo's own (an internal error, a bug)."""
    what = f"{type(exc).__name__}: {first_line(exc, '')}"
    found = culprit(exc, get_host().plugin_files())
    if found is not None:
        return f"plugin {found.plugin!r} failed {found.where()}: {what}{debug_hint()}"
    return f"internal error: {what}{debug_hint()}"


def _heavy_imports() -> None:
    """torch and the plugins, imported with SIGINT and SIGTERM held (they arrive right
    after). Seen without it: an interrupt inside torch's import printed the one line, then
    the process died by SIGINT (exit -2, not 130), about 1 time in 16 at 0.8-1 s; CPython
    ends a process that way when it took an interrupt for unhandled. torchvision is
    imported only where it is needed (deferred.torchvision), held the same way."""
    with signals_deferred():
        import torch  # noqa: F401  # on purpose here: under the held signals, before the command's work
    get_host()
