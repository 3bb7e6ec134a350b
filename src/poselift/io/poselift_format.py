"""poselift's own files for 2D keypoints and 3D poses: ``.npz`` or ``.json``, chosen by suffix.

2D file keys: ``format`` = "poselift.keypoints_2d", ``version`` = 1, ``keypoints_2d`` (T, J, 2)
float32 pixels, ``confidence`` (T, J) float32, ``layout`` (e.g. "h36m17", "coco17"), optional
``image_size`` (width, height) and ``fps``.

3D file keys: ``format`` = "poselift.poses_3d", ``version`` = 1, ``poses_3d`` (T, J, 3) float32
millimetres, ``joint_names``, ``frame`` ("camera", "world" or "canonical"), for a world frame its ``up``
axis ("z" or "y"; files without it are z-up), optional ``fps``, ``layout``,
``model`` (a string, taken from / put back into ``meta["model"]``) and ``meta`` (JSON object).

The JSON form has the same keys; NaN (a missing keypoint or pose) is written as null and every
number with 9 significant digits, enough for each float32 to read back exactly (formatted in bulk
by :func:`json_array_chunks`, about 4x faster than ``json.dumps`` of nested lists). In ``.npz`` files
strings are stored as numpy unicode arrays and ``meta`` as JSON text, so no pickling is needed to
read them. Writes are atomic and reading back gives an identical record.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from poselift.errors import FormatError
from poselift.fileio import atomic_path
from poselift.io._common import nan_to_none, none_to_nan, read_json, save_npz_atomic
from poselift.io.records import Keypoints2D, Poses3D, naming_file

FORMAT_2D = "poselift.keypoints_2d"
FORMAT_3D = "poselift.poses_3d"
VERSION = 1
SUFFIXES = (".npz", ".json")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FormatError(path, f"unsupported suffix {path.suffix!r} for a poselift file (use .npz or .json)")
    return suffix


def _fields_2d(keypoints: Keypoints2D) -> dict[str, Any]:
    fields: dict[str, Any] = {"format": FORMAT_2D, "version": VERSION, "layout": keypoints.layout}
    if keypoints.image_size is not None:
        fields["image_size"] = list(keypoints.image_size)
    if keypoints.fps is not None:
        fields["fps"] = keypoints.fps
    return fields


def _fields_3d(poses: Poses3D) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "format": FORMAT_3D,
        "version": VERSION,
        "joint_names": list(poses.joint_names),
        "frame": poses.frame,
    }
    if poses.up is not None:
        fields["up"] = poses.up
    if poses.fps is not None:
        fields["fps"] = poses.fps
    if poses.layout is not None:
        fields["layout"] = poses.layout
    meta = dict(poses.meta)
    if isinstance(meta.get("model"), str):
        fields["model"] = meta.pop("model")
    fields["meta"] = meta
    return fields


# 9 significant digits: the nearest such decimal is within 0.5e-8 relative of a float32, well inside
# half its spacing (>= 2**-25 relative), so every float32 reads back exactly (also via float64).
_JSON_NUMBER = "%.9g"
_JSON_CHUNK_FRAMES = 8192


def _nested_template(shape: tuple[int, ...]) -> str:
    """``%``-format template of nested JSON lists of ``shape``: (2, 3) -> "[[%.9g, %.9g, %.9g], [...]]"."""
    template = _JSON_NUMBER
    for size in reversed(shape):
        template = "[" + ", ".join([template] * size) + "]"
    return template


def json_array_chunks(values: np.ndarray, frames_per_chunk: int = _JSON_CHUNK_FRAMES) -> Iterator[str]:
    """The JSON text of ``values`` (any shape, float) as nested lists, in pieces of ``frames_per_chunk`` rows.

    NaN becomes null; numbers have 9 significant digits (:data:`_JSON_NUMBER`: read back as float32,
    each value is exactly the one written). All numbers of a piece are formatted by one C-level
    ``%`` of a template, with no Python loop over frames or values. Raises ValueError on infinity.
    """
    values = np.asarray(values, dtype=np.float32)
    if np.isinf(values).any():
        raise ValueError("infinite values cannot be written as JSON")
    if values.ndim == 0 or values.size == 0:
        yield json.dumps(nan_to_none(values))
        return
    frame_template = _nested_template(values.shape[1:])
    yield "["
    for first in range(0, len(values), frames_per_chunk):
        chunk = values[first : first + frames_per_chunk]
        text = ", ".join([frame_template] * len(chunk)) % tuple(chunk.reshape(-1).tolist())
        if np.isnan(chunk).any():
            text = text.replace("nan", "null")       # "%g" writes NaN as "nan"; no number contains it
        yield (", " if first else "") + text
    yield "]"


def _write_json(path: Path, fields: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``{**fields, **arrays}`` as one JSON object (arrays last, in bulk), atomically."""
    head = json.dumps(fields, allow_nan=False)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(head[:-1])
        separator = ", " if fields else ""
        for key, values in arrays.items():
            handle.write(f"{separator}{json.dumps(key)}: ")
            for text in json_array_chunks(values):
                handle.write(text)
            separator = ", "
        handle.write("}\n")


