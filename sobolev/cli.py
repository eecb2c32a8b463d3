"""The ``sobolev`` console script.

Subcommands are discovered through the ``sobolev.commands`` entry-point group: each
study package declares ``name = "package.module:register"`` in ``pyproject.toml``,
where ``register(subparsers)`` adds one sub-parser whose ``func`` default runs it.
This keeps the library free of imports from the packages built on top of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from sobolev._version import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every installed subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sobolev",
        description="Sobolev Training: fit neural networks to values and input derivatives.",
    )
    parser.add_argument("--version", action="version", version=f"sobolev-training {__version__}")
    subparsers = parser.add_subparsers(title="subcommands", metavar="<subcommand>")
    for ep in sorted(entry_points(group="sobolev.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:
            # One broken or partially installed study must not take the others down.
            print(f"sobolev: subcommand {ep.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    status = args.func(args)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
