"""C3D (the binary motion-capture standard of Vicon, Qualisys, Visual3D, OpenSim) through ``ezc3d``.

Points only: ``POINT:LABELS`` (the marker names), ``POINT:RATE`` (Hz), ``POINT:UNITS`` ("mm" or "m");
a missing marker is NaN in poselift and a residual of -1 in the file (ezc3d's handling). ``ezc3d``
is an optional dependency (``pip install "poselift[export]"``); :func:`import_ezc3d` says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, PoseliftError
from poselift.fileio import atomic_path
from poselift.io.trc import UNITS, MarkerTrajectories

MISSING_EZC3D = 'C3D needs ezc3d, which is not installed: pip install "poselift[export]"'


def import_ezc3d():
    """The ``ezc3d`` module, or PoseliftError naming the extra that installs it."""
    try:
        import ezc3d
    except ImportError:
        raise PoseliftError(MISSING_EZC3D) from None
    return ezc3d


def write_c3d(path: str | os.PathLike, markers: MarkerTrajectories) -> Path:
    """Write ``markers`` as a C3D file (points only), atomically."""
    ezc3d = import_ezc3d()
    positions = np.asarray(markers.positions, dtype=np.float64)
    frames, count = positions.shape[0], len(markers.marker_names)
    if positions.shape != (frames, count, 3) or markers.units not in UNITS or not markers.rate_hz > 0:
        raise PoseliftError(f"C3D: expected ({frames}, {count}, 3) positions in {' or '.join(UNITS)} at a rate "
                            f"> 0, got {positions.shape}, {markers.units!r}, {markers.rate_hz}")
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [float(markers.rate_hz)]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = tuple(markers.marker_names)
    c3d.add_parameter("POINT", "UNITS", [markers.units])
    points = np.ones((4, count, frames))
    points[:3] = positions.transpose(2, 1, 0)
    c3d["data"]["points"] = points
    path = Path(path)
    with atomic_path(path) as tmp:
        c3d.write(str(tmp))
    return path


def read_c3d(path: str | os.PathLike) -> MarkerTrajectories:
    """The points of a C3D file: names, ``(T, M, 3)`` positions (NaN where missing), rate and units."""
    ezc3d = import_ezc3d()
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "no such C3D file")
    try:
        c3d = ezc3d.c3d(str(path))
    except Exception as error:                  # ezc3d raises plain RuntimeErrors/ValueErrors on bad files
        raise FormatError(path, f"not a readable C3D file ({error})") from None
    point = c3d["parameters"]["POINT"]
    units = point["UNITS"]["value"][0] if "UNITS" in point else "mm"
    positions = np.asarray(c3d["data"]["points"][:3], dtype=np.float64).transpose(2, 1, 0)
    return MarkerTrajectories(tuple(point["LABELS"]["value"]), positions, float(point["RATE"]["value"][0]), units)
