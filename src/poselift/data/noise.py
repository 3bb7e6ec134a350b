"""A simulated 2D keypoint detector: the benchmark's ``noisy`` input.

The model, applied to exact projections (pixels, H36M-17 layout):

1. Per-joint Gaussian error whose standard deviation grows from the torso to the limb ends
   (``sigma_px``: 3 px at hips and shoulders up to 8 px at wrists and ankles, for the benchmark's
   1000 px images).
2. Correlated in time within a clip: AR(1) with coefficient ``temporal_correlation`` (0.7 per frame
   at 50 Hz), scaled so each frame's marginal standard deviation stays ``sigma_px``. Without clip
   boundaries (training-time augmentation on random frames) the error is drawn per frame with the
   same marginal distribution.
3. Gross errors: with probability ``gross_error_rate`` a joint is thrown 20-60 px in a random direction.
4. Left/right swaps: with probability ``swap_rate`` per frame and limb (arm or leg) the left and right
   limb's detections are exchanged.
5. Confidence, times a uniform factor in [``confidence_floor_factor``, 1], by ``confidence_model``:

   - ``"error"`` (benchmark 1.0): ``exp(-0.5 (error / confidence_scale_px)^2)`` of the joint's
     REALISED error: an oracle no detector has, which flatters a method that weights joints by
     confidence.
   - ``"expected"`` (benchmark 2.0): each joint's Gaussian error of step 1 is scaled by a latent
     difficulty ``d`` drawn uniformly from ``difficulty_range`` (how hard the joint is to see in that
     frame: what a detector can know from the image), and the confidence is
     ``exp(-0.5 (sigma d / confidence_scale_px)^2)``: it falls with the error the joint is EXPECTED
     to have, not the one it got, and gross errors and swaps do not lower it (a detector is as sure
     of those as of any joint; MediaPipe swaps a person at 0.98).

Everything is drawn from a ``torch.Generator``, so a seed makes it deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal
import torch

#                     pelv r_hip r_kne r_ank l_hip l_kne l_ank spine thor neck head l_sho l_elb l_wri r_sho r_elb r_wri
DEFAULT_SIGMA_PX = (3.0, 3.0, 5.0, 8.0, 3.0, 5.0, 8.0, 3.0, 3.0, 4.0, 5.0, 3.0, 5.0, 8.0, 3.0, 5.0, 8.0)
# Limbs that a detector may swap left for right: (left joints, right joints), H36M-17 indices.
SWAPPABLE_LIMBS = (((11, 12, 13), (14, 15, 16)), ((4, 5, 6), (1, 2, 3)))
CONFIDENCE_MODELS = ("error", "expected")


@dataclass(frozen=True)
class DetectorNoiseConfig:
    sigma_px: tuple[float, ...] = DEFAULT_SIGMA_PX
    temporal_correlation: float = 0.7
    gross_error_rate: float = 0.01
    gross_error_px: tuple[float, float] = (20.0, 60.0)
    swap_rate: float = 0.005
    confidence_scale_px: float = 15.0
    confidence_floor_factor: float = 0.9
    confidence_model: str = "error"
    difficulty_range: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        if self.confidence_model not in CONFIDENCE_MODELS:
            raise ValueError(f"confidence_model must be one of {', '.join(CONFIDENCE_MODELS)}, "
                             f"got {self.confidence_model!r}")


def _ar1_filter(white: torch.Tensor, clip_lengths, coefficient: float) -> torch.Tensor:
    """AR(1)-filter unit white noise (..., N, J, 2) along N within each clip.

    ``e_0 = n_0`` and ``e_t = a e_(t-1) + sqrt(1 - a^2) n_t``: every frame keeps unit variance.
    """
    scale = math.sqrt(1.0 - coefficient ** 2)
    white_np = white.double().numpy()
    filtered = np.empty_like(white_np)
    start = 0
    for length in clip_lengths:                       # a loop over clips; their frames are filtered at once
        piece = white_np[..., start:start + length, :, :]
        initial_state = (1.0 - scale) * piece[..., :1, :, :]          # makes the first output n_0
        filtered[..., start:start + length, :, :], _ = scipy.signal.lfilter(
            [scale], [1.0, -coefficient], piece, axis=-3, zi=initial_state)
        start += length
    return torch.from_numpy(filtered).to(white.dtype)


def simulate_detector(keypoints_gt_px: torch.Tensor, generator: torch.Generator,
                      config: DetectorNoiseConfig = DetectorNoiseConfig(),
                      clip_lengths=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn exact 2D keypoints into simulated detections.

    Args:
        keypoints_gt_px: (..., N, 17, 2) exact projections, pixels. With ``clip_lengths`` the N axis is
            time (clips concatenated); without, the N frames are independent.
        generator: the random source (seed it for determinism).
        clip_lengths: frame counts of consecutive clips along N (summing to N), or None.

    Returns:
        ``(keypoints_px (..., N, 17, 2) float32, confidence (..., N, 17) float32 in [0, 1])``.
    """
    gt = keypoints_gt_px.to(torch.float32)
    shape = gt.shape
    sigma = torch.tensor(config.sigma_px, dtype=torch.float32)
    if sigma.numel() != shape[-2]:
        raise ValueError(f"noise model has {sigma.numel()} joint sigmas, keypoints have {shape[-2]} joints")
    white = torch.randn(shape, generator=generator)
    if clip_lengths is not None and config.temporal_correlation > 0:
        white = _ar1_filter(white, clip_lengths, config.temporal_correlation)
    expected_sigma = sigma[:, None].expand(shape)[..., 0]                   # (..., N, 17) px
    if config.confidence_model == "expected":
        low, high = config.difficulty_range
        expected_sigma = expected_sigma * (low + (high - low) * torch.rand(shape[:-1], generator=generator))
    noisy = gt + white * expected_sigma[..., None]

    gross = torch.rand(shape[:-1], generator=generator) < config.gross_error_rate
    low, high = config.gross_error_px
    magnitude = low + (high - low) * torch.rand(shape[:-1], generator=generator)
    angle = 2 * math.pi * torch.rand(shape[:-1], generator=generator)
    throw = torch.stack([torch.cos(angle), torch.sin(angle)], -1) * magnitude[..., None]
    noisy = noisy + throw * gross[..., None]

    for left, right in SWAPPABLE_LIMBS:
        swap = (torch.rand(shape[:-2], generator=generator) < config.swap_rate)[..., None, None]
        left_points, right_points = noisy[..., left, :], noisy[..., right, :]
        noisy[..., left, :] = torch.where(swap, right_points, left_points)
        noisy[..., right, :] = torch.where(swap, left_points, right_points)

    error = (noisy - gt).norm(dim=-1) if config.confidence_model == "error" else expected_sigma
    jitter = config.confidence_floor_factor + (1 - config.confidence_floor_factor) * torch.rand(
        shape[:-1], generator=generator)
    confidence = torch.exp(-0.5 * (error / config.confidence_scale_px) ** 2) * jitter
    return noisy, confidence.clamp(0.0, 1.0)
