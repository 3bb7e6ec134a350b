"""VideoPose3D dataset files ``data_2d_*.npz`` and ``data_3d_*.npz``: read and write.

- ``data_2d_<dataset>_<detector>.npz``: ``positions_2d`` = {subject: {action: [array (T, J, 2)
  pixels per camera]}} and ``metadata`` = {"layout_name", "num_joints", "keypoints_symmetry"
  [[left indices], [right indices]], optional "video_metadata" {subject: {"w", "h"}}}.
- ``data_3d_<dataset>.npz``: ``positions_3d`` = {subject: {action: array (T, J, 3) metres}},
  world frame (J = 32 for Human3.6M).

Both dictionaries are stored as pickled object arrays, so reading needs ``allow_pickle``: only
open files from sources you trust (unpickling can run code). poselift converts metres to
millimetres. The files hold no confidence: a finite keypoint gets confidence 1, a NaN one 0.
Layouts: "h36m" with 17 joints -> "h36m17", 32 -> "h36m32"; "coco" -> "coco17"; a poselift
layout name is taken as is; ``layout=`` overrides. A Human3.6M file (``data_2d_h36m_*.npz``, as
VideoPose3D names them) gives its track the Human3.6M camera of the index (VideoPose3D's order,
:data:`H36M_CAMERA_ORDER`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from poselift.errors import FormatError, LayoutError
from poselift.io._common import save_npz_atomic
from poselift.io.records import Keypoints2D, Poses3D, layout_joint_names, naming_file

MM_PER_M = 1000.0
# The camera ids of VideoPose3D's Human3.6M camera indices 0-3 (its h36m_dataset.py lists them in this order).
H36M_CAMERA_ORDER = ("54138969", "55011271", "58860488", "60457274")
_VIDEOPOSE_LAYOUT_NAMES = {"h36m17": "h36m", "h36m32": "h36m", "coco17": "coco"}


def _load(path: Path, key: str) -> tuple[dict, dict]:
    """(``key`` dictionary, metadata dictionary) of a VideoPose3D npz file."""
    try:
        with np.load(path, allow_pickle=True) as npz:
            if key not in npz.files:
                raise FormatError(path, f"missing key {key!r} (found: {', '.join(npz.files) or 'none'})")
            positions = npz[key]
            metadata = npz["metadata"] if "metadata" in npz.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as error:
        raise FormatError(path, f"cannot read .npz file ({error})") from None
    positions = positions.item() if positions.dtype == object and positions.ndim == 0 else positions
    if not isinstance(positions, dict):
        raise FormatError(path, f"{key!r} must be a dictionary {{subject: {{action: ...}}}}")
    metadata = metadata.item() if metadata is not None and metadata.ndim == 0 else {}
    if not isinstance(metadata, dict):
        raise FormatError(path, "'metadata' must be a dictionary")
    return positions, metadata


def _pick(path: Path, mapping: dict, key: Any, what: str) -> Any:
    if key is None:
        if len(mapping) != 1:
            raise FormatError(
                path, f"the file has {len(mapping)} {what}s; choose one with {what}= or --{what} ({', '.join(map(str, mapping))})"
            )
        key = next(iter(mapping))
    if key not in mapping:
        raise FormatError(path, f"no {what} {key!r} (available: {', '.join(map(str, mapping))})")
    return key, mapping[key]


def list_videopose3d(path: str | os.PathLike) -> dict[str, list[str]]:
    """Subjects and their actions in a VideoPose3D data_2d or data_3d file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=True) as npz:
            key = "positions_2d" if "positions_2d" in npz.files else "positions_3d"
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise FormatError(path, f"cannot read .npz file ({error})") from None
    positions, _ = _load(path, key)
    return {str(subject): [str(action) for action in actions] for subject, actions in positions.items()}


def _layout_from_metadata(path: Path, metadata: dict, num_joints: int, layout: str | None) -> str:
    from poselift.skeleton import LAYOUT_NAMES

    if layout is not None:
        return layout
    name = metadata.get("layout_name")
    if name == "h36m" and num_joints in (17, 32):
        return f"h36m{num_joints}"
    if name == "coco" and num_joints == 17:
        return "coco17"
    if name in LAYOUT_NAMES:
        return name
    raise LayoutError(
        f"{path}: metadata layout_name {name!r} with {num_joints} joints has no poselift layout; pass layout="
    )


