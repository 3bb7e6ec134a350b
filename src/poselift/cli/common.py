"""Argument helpers shared by the sub-commands (and by ``benchmarks/``). No PyTorch import (nor at the
module level of :mod:`poselift.video.tracking`, which this reads the person rules from)."""

from __future__ import annotations

import argparse
import json

from poselift.errors import PoseliftError
from poselift.video.tracking import PERSON_RULES



def parse_assignments(pairs: list[str]) -> dict:
    """``["hidden_size=512", "dropout=0.2", "flag=False"]`` -> {"hidden_size": 512, "dropout": 0.2, "flag": False}
    (JSON values; ``True`` / ``False`` as Python spells them too; anything else stays a string)."""
    config = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise PoseliftError(f"--set expects key=value, got {pair!r}")
        if value in ("True", "False"):
            config[key] = value == "True"
            continue
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def parse_person(text: str) -> str | int:
    """``--person`` value: ``largest``, ``central`` or a positive integer N (N-th from the left)."""
    if text in PERSON_RULES:
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected largest, central or a number from 1 (N-th from the left), got {text!r}")


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` where PyTorch sees a GPU, else ``cpu``; ``cpu`` as given; ``cuda`` (or
    ``cuda:N``) refused with one line where PyTorch sees no GPU."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PoseliftError(f"--device {name}: PyTorch sees no CUDA GPU here (torch {torch.__version__}); "
                            "use --device cpu or auto")
    return name


def add_device_argument(parser, what: str = "where the model runs") -> None:
    """The ``--device`` option of every command that runs a model."""
    parser.add_argument("--device", default="auto",
                        help=f"{what}: auto (a CUDA GPU where PyTorch sees one, else the CPU), cpu, cuda or cuda:N")
