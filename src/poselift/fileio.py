"""Atomic file writing and output-folder handling.

Nothing a user has is overwritten by accident and nothing is left half-written: every output is
written to a temporary file in the destination folder and moved into place with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from poselift.errors import OutputExistsError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Use it with writers that need a file name (``np.savez``, ``torch.save``, ``h5py``)::

        with atomic_path(out) as tmp:
            np.savez(tmp, ...)

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_current_umask())     # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def prepare_output_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Create the output folder ``path``; refuse a non-empty existing one unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path}: folder exists and is not empty (use --force to write into it)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_output_file(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse to overwrite an existing output file unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: file exists (use --force to overwrite)")
    return path
