"""V-VIPE's 3D encoding (§3.1): every pose turned to its canonical body frame (left hip on +y, spine
on +z), pelvis at the origin, scaled to unit size; the model decodes at the training poses' mean size."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from poselift.encoding.normalizer import insert_root, split_root
from poselift.errors import PoseliftError, ShapeError
from poselift.geometry import array_kind, canonicalize
from poselift.skeleton import H36M17


def pose_scale(poses_3d: Tensor, root_index: int = H36M17.root_index) -> Tensor:
    """Size of each pose: RMS distance of the non-root joints from the root, ``(..., J, 3)`` -> ``(...)``
    in the poses' unit."""
    offsets = split_root(poses_3d - poses_3d[..., root_index : root_index + 1, :], root_index)
    return offsets.square().sum(dim=-1).mean(dim=-1).sqrt()


def normalize_pose_3d(poses_3d):
    """§3.1: canonical rotation (hips on y, spine on z), pelvis at the origin, unit size.

    Args:
        poses_3d: ``(..., 17, 3)`` mm in any frame (camera or world), numpy array or tensor; H36M-17.

    Returns:
        ``(normalised (..., 17, 3) unit-free, canonical body frame with the left hip on +y and the
        spine's component across the hips on +z, RMS joint distance from the pelvis = 1;
        scale_mm (...) the size divided out)``, of the input's type.

    Raises:
        ShapeError: a pose with coincident hips, a spine along the hips, non-finite joints or zero size.
    """
    kind = array_kind(poses_3d)
    poses = kind.tensor(poses_3d)
    if poses.ndim < 2 or poses.shape[-2:] != (H36M17.num_joints, 3):
        raise ShapeError(f"poses_3d: expected shape (..., {H36M17.num_joints}, 3), got {tuple(poses.shape)}")
    canonical = canonicalize(poses)                       # raises on degenerate hips / spine and on NaN
    scale = pose_scale(canonical)
    if not bool(torch.isfinite(scale).all() & (scale > 0).all()):
        raise ShapeError("poses_3d: every pose needs finite joints and a non-zero size")
    return kind.output(canonical / scale[..., None, None]), kind.output(scale)


class CanonicalPoseNormalizer(nn.Module):
    """The 3D encoding of V-VIPE: normalised canonical poses, flattened without the root.

    ``encode_3d`` maps ``(..., J, 3)`` mm poses (any frame) to ``(..., 3(J-1))`` unit-free vectors,
    ``decode_3d`` maps such vectors back to ``(..., J, 3)`` mm in the canonical frame at
    :attr:`scale_mm`, the mean size of the training poses (buffer, saved in checkpoints; set by
    :meth:`fit_source`, which the training loop calls on an unfitted model).
    """

    def __init__(self, num_joints: int = 17):
        super().__init__()
        if num_joints != H36M17.num_joints:
            raise ShapeError(f"V-VIPE works on the H36M-17 layout (17 joints), got num_joints={num_joints}")
        self.num_joints = num_joints
        self.register_buffer("scale_mm", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(0, dtype=torch.uint8))

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    @property
    def output_dim(self) -> int:
        """Length of an encoded pose: 3(J-1)."""
        return 3 * (self.num_joints - 1)

    def normalize(self, poses_3d: Tensor) -> Tensor:
        """``(..., J, 3)`` mm, any frame -> ``(..., J, 3)`` normalised canonical poses (:func:`normalize_pose_3d`)."""
        return normalize_pose_3d(poses_3d.to(self.scale_mm))[0]

    def encode_3d(self, poses_3d: Tensor) -> Tensor:
        """``(..., J, 3)`` mm, any frame -> ``(..., 3(J-1))`` normalised canonical coordinates (root dropped)."""
        return split_root(self.normalize(poses_3d), H36M17.root_index).flatten(start_dim=-2)

    def decode_3d(self, encoded_3d: Tensor) -> Tensor:
        """``(..., 3(J-1))`` -> ``(..., J, 3)`` mm, canonical frame, pelvis at the origin, mean training size."""
        if encoded_3d.shape[-1] != self.output_dim:
            raise ShapeError(f"encoded_3d: expected shape (..., {self.output_dim}), got {tuple(encoded_3d.shape)}")
        normalised = insert_root(encoded_3d.unflatten(-1, (self.num_joints - 1, 3)), H36M17.root_index)
        return normalised * self.scale_mm

    def fit_source(self, source, chunk_size: int = 65_536, seed: int = 0) -> "CanonicalPoseNormalizer":
        """Set :attr:`scale_mm` to the mean size (:func:`pose_scale`, mm) of every ``poses_3d`` of a
        batch source (a source of pairs is read through its ``single_frames``)."""
        source = getattr(source, "single_frames", source)
        if len(source) == 0:
            raise PoseliftError("cannot fit the pose size: the training data is empty")
        generator = torch.Generator().manual_seed(seed)
        total, count = 0.0, 0
        for start in range(0, len(source), chunk_size):
            poses = source.batch(torch.arange(start, min(start + chunk_size, len(source))), generator)["poses_3d"]
            sizes = pose_scale(poses.double())
            if not bool(torch.isfinite(sizes).all()):
                raise ShapeError("poses_3d: non-finite values in the training poses")
            total, count = total + float(sizes.sum()), count + sizes.numel()
        with torch.no_grad():
            self.scale_mm.fill_(total / count)
            self.fitted.fill_(1)
        return self
