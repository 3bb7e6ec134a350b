"""TRC: the tab-separated marker-trajectory text format of OpenSim (and Pose2Sim, Motion Analysis).

Layout, as OpenSim's ``TRCFileAdapter`` reads it (one tab between fields)::

    PathFileType  4  (X/Y/Z)  <file name>
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    <rate>    <rate>      <T>        <M>         mm     <rate>        1                   <T>
    Frame#  Time  <marker 1>  ""  ""  <marker 2>  ""  ""  ...
    ""      ""    X1  Y1  Z1  X2  Y2  Z2  ...
    <blank line>
    1  0.000000  x  y  z  ...                   (frames numbered from 1; time in seconds)

A missing coordinate is an empty field. :func:`read_trc` is a strict reader of exactly this layout
(every header field checked), so a file it accepts is one OpenSim accepts.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, ShapeError
from poselift.fileio import write_text_atomic

_HEADER_KEYS = ("DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                "OrigDataStartFrame", "OrigNumFrames")
UNITS = ("mm", "m")


@dataclass(frozen=True)
class MarkerTrajectories:
    """Marker positions over time: ``positions (T, M, 3)`` in ``units``, NaN where missing."""

    marker_names: tuple[str, ...]
    positions: np.ndarray
    rate_hz: float
    units: str = "mm"


def format_trc(markers: MarkerTrajectories, file_name: str) -> str:
    """The TRC text of ``markers`` (module doc); ``file_name`` goes into the first line."""
    positions = np.asarray(markers.positions, dtype=np.float64)
    frames, count = positions.shape[0], len(markers.marker_names)
    if positions.ndim != 3 or positions.shape[1:] != (count, 3):
        raise ShapeError(f"TRC positions: expected ({frames}, {count}, 3), got {positions.shape}")
    if markers.units not in UNITS:
        raise ShapeError(f"TRC units: one of {', '.join(UNITS)}, got {markers.units!r}")
    if not markers.rate_hz > 0:
        raise ShapeError(f"TRC rate: expected > 0 Hz, got {markers.rate_hz}")
    if any("\t" in name or not name for name in markers.marker_names):
        raise ShapeError("TRC marker names must be non-empty and contain no tab")
    rate = f"{markers.rate_hz:.6g}"
    out = io.StringIO()
    out.write(f"PathFileType\t4\t(X/Y/Z)\t{file_name}\n")
    out.write("\t".join(_HEADER_KEYS) + "\n")
    out.write("\t".join([rate, rate, str(frames), str(count), markers.units, rate, "1", str(frames)]) + "\n")
    out.write("\t".join(["Frame#", "Time"] + [field for name in markers.marker_names for field in (name, "", "")])
              + "\n")
    out.write("\t".join(["", ""] + [f"{axis}{number}" for number in range(1, count + 1) for axis in "XYZ"]) + "\n")
    out.write("\n")
    table = np.column_stack([np.arange(1, frames + 1), np.arange(frames) / markers.rate_hz,
                             positions.reshape(frames, -1)])
    np.savetxt(out, table, fmt=["%d", "%.6f"] + ["%.4f"] * (3 * count), delimiter="\t")
    return out.getvalue().replace("nan", "")


def write_trc(path: str | os.PathLike, markers: MarkerTrajectories) -> Path:
    """Write ``markers`` as a TRC file, atomically."""
    path = Path(path)
    write_text_atomic(path, format_trc(markers, path.name))
    return path


def read_trc(path: str | os.PathLike) -> MarkerTrajectories:
    """Read a TRC file of the layout in the module doc, checking every header field; FormatError
    naming the file and line otherwise."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as error:
        raise FormatError(path, f"cannot read ({error.strerror or error})") from None

    def fail(line: int, problem: str):
        return FormatError(path, f"line {line}: {problem}")

    if len(lines) < 6:
        raise FormatError(path, "too short for a TRC file (5 header lines and a blank line)")
    first = lines[0].split("\t")
    if first[:3] != ["PathFileType", "4", "(X/Y/Z)"]:
        raise fail(1, f"expected 'PathFileType<TAB>4<TAB>(X/Y/Z)', got {lines[0][:40]!r}")
    if lines[1].split("\t") != list(_HEADER_KEYS):
        raise fail(2, f"expected the header keys {', '.join(_HEADER_KEYS)}")
    values = lines[2].split("\t")
    if len(values) != len(_HEADER_KEYS):
        raise fail(3, f"expected {len(_HEADER_KEYS)} header values, got {len(values)}")
    try:
        rate, camera_rate, frames, count = float(values[0]), float(values[1]), int(values[2]), int(values[3])
        orig_rate, start, orig_frames = float(values[5]), int(values[6]), int(values[7])
    except ValueError as error:
        raise fail(3, f"a header value is not a number ({error})") from None
    units = values[4]
    if units not in UNITS or rate <= 0 or camera_rate <= 0 or orig_rate <= 0 or start < 1 or orig_frames < frames:
        raise fail(3, f"implausible header values {values}")
    names_row = lines[3].split("\t")
    if names_row[:2] != ["Frame#", "Time"] or len(names_row) != 2 + 3 * count:
        raise fail(4, f"expected Frame#, Time and {count} markers of 3 columns each")
    names = tuple(names_row[2::3])
    if any(not name for name in names) or any(names_row[3 + 3 * i] or names_row[4 + 3 * i] for i in range(count)):
        raise fail(4, "each marker name is followed by two empty fields")
    expected_axes = ["", ""] + [f"{axis}{number}" for number in range(1, count + 1) for axis in "XYZ"]
    if lines[4].split("\t") != expected_axes:
        raise fail(5, "expected the coordinate labels X1 Y1 Z1 X2 ...")
    if lines[5].strip():
        raise fail(6, "expected a blank line before the data")
    rows = [line for line in lines[6:] if line.strip()]
    if len(rows) != frames:
        raise FormatError(path, f"the header says {frames} frames, the file has {len(rows)} rows")
    positions = np.full((frames, count, 3), np.nan)
    for row_number, row in enumerate(rows):
        fields = row.split("\t")
        if len(fields) != 2 + 3 * count:
            raise fail(7 + row_number, f"expected {2 + 3 * count} fields, got {len(fields)}")
        try:
            if int(fields[0]) != row_number + 1 or abs(float(fields[1]) - row_number / rate) > 1e-5:
                raise fail(7 + row_number, f"frame number or time out of sequence: {fields[:2]}")
            positions[row_number] = np.array([float(field) if field else np.nan for field in fields[2:]]).reshape(count, 3)
        except ValueError as error:
            raise fail(7 + row_number, f"not a number ({error})") from None
    return MarkerTrajectories(names, positions, rate, units)
