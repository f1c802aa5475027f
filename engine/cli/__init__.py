"""The `onewindow` command line: set-up, catalogue, casework, clock and history, for people and scripts (--json).

Each area registers its subcommands from its own module (casework, …); this module holds the shared plumbing.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.bootstrap import open_onewindow
from engine.errors import InvalidInput, OneWindowError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def data_arg(text: str) -> Any:
    """Read JSON given inline or as @file."""
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--data is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


class Refused(Exception):
    """A command that ran but whose answer is 'no' (exit 1), with a result to print."""

    def __init__(self, result: Any, message: str, bare: bool = False):
        super().__init__(message)
        self.result = result
        # A bare result is printed as it is (e.g. validate's list of findings), so scripts read one shape
        # whether the answer is yes or no; the exit code says which.
        self.bare = bare


class Registrar:
    """Adds subcommands that share --db and --json."""

    def __init__(self, sub: argparse._SubParsersAction, common: argparse.ArgumentParser):
        self.sub, self.common = sub, common

    def add(self, name: str, func: Callable, help_: str, actor: bool = False,
            sub: argparse._SubParsersAction | None = None) -> argparse.ArgumentParser:
        """Add a subcommand running `func(ow, args)`; `actor=True` adds a required --as USER."""
        p = (sub or self.sub).add_parser(name, parents=[self.common], help=help_)
        p.set_defaults(func=func)
        if actor:
            p.add_argument("--as", dest="as_user", required=True, help="username acting")
        return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from engine.cli import audit, casework, clock, design

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="database URL (default: ONEWINDOW_DATABASE_URL or instance/onewindow.db)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="onewindow", description="OneWindow (一窗通办) approval service centre")
    registrar = Registrar(parser.add_subparsers(dest="command", required=True), common)
    for area in (casework, clock, audit, design):
        area.register(registrar)
    return parser

def _print(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    elif isinstance(result, list):
        for row in result:
            print(json.dumps(row, ensure_ascii=False, default=str))
    elif isinstance(result, dict) and result:
        for key, value in result.items():
            shown = value if isinstance(value, str | int | float | type(None)) else json.dumps(value, ensure_ascii=False, default=str)
            print(f"{key}: {shown}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 when refused or invalid, 2 on a usage error."""
    args = build_parser().parse_args(argv)
    ow = open_onewindow(args.db)
    try:
        result = args.func(ow, args)
    except Refused as exc:
        if args.json:
            _print(exc.result if exc.bare else {"ok": False, "error": str(exc), "result": exc.result}, True)
        else:
            print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except OneWindowError as exc:
        error = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
        if isinstance(exc, InvalidInput):
            error.update(fields=exc.fields, findings=[f.as_dict() for f in exc.findings])
        if args.json:
            _print(error, True)
        else:
            print(f"refused ({type(exc).__name__}): {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        ow.db.dispose()
    if result is not None:
        _print(result, args.json)
    return EXIT_OK

