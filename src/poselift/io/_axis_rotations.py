"""Rotation matrices about the coordinate axes, batched over frames (private to the motion readers).

Motion-capture files store rotations as a sequence of angles about named axes (BVH channels,
ASF/AMC dof and axis orders). These helpers turn such a sequence into rotation matrices for
all frames at once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def axis_rotation(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """Right-handed rotation by ``angle_rad`` about the axis ``"X"``, ``"Y"`` or ``"Z"``.

    angle_rad: (...,) radians. Returns (..., 3, 3) float64 matrices acting on column vectors.
    """
    angle_rad = np.asarray(angle_rad, dtype=np.float64)
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    i = _AXIS_INDEX[axis.upper()]
    j, k = (i + 1) % 3, (i + 2) % 3
    matrix = np.zeros(angle_rad.shape + (3, 3), dtype=np.float64)
    matrix[..., i, i] = 1.0
    matrix[..., j, j] = cos
    matrix[..., k, k] = cos
    matrix[..., j, k] = -sin
    matrix[..., k, j] = sin
    return matrix


def compose_intrinsic(axes: Sequence[str], angles_rad: np.ndarray) -> np.ndarray:
    """Rotation ``R_a1 @ R_a2 @ ... @ R_an`` for axes listed ``a1 .. an`` (intrinsic order).

    axes: n axis letters; angles_rad: (..., n) radians. Returns (..., 3, 3) float64.
    With no axes it returns identities of shape (..., 3, 3).
    """
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    rotation = np.broadcast_to(np.eye(3), angles_rad.shape[:-1] + (3, 3)).copy()
    for index, axis in enumerate(axes):
        rotation = rotation @ axis_rotation(axis, angles_rad[..., index])
    return rotation


def compose_extrinsic(axes: Sequence[str], angles_rad: np.ndarray) -> np.ndarray:
    """Rotation that applies the listed axes first to last about fixed axes: ``R_an @ ... @ R_a1``.

    This is the Acclaim (ASF/AMC) reading of an order such as ``XYZ`` or ``rx ry rz``.
    axes: n axis letters; angles_rad: (..., n) radians. Returns (..., 3, 3) float64.
    """
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    return compose_intrinsic(tuple(reversed(tuple(axes))), angles_rad[..., ::-1])
