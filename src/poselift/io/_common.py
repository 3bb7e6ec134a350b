"""Small helpers shared by the IO modules (private)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from poselift.errors import FormatError
from poselift.fileio import atomic_path


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; FormatError naming the file and line on bad JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FormatError(path, f"cannot read file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise FormatError(path, "not UTF-8 text (expected JSON)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise FormatError(path, f"line {error.lineno}: invalid JSON ({error.msg})") from None


def nan_to_none(values: Any) -> Any:
    """Nested lists from an array, with NaN written as None (JSON null)."""
    array = np.asarray(values, dtype=np.float64)
    as_object = array.astype(object)
    as_object[np.isnan(array)] = None
    return as_object.tolist()


def none_to_nan(values: Any, dtype=np.float32) -> np.ndarray:
    """Array from nested lists where None (JSON null) stands for NaN."""
    array = np.array(values, dtype=object)
    array[np.equal(array, None)] = np.nan
    return array.astype(dtype)


def save_npz_atomic(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` to ``path`` (the name is kept as given), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


_NUMBER_RUN = re.compile(r"(\d+)")


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers by value ("frame_2" before "frame_10")."""
    return [int(part) if part.isdigit() else part for part in _NUMBER_RUN.split(text)]