def read_videopose3d_2d(
    path: str | os.PathLike,
    *,
    subject: str | None = None,
    action: str | None = None,
    camera: int = 0,
    layout: str | None = None,
    fps: float | None = None,
) -> Keypoints2D:
    """One camera's track of one subject/action from a VideoPose3D ``data_2d_*.npz`` file.

    subject / action may be left out when the file has only one. Pixels, confidence 1 (0 for NaN). A
    Human3.6M file (named ``data_2d_h36m*``) gives the track its camera (:func:`poselift.io.h36m_h5.h36m_camera`).
    """
    path = Path(path)
    positions, metadata = _load(path, "positions_2d")
    subject, actions = _pick(path, positions, subject, "subject")
    action, cameras = _pick(path, actions, action, "action")
    if not isinstance(cameras, (list, tuple)) or not -len(cameras) <= camera < len(cameras):
        count = len(cameras) if isinstance(cameras, (list, tuple)) else 0
        raise FormatError(path, f"{subject}/{action}: no camera {camera} ({count} cameras)")
    keypoints_2d = np.asarray(cameras[camera])
    video_metadata = metadata.get("video_metadata")
    video = video_metadata.get(subject) if isinstance(video_metadata, dict) else None
    image_size = None
    if isinstance(video, dict) and "w" in video and "h" in video:
        image_size = (int(video["w"]), int(video["h"]))
    known_camera = None
    if path.name.startswith("data_2d_h36m") and len(cameras) == len(H36M_CAMERA_ORDER):
        from poselift.io.h36m_h5 import h36m_camera

        known_camera = h36m_camera(H36M_CAMERA_ORDER[camera])
    with naming_file(path):
        num_joints = keypoints_2d.shape[1] if keypoints_2d.ndim == 3 else -1
        layout = _layout_from_metadata(path, metadata, num_joints, layout)
        return Keypoints2D(keypoints_2d, None, layout, image_size=image_size, fps=fps, camera=known_camera)


def _symmetry(layout: str) -> list[list[int]]:
    from poselift.skeleton import LAYOUT_NAMES, get_layout

    if layout not in LAYOUT_NAMES:
        return [[], []]
    pairs = get_layout(layout).left_right
    return [[left for left, _ in pairs], [right for _, right in pairs]]


def write_videopose3d_2d(path: str | os.PathLike, tracks: Mapping[str, Mapping[str, Sequence[Keypoints2D]]]) -> None:
    """Write ``tracks`` = {subject: {action: [Keypoints2D per camera]}} as a VideoPose3D data_2d file.

    All tracks must share one layout. The image size of a subject is stored in
    ``metadata["video_metadata"]`` when all its tracks have the same one. Atomic.
    """
    path = Path(path)
    layouts = {track.layout for actions in tracks.values() for cameras in actions.values() for track in cameras}
    if len(layouts) != 1:
        raise LayoutError(f"{path}: all tracks must share one layout, got {sorted(layouts) or 'no tracks'}")
    layout = layouts.pop()
    positions = {
        subject: {action: [track.keypoints_2d.copy() for track in cameras] for action, cameras in actions.items()}
        for subject, actions in tracks.items()
    }
    video_metadata = {}
    for subject, actions in tracks.items():
        sizes = {track.image_size for cameras in actions.values() for track in cameras}
        if len(sizes) == 1 and None not in sizes:
            width, height = sizes.pop()
            video_metadata[subject] = {"w": width, "h": height}
    metadata = {
        "layout_name": _VIDEOPOSE_LAYOUT_NAMES.get(layout, layout),
        "num_joints": len(layout_joint_names(layout)),
        "keypoints_symmetry": _symmetry(layout),
    }
    if video_metadata:
        metadata["video_metadata"] = video_metadata
    save_npz_atomic(path, positions_2d=_object_array(positions), metadata=_object_array(metadata))


def _object_array(value: Any) -> np.ndarray:
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def read_videopose3d_3d(
    path: str | os.PathLike, *, subject: str | None = None, action: str | None = None, fps: float | None = None
) -> Poses3D:
    """One subject/action from a VideoPose3D ``data_3d_*.npz`` file, as millimetres, world frame.

    32 joints -> layout "h36m32", 17 -> "h36m17"; other joint counts get names joint_0, joint_1, ...
    """
    path = Path(path)
    positions, _ = _load(path, "positions_3d")
    subject, actions = _pick(path, positions, subject, "subject")
    action, poses_m = _pick(path, actions, action, "action")
    poses_m = np.asarray(poses_m)
    num_joints = poses_m.shape[1] if poses_m.ndim == 3 else -1
    layout = {32: "h36m32", 17: "h36m17"}.get(num_joints)
    joint_names = layout_joint_names(layout) if layout else tuple(f"joint_{j}" for j in range(max(num_joints, 0)))
    with naming_file(path):
        return Poses3D(
            poses_3d=poses_m.astype(np.float64) * MM_PER_M,
            joint_names=joint_names,
            frame="world",
            fps=fps,
            layout=layout,
            meta={"source": "videopose3d", "subject": str(subject), "action": str(action)},
        )


def write_videopose3d_3d(path: str | os.PathLike, poses: Mapping[str, Mapping[str, Poses3D]]) -> None:
    """Write {subject: {action: Poses3D}} as a VideoPose3D data_3d file (metres, float32). Atomic."""
    positions = {
        subject: {action: (pose.poses_3d / MM_PER_M).astype(np.float32) for action, pose in actions.items()}
        for subject, actions in poses.items()
    }
    save_npz_atomic(path, positions_3d=_object_array(positions))
