"""OpenPose per-frame JSON files (``--write_json``), BODY_25 body keypoints: read and write.

OpenPose writes one file per frame, ``<name>_<frame number>_keypoints.json``, holding
``{"version": ..., "people": [{"pose_keypoints_2d": [x, y, c] * 25, ...}, ...]}``.

- Frames are ordered by the number just before ``_keypoints`` in the file name.
- One person per frame: the one with the largest sum of keypoint confidences (OpenPose gives no
  person score; this favours the most complete, usually the nearest, person).
- OpenPose writes an undetected keypoint as ``0, 0, 0``: any keypoint with c = 0 is read as NaN
  with confidence 0. A frame with no person is all NaN with confidence 0.
- Layout ``"openpose25"`` (BODY_25, 75 values per person). The older ``pose_keypoints`` key is
  read too.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from poselift.errors import FormatError, LayoutError
from poselift.fileio import prepare_output_dir, write_text_atomic
from poselift.io._common import read_json
from poselift.io.records import Keypoints2D, naming_file

LAYOUT = "openpose25"
NUM_JOINTS = 25
FILE_SUFFIX = "_keypoints.json"
_FRAME_NUMBER = re.compile(r"(\d+)_keypoints\.json$")


def is_openpose_frame_data(data: Any) -> bool:
    """True for parsed JSON that looks like one OpenPose frame (an object with ``people``)."""
    return isinstance(data, dict) and isinstance(data.get("people"), list)


def openpose_frame_files(folder: str | os.PathLike) -> list[Path]:
    """The ``*_keypoints.json`` files of ``folder`` ordered by frame number."""
    folder = Path(folder)
    files = [path for path in folder.iterdir() if path.name.endswith(FILE_SUFFIX) and path.is_file()]

    def frame_number(path: Path) -> tuple[int, str]:
        match = _FRAME_NUMBER.search(path.name)
        return (int(match.group(1)) if match else -1, path.name)

    return sorted(files, key=frame_number)


def _frame_people(path: Path, data: Any) -> list[np.ndarray]:
    """Every person's (25, 3) values (x, y, c) of one frame."""
    if not is_openpose_frame_data(data):
        raise FormatError(path, "not an OpenPose keypoint file: expected an object with a 'people' list")
    people = []
    for index, person in enumerate(data["people"]):
        values = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) else None
        if values is None:
            raise FormatError(path, f"people[{index}] has no 'pose_keypoints_2d' field")
        if not isinstance(values, list) or len(values) != 3 * NUM_JOINTS:
            count = len(values) if isinstance(values, list) else type(values).__name__
            raise FormatError(
                path,
                f"people[{index}].pose_keypoints_2d has {count} values, expected {3 * NUM_JOINTS} "
                "(BODY_25: 25 joints x (x, y, c))",
            )
        try:
            array = np.array(values, dtype=np.float64).reshape(NUM_JOINTS, 3)
        except (TypeError, ValueError):
            raise FormatError(
                path, f"people[{index}].pose_keypoints_2d contains a value that is not a number"
            ) from None
        if not np.isfinite(array).all():
            raise FormatError(path, f"people[{index}].pose_keypoints_2d contains NaN or infinite values")
        people.append(array)
    return people


def _as_track_frame(values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(25, 2) keypoints (NaN where c <= 0) and (25,) confidence of one person's values (None: nobody)."""
    if values is None:
        return np.full((NUM_JOINTS, 2), np.nan), np.zeros(NUM_JOINTS)
    keypoints = values[:, :2].copy()
    confidence = np.clip(values[:, 2], 0.0, 1.0)
    keypoints[values[:, 2] <= 0] = np.nan
    confidence[values[:, 2] <= 0] = 0.0
    return keypoints, confidence


def read_openpose_json(
    path: str | os.PathLike, *, fps: float | None = None, image_size: tuple[int, int] | None = None,
    person: str | int | None = None,
) -> Keypoints2D:
    """Read an OpenPose output folder (all ``*_keypoints.json`` files) or a single frame file.
    ``person``: follow one person through the frames (:func:`poselift.io.people.follow_person`)
    instead of taking each frame's most complete one.

    Returns a Keypoints2D with layout "openpose25"; OpenPose files hold no frame rate or image
    size, pass them if known.
    """
    path = Path(path)
    if path.is_dir():
        files = openpose_frame_files(path)
        if not files:
            raise FormatError(path, f"no OpenPose '*{FILE_SUFFIX}' files in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise FormatError(path, "no such file or folder")
    everybody = [_frame_people(file, read_json(file)) for file in files]
    notes = ()
    if person is None:                          # each frame's most complete person
        people = [_as_track_frame(max(frame, key=lambda values: values[:, 2].sum()) if frame else None)
                  for frame in everybody]
        keypoints_2d = np.stack([keypoints for keypoints, _ in people]).astype(np.float32)
        confidence = np.stack([frame_confidence for _, frame_confidence in people]).astype(np.float32)
    else:
        from poselift.io.people import follow_person

        keypoints_2d, confidence, note = follow_person([[_as_track_frame(values) for values in frame]
                                                        for frame in everybody], person, image_size, NUM_JOINTS)
        notes = (note,)
    with naming_file(path):
        return Keypoints2D(keypoints_2d, confidence, LAYOUT, image_size=image_size, fps=fps, notes=notes)


def write_openpose_json(
    folder: str | os.PathLike, keypoints: Keypoints2D, *, name: str = "frame", force: bool = False
) -> list[Path]:
    """Write one OpenPose file per frame, ``<folder>/<name>_<frame:012d>_keypoints.json``.

    ``keypoints`` must have layout "openpose25". NaN keypoints are written as ``0, 0, 0`` (so a
    keypoint with confidence 0 reads back as NaN); a frame whose keypoints are all NaN has no
    person. The folder must be new or empty unless ``force``. Returns the files written.
    """
    if keypoints.layout != LAYOUT:
        raise LayoutError(f"{folder}: OpenPose files need layout {LAYOUT!r}, got {keypoints.layout!r}")
    folder = prepare_output_dir(folder, force)
    written = []
    for frame in range(keypoints.num_frames):
        missing = np.isnan(keypoints.keypoints_2d[frame]).any(axis=1)
        people = []
        if not missing.all():
            values = np.concatenate([keypoints.keypoints_2d[frame], keypoints.confidence[frame][:, None]], axis=1)
            values[missing] = 0.0
            people.append({"person_id": [-1], "pose_keypoints_2d": values.astype(np.float64).ravel().tolist()})
        path = folder / f"{name}_{frame:012d}{FILE_SUFFIX}"
        write_text_atomic(path, json.dumps({"version": 1.3, "people": people}) + "\n")
        written.append(path)
    return written
