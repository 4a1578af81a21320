"""The ``ganzoo`` process: the arguments rewritten (``launch.py``: a bare ``--resume``, the
torchrun shortcut, which replaces this process), the signals, and click's own errors
(bad options and arguments) and the interrupts between commands turned into one line on
stderr and an exit code, as every command's own are (``boundary.py``)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import typer

from .boundary import OutputError, Terminated, guard_stdout, output_failed, raise_terminated, say_error
from .cli import app
from .errors import UsageError
from .launch import expand_bare_resume, torchrun_command


def _exit_at_once(signum: int, frame: Any) -> None:
    """Outside a command (setting up, shutting down) a signal ends the process with one
    line and 130 / 143, without unwinding into half-finished imports or atexit hooks."""
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    try:
        for stream in (sys.stdout, sys.stderr):  # what the command printed still gets out
            stream.flush()
        os.write(2, f"ganzoo: error: {word}\n".encode())
    finally:
        os._exit(128 + signum)


def _signals(during_command: bool) -> None:
    if during_command:  # commands turn these into one line themselves (at_boundary, the training loop)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, raise_terminated)
    else:
        signal.signal(signal.SIGINT, _exit_at_once)
        signal.signal(signal.SIGTERM, _exit_at_once)


def main() -> None:
    """Entry point: click's usage errors become one line too, like ganzoo's own."""
    _signals(during_command=True)
    guard_stdout()
    try:
        _run(expand_bare_resume(sys.argv[1:]))
    finally:
        _signals(during_command=False)  # the interpreter's exit: atexit hooks, module teardown


def _run(args: list[str]) -> None:
    try:
        launch = torchrun_command(args)
    except UsageError as exc:
        say_error(str(exc))
        sys.exit(2)
    if launch is not None:
        command, environment = launch
        os.execve(sys.executable, command, environment)  # becomes torchrun: its exit code is ours
    try:
        code = app(args=args, prog_name="ganzoo", standalone_mode=False)
        sys.stdout.flush()  # what print() left in the buffer fails here, not in the interpreter's exit
    except KeyboardInterrupt:  # between click's parsing and a command's own boundary
        say_error("interrupted")
        sys.exit(130)
    except Terminated:
        say_error("terminated")
        sys.exit(143)
    except typer.Abort:
        say_error("interrupted")
        sys.exit(130)
    except OutputError as exc:  # --help or --version into a full disk, or the last flush
        sys.exit(output_failed(exc).exit_code)
    except Exception as exc:
        # click's own errors (typer runs on a vendored click): bad options and arguments
        if not callable(getattr(exc, "format_message", None)):
            raise
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None and exc.exit_code == 2 else ""
        say_error(f"{exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
