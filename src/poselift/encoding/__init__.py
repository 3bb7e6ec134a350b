"""Encoders: what a model's network reads and writes instead of pixels and millimetres.

Every model holds one as ``model.normalizer``, saved in its checkpoints, and each has the same
interface, :class:`PoseEncoder`: ``is_fitted``, ``fit_source(source)`` (the training loop calls it
on an unfitted encoder with the training :class:`~poselift.data.datasets.BatchSource`),
``encode_3d`` and ``decode_3d`` (and ``encode_2d`` for the encoders of a 2D input).

- :class:`PoseNormalizer` (:mod:`~poselift.encoding.normalizer`): z-scored 2D input (raw pixels,
  "image"; root-centred and scale-normalised first, "pose"; or the camera rays, root-centred, with
  the root's ray, "camera", for a model given the intrinsics) and z-scored root-relative 3D; every
  supervised lifter.
- :class:`TwoDimensionalNormalizer` (:mod:`~poselift.encoding.views`): the same, fitted on 2D
  views only, with a fixed 3D scale; the self-supervised multi-view lifter (it never sees 3D).
- :class:`CanonicalPoseNormalizer` (:mod:`~poselift.encoding.canonical`): V-VIPE's 3D poses in
  their canonical body frame at unit size (:func:`normalize_pose_3d`).
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from poselift.encoding.canonical import CanonicalPoseNormalizer, normalize_pose_3d, pose_scale
from poselift.encoding.normalizer import (
    INPUT_NORMALIZATIONS,
    Moments,
    PoseNormalizer,
    camera_normalize_2d,
    image_keypoints_2d,
    insert_root,
    scale_normalize_2d,
    split_root,
)
from poselift.encoding.views import TwoDimensionalNormalizer


class PoseEncoder(Protocol):
    """The interface every encoder implements (3D side; the 2D encoders also have ``encode_2d``)."""

    @property
    def is_fitted(self) -> bool: ...

    def fit_source(self, source, chunk_size: int = 65_536, seed: int = 0) -> "PoseEncoder": ...

    def encode_3d(self, poses_3d: Tensor) -> Tensor: ...

    def decode_3d(self, encoded_3d: Tensor) -> Tensor: ...


__all__ = ["CanonicalPoseNormalizer", "INPUT_NORMALIZATIONS", "Moments", "PoseEncoder", "PoseNormalizer",
           "TwoDimensionalNormalizer", "camera_normalize_2d", "image_keypoints_2d", "insert_root", "normalize_pose_3d", "pose_scale",
           "scale_normalize_2d", "split_root"]
