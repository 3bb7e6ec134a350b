"""Uncalibrated mode: the relative pose of two cameras from 2D joint correspondences (OpenCV).

For views without extrinsics (Li et al., AAAI 2020, after Kocabas et al. 2019): camera 1 is the
world, the joints seen by both cameras over many frames are the correspondences. Steps:

1. Undistort each view's pixels with its camera's intrinsics and distortion to normalised image
   coordinates (:func:`poselift.camera.undistort_points`), so both views share the identity
   intrinsic matrix (the two cameras may differ).
2. Essential matrix with RANSAC (``cv2.findEssentialMat``; the inlier threshold is given in pixels and
   divided by the mean focal length).
3. ``cv2.recoverPose``: the SVD decomposition's four ``(R, t)`` candidates, kept by the cheirality
   check (the triangulated points must lie in front of both cameras).
4. The translation is a unit vector; it is scaled by the given distance between the camera centres.

Conventions (those of the paper's Eq. 3-4 and of :mod:`poselift.camera`): ``x_cam2 = R_1to2 (x_cam1 -
t_1to2)``; ``t_1to2`` (mm) is camera 2's centre in camera 1's frame. OpenCV's ``x2 = R x1 + t`` gives
``R_1to2 = R`` and ``t_1to2 = -R^T t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from poselift.camera import Camera, undistort_points
from poselift.errors import PoseliftError, ShapeError

MIN_CORRESPONDENCES = 8


@dataclass(frozen=True)
class RelativePose:
    """Camera 2 relative to camera 1.

    rotation: (3, 3) R_1to2, camera-1 frame -> camera-2 axes. translation_mm: (3,) t_1to2, camera 2's
    centre in camera 1's frame (mm; the unit direction times the given distance). inliers: number of
    correspondences that passed RANSAC and the cheirality check. correspondences: number used.
    """

    rotation: np.ndarray
    translation_mm: np.ndarray
    inliers: int
    correspondences: int

    def cameras(self, camera_1: Camera, camera_2: Camera) -> tuple[Camera, Camera]:
        """The two cameras (their intrinsics) with these extrinsics: camera 1 at the origin of a world
        equal to its own frame (``R = I``, centre 0), camera 2 with ``R = R_1to2``, centre ``t_1to2``."""
        first = _with_pose(camera_1, np.eye(3), np.zeros(3))
        second = _with_pose(camera_2, self.rotation, self.translation_mm)
        return first, second


def _with_pose(camera: Camera, rotation: np.ndarray, centre: np.ndarray) -> Camera:
    return Camera(fx=camera.fx, fy=camera.fy, cx=camera.cx, cy=camera.cy, k=camera.k, p=camera.p,
                  width=camera.width, height=camera.height, R=rotation, centre=centre, name=camera.name)


def _correspondences(keypoints_1_px, keypoints_2_px, confidence_1, confidence_2, min_confidence: float):
    """Flattened ``(N, 2)`` pixel pairs seen in both views with confidence >= ``min_confidence``."""
    points_1 = np.asarray(keypoints_1_px, dtype=np.float64)
    points_2 = np.asarray(keypoints_2_px, dtype=np.float64)
    if points_1.shape != points_2.shape or points_1.ndim < 2 or points_1.shape[-1] != 2:
        raise ShapeError(f"keypoints: expected two arrays of the same shape (..., J, 2), got {points_1.shape} "
                         f"and {points_2.shape}")
    keep = np.isfinite(points_1).all(axis=-1) & np.isfinite(points_2).all(axis=-1)
    for name, confidence in (("confidence_1", confidence_1), ("confidence_2", confidence_2)):
        if confidence is not None:
            confidence = np.asarray(confidence, dtype=np.float64)
            if confidence.shape != points_1.shape[:-1]:
                raise ShapeError(f"{name}: expected shape {points_1.shape[:-1]}, got {confidence.shape}")
            keep &= np.nan_to_num(confidence, nan=0.0) >= min_confidence
    return points_1[keep], points_2[keep]


def relative_pose(keypoints_1_px, keypoints_2_px, camera_1: Camera, camera_2: Camera, distance_mm: float,
                  confidence_1=None, confidence_2=None, min_confidence: float = 0.5, threshold_px: float = 1.0,
                  probability: float = 0.999) -> RelativePose:
    """Camera 2's pose relative to camera 1 from the joints both saw (module docstring).

    Args:
        keypoints_1_px, keypoints_2_px: ``(..., J, 2)`` px, the same frames and joints in both views
            (numpy arrays or tensors; NaN where missing).
        camera_1, camera_2: cameras with the views' intrinsics and distortion (extrinsics ignored).
        distance_mm: distance between the two camera centres, mm (the scale 2D cannot give).
        confidence_1, confidence_2: ``(..., J)`` or None; correspondences below ``min_confidence`` in
            either view are left out.
        threshold_px: RANSAC inlier distance to the epipolar line, px. probability: RANSAC confidence.

    Raises:
        PoseliftError: fewer than 8 usable correspondences, or no essential matrix found.
    """
    if not distance_mm > 0:
        raise PoseliftError(f"distance_mm must be > 0, got {distance_mm}")
    points_1, points_2 = _correspondences(keypoints_1_px, keypoints_2_px, confidence_1, confidence_2,
                                          min_confidence)
    if len(points_1) < MIN_CORRESPONDENCES:
        raise PoseliftError(f"relative pose: {len(points_1)} joints seen in both views with confidence >= "
                            f"{min_confidence}, need at least {MIN_CORRESPONDENCES}")
    normalised_1 = np.asarray(undistort_points(points_1, camera_1), dtype=np.float64)
    normalised_2 = np.asarray(undistort_points(points_2, camera_2), dtype=np.float64)
    mean_focal = np.mean([camera_1.fx, camera_1.fy, camera_2.fx, camera_2.fy])
    identity = np.eye(3)
    essential, mask = cv2.findEssentialMat(normalised_1, normalised_2, identity, method=cv2.RANSAC,
                                           prob=probability, threshold=threshold_px / mean_focal)
    if essential is None or essential.shape[0] < 3:
        raise PoseliftError(f"relative pose: no essential matrix from {len(points_1)} correspondences")
    essential = essential[:3]               # several solutions may be stacked: take the best one
    inliers, rotation, direction, mask = cv2.recoverPose(essential, normalised_1, normalised_2, identity,
                                                         mask=mask)
    direction = direction.reshape(3)
    translation_mm = -rotation.T @ direction / np.linalg.norm(direction) * distance_mm
    return RelativePose(rotation=np.asarray(rotation, dtype=np.float64), translation_mm=translation_mm,
                        inliers=int(inliers), correspondences=len(points_1))


def rig_from_views(keypoints_2d_px, cameras: list[Camera], distances_mm, confidence=None,
                   **options) -> list[Camera]:
    """Extrinsics of a whole rig from its synchronised 2D joints: camera 0 is the world.

    Each other camera's pose relative to camera 0 comes from :func:`relative_pose` on the joints both
    saw, so the result can stand in for a calibration (e.g. for
    :meth:`poselift.data.datasets.MultiViewSource.from_recordings`).

    Args:
        keypoints_2d_px: ``(C, F, J, 2)`` px of the C cameras over the same F frames (NaN where missing).
        cameras: the C cameras' intrinsics and distortion (their extrinsics are ignored).
        distances_mm: ``(C - 1,)`` distances from camera 0's centre to each other camera's, mm.
        confidence: ``(C, F, J)`` or None. options: passed on to :func:`relative_pose`.

    Returns:
        The C cameras with extrinsics in camera 0's frame (camera 0: ``R = I``, centre 0).
    """
    keypoints = np.asarray(keypoints_2d_px, dtype=np.float64)
    distances = np.atleast_1d(np.asarray(distances_mm, dtype=np.float64))
    if keypoints.ndim != 4 or keypoints.shape[0] != len(cameras) or keypoints.shape[-1] != 2:
        raise ShapeError(f"keypoints_2d: expected (C={len(cameras)}, F, J, 2), got {keypoints.shape}")
    if distances.shape != (len(cameras) - 1,):
        raise ShapeError(f"distances_mm: expected {len(cameras) - 1} distances (one per camera after the "
                         f"first), got shape {distances.shape}")
    weights = [None] * len(cameras) if confidence is None else np.asarray(confidence, dtype=np.float64)
    rig = [_with_pose(cameras[0], np.eye(3), np.zeros(3))]
    for index in range(1, len(cameras)):
        estimate = relative_pose(keypoints[0], keypoints[index], cameras[0], cameras[index], distances[index - 1],
                                 weights[0], weights[index], **options)
        rig.append(estimate.cameras(cameras[0], cameras[index])[1])
    return rig


def rotation_error_deg(rotation_a, rotation_b) -> float:
    """Angle of ``R_a R_b^T`` in degrees: how far apart two ``(3, 3)`` rotations are."""
    difference = np.asarray(rotation_a, dtype=np.float64) @ np.asarray(rotation_b, dtype=np.float64).T
    cosine = np.clip((np.trace(difference) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cosine)))


__all__ = ["RelativePose", "relative_pose", "rig_from_views", "rotation_error_deg"]
