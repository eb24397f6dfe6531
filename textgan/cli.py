"""The `textgan` command: the top-level parser, each sub-command of `textgan.commands` registered on it,
and `main`.

Every user mistake ends in one `error: ...` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from textgan.commands import COMMANDS
from textgan.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes print a single `error:` line (exit 2) like every other mistake."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("textgan")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="textgan", description="Train and evaluate GANs for text (and image baselines).")
    parser.add_argument("--version", action="version", version=f"textgan {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
