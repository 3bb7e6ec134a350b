"""Body-size augmentation: other people's proportions from the benchmark's ten.

The benchmark's training people are seven adults; users film children, tall and short adults, long
and short limbs. :func:`scale_bones` changes a pose's bone lengths along the kinematic tree of its
layout (H36M-17: pelvis -> hips -> knees -> ankles, pelvis -> spine -> thorax -> neck -> head,
thorax -> shoulders -> elbows -> wrists) before the pose is filmed, so the 2D and the 3D target
change together and the joint angles stay as they were: each joint moves with its parent's new
position plus its own bone, ``p'_j = p'_parent(j) + s_j (p_j - p_parent(j))``, the root kept.

:func:`draw_bone_scales` draws the factors ``s_j`` of :class:`BodyScaleConfig`: one overall factor
per sample (uniform in ``overall``) times an independent factor per bone (uniform in
``1 +- per_bone``), the same for a bone and its mirror image (people are nearly symmetric).
With the defaults (0.85-1.15 overall, +-5 % per bone) a 1.75 m tall person becomes 1.49 to 2.01 m
tall; children's proportions (a larger head for the body) are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from poselift.errors import PoseliftError, ShapeError
from poselift.skeleton import H36M17, Layout


@dataclass(frozen=True)
class BodyScaleConfig:
    """overall: ``(low, high)`` of the factor on every bone of a sample (uniform);
    per_bone: half-width of each bone's own factor around 1 (uniform in ``[1 - per_bone, 1 + per_bone]``)."""

    overall: tuple[float, float] = (0.85, 1.15)
    per_bone: float = 0.05

    def __post_init__(self) -> None:
        low, high = self.overall
        if not 0 < low <= high:
            raise PoseliftError(f"body scale: overall must be (low, high) with 0 < low <= high, got {self.overall}")
        if not 0 <= self.per_bone < 1:
            raise PoseliftError(f"body scale: per_bone must be in [0, 1), got {self.per_bone}")


@lru_cache(maxsize=None)
def bone_path_matrix(layout: Layout) -> Tensor:
    """``(J, J)`` float32: entry ``[j, k]`` is 1 when the bone ending at joint ``k`` (from its parent) lies on
    the path from the root to joint ``j`` (``k = j`` included), else 0; the root's column is 0. A joint's
    root-relative position is the sum of the bones on its path: ``p_j - p_root = sum_k M[j, k] bone_k``."""
    count = layout.num_joints
    path = torch.zeros(count, count)
    for joint in range(count):                       # a loop over the layout's joints, once per layout
        node = joint
        while layout.parents[node] >= 0:
            path[joint, node] = 1.0
            node = layout.parents[node]
    return path


def bone_vectors(poses: Tensor, layout: Layout = H36M17) -> Tensor:
    """``(..., J, 3)`` -> ``(..., J, 3)``: joint minus parent for each joint, zero for the root."""
    parents = torch.tensor([max(parent, 0) for parent in layout.parents])
    bones = poses - poses[..., parents, :]
    return bones.index_fill(-2, torch.tensor([layout.root_index]), 0.0)


def scale_bones(poses: Tensor, factors: Tensor, layout: Layout = H36M17) -> Tensor:
    """Each bone of ``poses (..., J, 3)`` (any unit and frame) multiplied by ``factors (..., J)`` (the factor
    of the bone ending at each joint; the root's is unused), keeping the root and every bone's direction."""
    if poses.shape[-2:] != (layout.num_joints, 3) or factors.shape != poses.shape[:-1]:
        raise ShapeError(f"scale_bones: expected poses (..., {layout.num_joints}, 3) and factors (..., "
                         f"{layout.num_joints}), got {tuple(poses.shape)} and {tuple(factors.shape)}")
    scaled_bones = bone_vectors(poses, layout) * factors[..., None]
    path = bone_path_matrix(layout).to(poses)
    root = poses[..., layout.root_index:layout.root_index + 1, :]
    return root + torch.einsum("jk,...kd->...jd", path, scaled_bones)


def draw_bone_scales(count: int, generator: torch.Generator | None = None,
                     config: BodyScaleConfig = BodyScaleConfig(), layout: Layout = H36M17) -> Tensor:
    """``(count, J)`` bone factors (see the module docstring): overall times per bone, mirrored bones alike."""
    low, high = config.overall
    overall = low + (high - low) * torch.rand(count, 1, generator=generator)
    per_bone = 1 + config.per_bone * (2 * torch.rand(count, layout.num_joints, generator=generator) - 1)
    mirror = torch.as_tensor(layout.flip_permutation)
    right = torch.zeros(layout.num_joints, dtype=torch.bool)
    right[[pair[1] for pair in layout.left_right]] = True
    per_bone = torch.where(right, per_bone[:, mirror], per_bone)       # a right bone takes its left twin's factor
    return overall * per_bone
