"""``sidejpeg``: a thin command-line shell over the engine's public API."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from engine.errors import SideJPEGError

COMMANDS = {
    "compress": "engine.commands.compress",
    "restore": "engine.commands.restore",
    "info": "engine.commands.info",
    "train": "engine.commands.train",
    "eval": "engine.commands.evaluate",
    "summarise": "engine.commands.summarise",
    "pack": "engine.commands.pack",
}
"""Sub-command -> its module, imported only when needed: eval alone pulls in matplotlib and scipy."""
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our bad-input code and a single line."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` runs (the first argument, when it names one)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command, or of ``only`` that one (so only its module is imported)."""
    parser = _Parser(prog="sidejpeg", description=__doc__.split(":", 1)[1].strip())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in [only] if only else COMMANDS:
        module = _module(name)
        module.configure(sub.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__))
    return parser


def _module(command: str) -> ModuleType:
    return importlib.import_module(COMMANDS[command])


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    try:
        return _module(args.command).run(args)
    except SideJPEGError as exc:
        print(f"sidejpeg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"sidejpeg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
