"""Differentiable soft-argmax: heatmaps -> 2D coordinates (the "domain conversion layer" of Cha et al.).

Deep pose consensus networks (ECCV 2018, section 6, Eq. 13) fine-tune a heatmap-based 2D detector
and the 3D lifters end to end. An argmax from heatmap to coordinates blocks gradients; instead each
heatmap is turned into a probability distribution over its pixels and the layer returns the
expected pixel position, a linear (hence differentiable) function of that distribution:

    x = sum_{p,q} h~(p, q) * q,     y = sum_{p,q} h~(p, q) * p       (row p, column q)

Normalisations (``normalization``):

- ``"sum"`` (the paper): ``h~ = h / sum(h)`` after clamping negative values to 0 (the paper's
  detector ends with a sigmoid, so its heatmaps are non-negative). For a Gaussian heatmap away from
  the image border the expectation is its centre, also between pixels (the paper's appendix A.2):
  the layer is unbiased. An all-zero heatmap carries no information and gives the map's centre.
- ``"softmax"``: ``h~ = softmax(beta * h)`` over the pixels, for unbounded scores (logits);
  ``beta`` is the inverse temperature (large beta -> the hard argmax). For log-heatmaps
  (``h = log(gaussian)``) and ``beta = 1`` it equals ``"sum"`` on the Gaussian.

Coordinates are in heatmap pixels: ``x`` is the column index, ``y`` the row index, with pixel
centres at integers (pixel ``(0, 0)`` covers ``[-0.5, 0.5]^2``). For a heatmap of stride ``s`` over
an image, the image pixel position is ``s * x + (s - 1) / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from poselift.errors import PoseliftError, ShapeError

NORMALIZATIONS = ("sum", "softmax")


class SoftArgmax2d(nn.Module):
    """Heatmaps ``(..., H, W)`` (e.g. ``(B, K, H, W)``) -> expected coordinates ``(..., 2)`` = (x, y) heatmap px.

    Args:
        normalization: "sum" (the paper's linear normalisation) or "softmax".
        beta: inverse temperature of "softmax" (must be 1 for "sum", which has none).
    """

    def __init__(self, normalization: str = "sum", beta: float = 1.0):
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise PoseliftError(f"soft-argmax normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if not beta > 0 or (normalization == "sum" and beta != 1.0):
            raise PoseliftError(f"soft-argmax beta must be > 0 (and 1 for 'sum' normalization), got {beta!r}")
        self.normalization, self.beta = normalization, float(beta)

    def distribution(self, heatmaps: Tensor) -> Tensor:
        """The normalised heatmaps ``h~ (..., H, W)``: non-negative, each summing to 1."""
        if heatmaps.ndim < 2 or heatmaps.shape[-1] == 0 or heatmaps.shape[-2] == 0:
            raise ShapeError(f"heatmaps: expected shape (..., H, W) with H, W >= 1, got {tuple(heatmaps.shape)}")
        flat = heatmaps.flatten(-2)
        if self.normalization == "softmax":
            weights = F.softmax(self.beta * flat, dim=-1)
        else:
            weights = flat.clamp(min=0.0)
            total = weights.sum(dim=-1, keepdim=True)
            uniform = torch.full_like(weights, 1.0 / flat.shape[-1])
            weights = torch.where(total > 0, weights / total.clamp(min=torch.finfo(weights.dtype).tiny), uniform)
        return weights.view(heatmaps.shape)

    def forward(self, heatmaps: Tensor) -> Tensor:
        """``(..., H, W)`` -> ``(..., 2)``: the expected (column, row) position of each heatmap."""
        weights = self.distribution(heatmaps)
        height, width = heatmaps.shape[-2:]
        columns = torch.arange(width, dtype=weights.dtype, device=weights.device)
        rows = torch.arange(height, dtype=weights.dtype, device=weights.device)
        x = weights.sum(dim=-2) @ columns                   # marginal over rows, then its mean
        y = weights.sum(dim=-1) @ rows
        return torch.stack([x, y], dim=-1)

    def extra_repr(self) -> str:
        return f"normalization={self.normalization!r}, beta={self.beta}"
