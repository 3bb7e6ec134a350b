"""Pose generation with V-VIPE (paper §4.6, Figure 7): decode ``z + a * noise`` around a pose's embedding.

A pose (2D keypoints through a ``vvipe`` model, or a 3D pose through either V-VIPE model) is
embedded to ``z``; each variation decodes ``z + a * n`` with ``n ~ N(0, I)`` and ``a`` the scale
(the paper shows a = 0.2 ... 0.5: the pose moves smoothly further along each direction as ``a``
grows). Poses come out in mm in the canonical body frame (x forward, y to the person's left, z up,
pelvis at the origin) at the model's mean body size. ``poselift generate`` writes them (poselift
3D format, ``frame="world"``: z is up, like a world frame) and a picture of the pose and its variations
(:func:`poselift.viz.save_pose_grid` of :func:`canonical_to_view`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from poselift.errors import PoseliftError

# Canonical body frame (x forward, y left, z up) -> the camera frame of a camera facing the person
# (x right, y down, z forward), the frame the pictures of poselift.viz expect: the person's left is
# on the image's right, up is -y, and the camera looks along -x of the body.
CANONICAL_TO_VIEW = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
CANONICAL_FRAME_NOTE = "V-VIPE canonical body frame: x forward, y to the person's left, z up, pelvis at the origin"


def canonical_to_view(poses_3d) -> np.ndarray:
    """``(..., J, 3)`` mm, canonical frame -> ``(..., J, 3)`` mm, as seen by a camera facing the person."""
    poses = poses_3d.detach().cpu().numpy() if torch.is_tensor(poses_3d) else np.asarray(poses_3d)
    return poses @ CANONICAL_TO_VIEW.T


def generate_variations(model: nn.Module, latent, count: int, scale: float,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` poses decoded from ``latent + scale * noise``, ``noise ~ N(0, I)``.

    Args:
        model: a ``vvipe`` or ``vvipe_vae`` model (has ``decode_latent``). latent: ``(D,)``.

    Returns:
        ``(noise (count, D), poses (count, J, 3) mm, canonical frame)`` tensors.
    """
    if count < 1 or not np.isfinite(scale) or scale < 0:
        raise PoseliftError(f"generate: needs --n >= 1 and a finite --scale >= 0, got n={count}, scale={scale}")
    latent = torch.as_tensor(latent, dtype=torch.float32)
    noise = torch.randn(count, latent.shape[-1], generator=generator)
    return noise, torch.as_tensor(model.decode_latent(latent + scale * noise))


def decode_along(model: nn.Module, latent, directions, scales) -> torch.Tensor:
    """Figure 7: poses decoded from ``latent + a * direction`` for every direction and scale.

    Args:
        latent: ``(D,)``. directions: ``(R, D)``. scales: ``(S,)``.

    Returns:
        ``(R, S, J, 3)`` mm, canonical frame.
    """
    latent = torch.as_tensor(latent, dtype=torch.float32)
    directions = torch.as_tensor(directions, dtype=torch.float32)
    scales = torch.as_tensor(scales, dtype=torch.float32)
    return torch.as_tensor(model.decode_latent(latent + scales[None, :, None] * directions[:, None, :]))
