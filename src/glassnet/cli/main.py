"""Entry point of the ``glassnet`` command.

Each command lives in its own module ``glassnet.cli.<name>`` exposing ``add_parser(subparsers)`` (which
registers the sub-command and sets ``func=run`` as its default) and ``run(args) -> int``. Bad input
prints one line naming the problem and exits with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import GlassnetError

__all__ = ["COMMANDS", "build_parser", "main"]

#: modules under glassnet.cli, in the order ``glassnet --help`` lists them
COMMANDS = ["demo", "train", "predict", "evaluate", "gradcheck", "trace", "tsc", "text", "bench", "search", "explore"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like every other bad input
        self.exit(2, f"glassnet: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glassnet", description="glassnet: a neural-network library in which every number can be seen")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"glassnet.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"glassnet.cli.{name}":
                continue  # command not shipped in this build
            raise
        module.add_parser(sub)
    for command in sub.choices.values():  # every command: results and errors only
        command.add_argument("--quiet", "-q", action="store_true",
                             help="no progress display and no log lines: only the results (with --json, only "
                             "the JSON) and errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the command
    args = parser.parse_args([a for a in argv if a != "--debug"])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GlassnetError as e:
        if debug or args.debug:
            raise
        print(f"glassnet {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`glassnet predict ... | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"glassnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
