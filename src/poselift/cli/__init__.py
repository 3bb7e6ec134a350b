"""The ``poselift`` command: every sub-command is defined in this package, one module per group.

- :mod:`~poselift.cli.data`: ``data build``, ``data convert``
- :mod:`~poselift.cli.training`: ``train``, ``eval``, ``export``
- :mod:`~poselift.cli.lifting`: ``lift``, ``video``, ``demo``
- :mod:`~poselift.cli.embedding`: ``index``, ``retrieve``, ``generate`` (V-VIPE)
- :mod:`~poselift.cli.common`: the argument helpers they share (public: benchmarks use them too)

Each sub-command parses its arguments and calls library functions; errors a user can cause
(:class:`~poselift.errors.PoseliftError`) are printed as one line and exit with status 2. Building the
parser imports no PyTorch (the handlers import what they need), so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys

from poselift import __version__
from poselift.cli import data, embedding, lifting, training
from poselift.errors import PoseliftError

COMMAND_GROUPS = (data, training, lifting, embedding)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poselift", description="Lift 2D human keypoints to 3D poses.")
    parser.add_argument("--version", action="version", version=f"poselift {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except PoseliftError as error:
        print(f"poselift: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("poselift: interrupted", file=sys.stderr)
        return 130
    return 0
