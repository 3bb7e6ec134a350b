"""The encoding of a model trained without 3D (the self-supervised multi-view lifter): 2D statistics
from the training views, fixed 3D statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from poselift.encoding.normalizer import Moments, PoseNormalizer
from poselift.errors import PoseliftError, ShapeError


class TwoDimensionalNormalizer(PoseNormalizer):
    """A :class:`PoseNormalizer` fitted on 2D only: the 2D statistics come from the training views,
    the 3D ones are fixed (mean 0, std ``output_scale_mm``), since self-supervised training has no 3D."""

    def __init__(self, num_joints: int, input_normalization: str, output_scale_mm: float):
        super().__init__(num_joints, input_normalization=input_normalization)
        self.output_scale_mm = float(output_scale_mm)

    def fit_views(self, keypoints_2d: Tensor, confidence: Tensor | None) -> "TwoDimensionalNormalizer":
        """Fit on ``(N, J, 2)`` px keypoints with ``(N, J)`` confidences (or None)."""
        keypoints_2d = self._check(keypoints_2d, "keypoints_2d", 2).reshape(-1, self.num_joints, 2)
        if confidence is not None:
            confidence = torch.nan_to_num(self._check(confidence, "confidence", None), nan=0.0)
            confidence = confidence.reshape(-1, self.num_joints)
        moments = Moments(self.input_dim)
        values, valid, _ = self._prepare_2d(keypoints_2d, confidence, None)
        moments.add(values, valid)
        if not bool((moments.count > 0).any()):
            raise ShapeError("no valid 2D pose in the training views")
        mean_2d, std_2d = moments.mean_std()
        with torch.no_grad():
            self.mean_2d.copy_(mean_2d.to(self.mean_2d.device))
            self.std_2d.copy_(std_2d.to(self.std_2d.device))
            self.mean_3d.zero_()
            self.std_3d.fill_(self.output_scale_mm)
            self.fitted.fill_(1)
        return self

    def fit_source(self, source, chunk_size: int = 65_536, seed: int = 0) -> "TwoDimensionalNormalizer":
        """Fit on the first view (``keypoints_2d_1``, ``confidence_1``) of every sample of a multi-view
        source; its ordered camera pairs put every camera in the first view."""
        total = len(source)
        if total == 0:
            raise PoseliftError("cannot fit the 2D statistics: the training data is empty")
        generator = torch.Generator().manual_seed(seed)
        keypoints, confidences = [], []
        for start in range(0, total, chunk_size):
            batch = source.batch(torch.arange(start, min(start + chunk_size, total)), generator)
            keypoints.append(batch["keypoints_2d_1"])
            confidences.append(batch["confidence_1"])
        return self.fit_views(torch.cat(keypoints), torch.cat(confidences))
