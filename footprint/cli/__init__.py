"""The ``footprint`` command: one subcommand per stage of the pipeline, one module per command.

Each command module has ``add_parser(commands, parents)`` and ``run(args) -> int``: it
parses its options, calls the library and writes its output. Errors raised on purpose
(:class:`footprint.errors.FootprintError`) become one line on stderr and exit code 2;
``check`` exits 1 when the plan it checks breaks a rule.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from footprint import __version__
from footprint.cli import alternatives, check, compare, edit, graph, import_, maps, plan, repair, share
from footprint.cli._common import FLAGS, Parser, check_paths, cli_words, data_options
from footprint.errors import FootprintError

__all__ = ["FLAGS", "build_parser", "cli_words", "console", "main"]

logger = logging.getLogger("footprint")

#: The command modules, in the order ``--help`` lists them (the order of the pipeline).
COMMANDS = (import_, graph, plan, check, repair, alternatives, maps, share, compare, edit)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``footprint`` argument parser."""
    parents = [data_options()]
    parser = Parser(
        prog="footprint",
        description="Plan Primary Care Network footprints for NHS England's GP practices.",
    )
    parser.add_argument("--version", action="version", version=f"footprint {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(commands, parents)
    return parser


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (exit 143)."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated


def _interrupted() -> int:
    print(
        "footprint: interrupted (Ctrl-C); files already written are complete, the rest untouched",
        file=sys.stderr,
    )
    return 130


def console() -> NoReturn:
    """Run :func:`main` as the ``footprint`` program and exit with its code.

    A reader of standard output that leaves early (a pipe into ``head``) ends it quietly
    with exit code 141, as a shell command killed by SIGPIPE. A Ctrl-C that arrives once the
    command is done (while the interpreter shuts down) changes
    nothing and is ignored; one that arrives between the command's end and here is still
    reported as an interruption, never as a silent death by signal.
    """
    try:
        code = main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = _interrupted()
    except BrokenPipeError:
        # The reader of standard output left (``footprint check | head``): no traceback, and
        # standard output pointed at /dev/null so the interpreter's last flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The process ends without the interpreter's teardown, once its streams and logs are
    # flushed (as mypy ends): freeing England's tables one object at a time took a quarter
    # of a second after every command had done its work. Nothing is left to it: files are
    # written and closed, worker processes joined.
    logging.shutdown()
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``footprint`` command line and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logger.addHandler(handler)
    logger.setLevel(level)
    func: Callable[[argparse.Namespace], int] = args.func
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        check_paths(args)
        return func(args)
    except FootprintError as exc:
        print(f"footprint: error: {cli_words(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    except Terminated:
        print(
            "footprint: terminated; files already written are complete, the rest untouched", file=sys.stderr
        )
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
        logger.removeHandler(handler)