def _check_json_serialisable(path: Path, poses: Poses3D) -> None:
    try:
        json.dumps(poses.meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise FormatError(path, f"cannot write Poses3D.meta: it must be JSON-serialisable ({error})") from None


def write_keypoints_2d(path: str | os.PathLike, keypoints: Keypoints2D) -> None:
    """Write ``keypoints`` to ``path`` (.npz or .json), atomically."""
    path = Path(path)
    fields = _fields_2d(keypoints)
    if _suffix(path) == ".json":
        _write_json(path, fields, {"keypoints_2d": keypoints.keypoints_2d, "confidence": keypoints.confidence})
        return
    arrays = {key: np.asarray(value) for key, value in fields.items()}
    save_npz_atomic(path, keypoints_2d=keypoints.keypoints_2d, confidence=keypoints.confidence, **arrays)


def write_poses_3d(path: str | os.PathLike, poses: Poses3D) -> None:
    """Write ``poses`` to ``path`` (.npz or .json), atomically. ``meta`` must be JSON-serialisable."""
    path = Path(path)
    _check_json_serialisable(path, poses)
    fields = _fields_3d(poses)
    if _suffix(path) == ".json":
        _write_json(path, fields, {"poses_3d": poses.poses_3d})
        return
    fields["meta"] = json.dumps(fields["meta"])
    fields["joint_names"] = np.array(poses.joint_names, dtype=str).reshape(len(poses.joint_names))
    arrays = {key: np.asarray(value) for key, value in fields.items()}
    save_npz_atomic(path, poses_3d=poses.poses_3d, **arrays)


def _load_fields(path: Path) -> dict[str, Any]:
    """All keys of a poselift file as Python values / numpy arrays."""
    if _suffix(path) == ".json":
        data = read_json(path)
        if not isinstance(data, dict):
            raise FormatError(path, "expected a JSON object with a 'format' key")
        return data
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise FormatError(path, f"cannot read .npz file ({error})") from None


def _require(path: Path, fields: dict[str, Any], key: str) -> Any:
    if key not in fields:
        raise FormatError(path, f"missing key {key!r}")
    return fields[key]


def _scalar(value: Any) -> Any:
    """A Python scalar from a 0-d numpy array (npz) or a JSON value."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _check_format(path: Path, fields: dict[str, Any], expected: str) -> None:
    """The optional 'format' tag, when present, must match; files written by hand may omit it."""
    found = _scalar(fields.get("format", expected))
    if found != expected:
        raise FormatError(path, f"'format' is {found!r}, expected {expected!r}")
    version = _scalar(fields.get("version", VERSION))
    if version != VERSION:
        raise FormatError(path, f"file version {version} is not supported (this poselift reads version {VERSION})")


def _array(path: Path, fields: dict[str, Any], key: str) -> np.ndarray:
    value = _require(path, fields, key)
    try:
        return none_to_nan(value) if not isinstance(value, np.ndarray) else value.astype(np.float32)
    except (TypeError, ValueError):
        raise FormatError(path, f"{key!r} is not a rectangular array of numbers") from None


def read_keypoints_2d(path: str | os.PathLike) -> Keypoints2D:
    """Read a poselift 2D keypoint file (.npz or .json)."""
    path = Path(path)
    fields = _load_fields(path)
    _check_format(path, fields, FORMAT_2D)
    image_size = fields.get("image_size")
    with naming_file(path):
        return Keypoints2D(
            keypoints_2d=_array(path, fields, "keypoints_2d"),
            confidence=_array(path, fields, "confidence"),
            layout=str(_scalar(_require(path, fields, "layout"))),
            image_size=None if image_size is None else tuple(int(v) for v in np.asarray(image_size).tolist()),
            fps=_scalar(fields.get("fps")),
        )


def read_poses_3d(path: str | os.PathLike) -> Poses3D:
    """Read a poselift 3D pose file (.npz or .json)."""
    path = Path(path)
    fields = _load_fields(path)
    _check_format(path, fields, FORMAT_3D)
    meta = _scalar(fields.get("meta", {}))
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            raise FormatError(path, "'meta' is not valid JSON") from None
    if not isinstance(meta, dict):
        raise FormatError(path, "'meta' must be a JSON object")
    if "model" in fields:
        meta = {**meta, "model": _scalar(fields["model"])}
    layout = _scalar(fields.get("layout"))
    with naming_file(path):
        return Poses3D(
            poses_3d=_array(path, fields, "poses_3d"),
            joint_names=tuple(str(name) for name in np.asarray(_require(path, fields, "joint_names")).tolist()),
            frame=str(_scalar(_require(path, fields, "frame"))),
            fps=_scalar(fields.get("fps")),
            layout=None if layout is None else str(layout),
            meta=meta,
            up=None if fields.get("up") is None else str(_scalar(fields["up"])),
        )
