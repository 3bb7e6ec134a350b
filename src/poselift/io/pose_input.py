"""Read any pose file poselift knows as one thing: 2D keypoints or 3D poses, in the H36M-17 layout.

What ``poselift index``, ``retrieve`` and ``generate`` take: a file of 2D keypoints (COCO, OpenPose,
MediaPipe, VideoPose3D, poselift 2D) or of 3D poses (BVH, ASF/AMC, H36M h5, poselift 3D), told apart
by ``kind`` or detected (``"auto"``). The skeleton conversions (PyTorch) are imported when a file is
read, so :data:`POSE_KINDS` costs the CLI's help nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, LayoutError, PoseliftError

POSE_KINDS = ("auto", "2d", "3d")


@dataclass(frozen=True, eq=False)
class PoseInput:
    """Poses read from a file, in the H36M-17 layout.

    kind: "2d" (``points`` (T, 17, 2) px, ``confidence`` (T, 17)) or "3d" (``points`` (T, 17, 3) mm,
    any frame; ``confidence`` None). NaN marks a missing joint.
    """

    path: str
    kind: str
    points: np.ndarray
    confidence: np.ndarray | None


def _poses_3d_in_h36m17(path: Path, poses) -> np.ndarray:
    """(T, 17, 3) mm from a :class:`~poselift.io.records.Poses3D` of any known layout."""
    from poselift.skeleton import H36M17, to_h36m17

    layout = poses.layout
    if layout is None and poses.joint_names == H36M17.joint_names:
        layout = H36M17.name
    if layout is None:
        raise LayoutError(f"{path}: 3D poses with joints {list(poses.joint_names)[:5]}... follow no known layout; "
                          "write them in the h36m17 layout (or name their layout)")
    points, _ = to_h36m17(poses.poses_3d, None, layout)
    return np.asarray(points, dtype=np.float32)


def load_pose_input(path: str | os.PathLike, kind: str = "auto") -> PoseInput:
    """Read a 2D keypoint file or a 3D pose file (any format :mod:`poselift.io` reads).

    ``kind="auto"`` tries a 3D pose file first, then a 2D keypoint file.

    Raises:
        FormatError: the file is neither (the message gives both readers' reasons).
    """
    from poselift.io import load_keypoints_2d, load_poses_3d
    from poselift.skeleton import to_h36m17

    if kind not in POSE_KINDS:
        raise PoseliftError(f"pose kind must be one of {', '.join(POSE_KINDS)}, got {kind!r}")
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file or folder")
    problems = []
    for name, reader, what in (("3d", load_poses_3d, "3D poses"), ("2d", load_keypoints_2d, "2D keypoints")):
        if kind not in ("auto", name):
            continue
        try:
            record = reader(path)
        except FormatError as error:
            if kind == name:
                raise
            problems.append(f"as {what}: {error.problem}")
            continue
        if name == "3d":
            return PoseInput(str(path), "3d", _poses_3d_in_h36m17(path, record), None)
        points, confidence = to_h36m17(record.keypoints_2d, record.confidence, record.layout)
        return PoseInput(str(path), "2d", np.asarray(points, np.float32), np.asarray(confidence, np.float32))
    raise FormatError(path, "not a pose file (" + "; ".join(problems) + ")")
