"""MediaPipe Pose landmarks as JSON: the file poselift writes from MediaPipe and reads back.

MediaPipe has no file format of its own, so poselift defines this one, which keeps the values
exactly as MediaPipe Pose returns them (normalised image coordinates)::

    {
      "format": "mediapipe_pose_landmarks",        (optional marker, written by poselift)
      "image_size": [width, height],                pixels, required
      "fps": 30.0,                                  or null
      "frames": [
        {"landmarks": [{"x": 0.51, "y": 0.23, "z": -0.1, "visibility": 0.99, "presence": 0.99},
                       ... 33 landmarks in MediaPipe's order ...]},
        {"landmarks": null},                        no person found in this frame
        ...
      ]
    }

- ``x`` and ``y`` are fractions of the image width and height (0..1, may lie slightly outside);
  pixels = (x * width, y * height). ``z`` (relative depth) and ``presence`` are optional and not
  used. A landmark with ``x`` or ``y`` null is missing.
- confidence = ``visibility`` clipped to [0, 1]; missing landmarks get NaN and confidence 0.
- Layout ``"mediapipe33"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from poselift.errors import FormatError, LayoutError
from poselift.fileio import write_text_atomic
from poselift.io._common import read_json
from poselift.io.records import Keypoints2D, naming_file

FORMAT = "mediapipe_pose_landmarks"
LAYOUT = "mediapipe33"
NUM_LANDMARKS = 33


# Normalised landmarks "may lie slightly outside" [0, 1]; a file with a coordinate beyond this holds pixels.
_LARGEST_NORMALISED = 2.0


def is_mediapipe_data(data: Any) -> bool:
    """True for parsed JSON that looks like a MediaPipe landmarks file."""
    return isinstance(data, dict) and (
        data.get("format") == FORMAT or ("frames" in data and "image_size" in data and "format" not in data)
    )


def _image_size(path: Path, data: dict) -> tuple[int, int]:
    size = data.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in size)):
        raise FormatError(path, f"'image_size' must be [width, height] in pixels, got {size!r}")
    return int(size[0]), int(size[1])


def _frame_landmarks(path: Path, frame_index: int, frame: Any) -> np.ndarray:
    """(33, 3) float64: x, y (normalised, NaN if missing), visibility."""
    landmarks = frame.get("landmarks") if isinstance(frame, dict) else frame
    values = np.full((NUM_LANDMARKS, 3), np.nan)
    values[:, 2] = 0.0
    if landmarks is None:
        return values
    if not isinstance(landmarks, list) or len(landmarks) != NUM_LANDMARKS:
        count = len(landmarks) if isinstance(landmarks, list) else type(landmarks).__name__
        raise FormatError(path, f"frames[{frame_index}].landmarks has {count} entries, expected {NUM_LANDMARKS}")
    for joint, landmark in enumerate(landmarks):
        if not isinstance(landmark, dict) or "visibility" not in landmark or "x" not in landmark or "y" not in landmark:
            raise FormatError(path, f"frames[{frame_index}].landmarks[{joint}] needs 'x', 'y' and 'visibility'")
        x, y, visibility = landmark["x"], landmark["y"], landmark["visibility"]
        try:
            if x is not None and y is not None:
                values[joint, :2] = float(x), float(y)
            values[joint, 2] = float(visibility) if visibility is not None else 0.0
        except (TypeError, ValueError):
            raise FormatError(
                path, f"frames[{frame_index}].landmarks[{joint}] has a value that is not a number"
            ) from None
    return values


def mediapipe_from_data(path: Path, data: Any, *, fps: float | None = None) -> Keypoints2D:
    """Build the track from parsed MediaPipe landmarks JSON ``data`` read from ``path``."""
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise FormatError(path, "not a MediaPipe landmarks file: expected an object with a 'frames' list")
    width, height = _image_size(path, data)
    per_frame = [_frame_landmarks(path, index, frame) for index, frame in enumerate(data["frames"])]
    frames = np.stack(per_frame) if per_frame else np.zeros((0, NUM_LANDMARKS, 3))
    landmarks = frames[..., :2]
    largest = float(np.nanmax(np.abs(landmarks))) if np.isfinite(landmarks).any() else 0.0
    notes = ()
    if largest > _LARGEST_NORMALISED:          # MediaPipe writes fractions of the image; these are pixels
        keypoints_2d = landmarks.copy()
        notes = (f"the landmarks are already in pixels (values up to {largest:.0f}), not fractions of the "
                 "image as MediaPipe writes them: read as pixels",)
    else:
        keypoints_2d = landmarks * np.array([width, height], dtype=np.float64)
    missing = np.isnan(keypoints_2d).any(axis=-1)
    keypoints_2d[missing] = np.nan
    confidence = np.where(missing, 0.0, np.clip(np.nan_to_num(frames[..., 2]), 0.0, 1.0))
    file_fps = data.get("fps")
    with naming_file(path):
        return Keypoints2D(
            keypoints_2d.astype(np.float32),
            confidence.astype(np.float32),
            LAYOUT,
            image_size=(width, height),
            fps=fps if fps is not None else file_fps,
            notes=notes,
        )


def read_mediapipe_json(path: str | os.PathLike, *, fps: float | None = None) -> Keypoints2D:
    """Read a MediaPipe landmarks JSON file (format in the module notes); pixels, layout mediapipe33.

    ``fps`` overrides the file's frame rate when given.
    """
    path = Path(path)
    return mediapipe_from_data(path, read_json(path), fps=fps)


def write_mediapipe_json(path: str | os.PathLike, keypoints: Keypoints2D) -> None:
    """Write ``keypoints`` (layout mediapipe33, image_size required) in the MediaPipe JSON form.

    Positions are divided by the image size; visibility and presence are the confidence, z is 0.
    An all-NaN frame is written as ``{"landmarks": null}``, a NaN landmark with null x and y.
    """
    path = Path(path)
    if keypoints.layout != LAYOUT:
        raise LayoutError(f"{path}: MediaPipe landmarks need layout {LAYOUT!r}, got {keypoints.layout!r}")
    if keypoints.image_size is None:
        raise FormatError(path, "cannot write MediaPipe landmarks without image_size (x, y are normalised to it)")
    width, height = keypoints.image_size
    normalised = keypoints.keypoints_2d.astype(np.float64) / np.array([width, height], dtype=np.float64)
    frames = []
    for frame in range(keypoints.num_frames):
        missing = np.isnan(normalised[frame]).any(axis=1)
        if missing.all():
            frames.append({"landmarks": None})
            continue
        landmarks = []
        for joint in range(NUM_LANDMARKS):
            confidence = float(keypoints.confidence[frame, joint])
            x, y = (None, None) if missing[joint] else map(float, normalised[frame, joint])
            landmarks.append({"x": x, "y": y, "z": 0.0, "visibility": confidence, "presence": confidence})
        frames.append({"landmarks": landmarks})
    document = {"format": FORMAT, "image_size": [width, height], "fps": keypoints.fps, "frames": frames}
    write_text_atomic(path, json.dumps(document, allow_nan=False) + "\n")
