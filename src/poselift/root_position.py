"""Where the person is: the root's position in the camera frame from one view, an estimate.

A lifter gives root-relative poses; where the root is follows from the camera. For a root-relative
pose ``P_j`` (mm, camera frame) whose joints are seen at the undistorted normalised image
coordinates ``(x_j, y_j) = ((u_j - c_x) / f_x, (v_j - c_y) / f_y)`` (:meth:`Intrinsics.rays`), the
root ``T`` satisfies ``x_j (Z_j + T_z) = X_j + T_x`` and ``y_j (Z_j + T_z) = Y_j + T_y`` for every
joint: two equations per joint, linear in ``T``. :func:`estimate_root_positions` solves them by
least squares, each joint weighted by its 2D confidence, every frame at once.

It is an estimate, and says so wherever it is used: its depth scales with the size of the 3D skeleton
(a pose lifted 10 % too small puts the person 10 % too near), and with the focal length when that
is only assumed (:func:`poselift.intrinsics.intrinsics_for_track`); the direction of the root's ray
comes from the 2D and is good.
"""

from __future__ import annotations

import numpy as np
import torch

from poselift.errors import ShapeError
from poselift.intrinsics import Intrinsics

# A frame needs this many seen joints (two equations each) and a root in front of the camera.
MIN_JOINTS = 3
MIN_DEPTH_MM = 100.0


def estimate_root_positions(poses_mm: np.ndarray, keypoints_px: np.ndarray, confidence: np.ndarray,
                            intrinsics: Intrinsics) -> np.ndarray:
    """The root's position of every frame by weighted least squares (see the module docstring).

    Args:
        poses_mm: (T, J, 3) root-relative poses, mm, camera frame (x right, y down, z forward).
        keypoints_px: (T, J, 2) the same joints' 2D, px (NaN where missing).
        confidence: (T, J) weights in [0, 1] (0 = not used).
        intrinsics: the camera, one for the whole track (``focal (2,)``).
    Returns:
        (T, 3) mm, camera frame; NaN for a frame with fewer than :data:`MIN_JOINTS` usable joints or
        whose solution lies behind the camera (nearer than :data:`MIN_DEPTH_MM`).
    """
    poses = np.asarray(poses_mm, dtype=np.float64)
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    weights = np.asarray(confidence, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[-1] != 3 or keypoints.shape != poses.shape[:-1] + (2,) \
            or weights.shape != poses.shape[:-1]:
        raise ShapeError(f"root positions: expected poses (T, J, 3), keypoints (T, J, 2) and confidence (T, J), "
                         f"got {poses.shape}, {keypoints.shape} and {weights.shape}")
    rays = intrinsics.rays(torch.as_tensor(np.nan_to_num(keypoints), dtype=torch.float64)).numpy()
    usable = np.isfinite(keypoints).all(-1) & np.isfinite(poses).all(-1) & np.isfinite(weights) & (weights > 0)
    weights = np.where(usable, weights, 0.0)
    rays, poses = np.where(usable[..., None], rays, 0.0), np.where(usable[..., None], poses, 0.0)
    x, y = rays[..., 0], rays[..., 1]
    # rows [1, 0, -x] and [0, 1, -y], right-hand sides x Z - X and y Z - Y: normal equations per frame
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    rows = np.stack([np.stack([ones, zeros, -x], -1), np.stack([zeros, ones, -y], -1)], axis=-2)   # (T, J, 2, 3)
    targets = np.stack([x * poses[..., 2] - poses[..., 0], y * poses[..., 2] - poses[..., 1]], -1)  # (T, J, 2)
    weighted = rows * weights[..., None, None]
    normal = np.einsum("tjki,tjkl->til", weighted, rows)                                           # (T, 3, 3)
    right = np.einsum("tjki,tjk->ti", weighted, targets)                                           # (T, 3)
    enough = usable.sum(-1) >= MIN_JOINTS
    normal[~enough] = np.eye(3)
    root = np.linalg.solve(normal, right[..., None])[..., 0]
    root[~enough | ~(root[:, 2] > MIN_DEPTH_MM)] = np.nan
    return root
