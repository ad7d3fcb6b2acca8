"""``sidejpeg``: a thin command-line shell over the engine's public API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.commands import compress, evaluate, info, restore, train
from engine.errors import SideJPEGError

COMMANDS = {"compress": compress, "restore": restore, "info": info, "train": train, "eval": evaluate}
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our bad-input code and a single line."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sidejpeg", description=__doc__.split(":", 1)[1].strip())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        module.configure(sub.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except SideJPEGError as exc:
        print(f"sidejpeg {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"sidejpeg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
