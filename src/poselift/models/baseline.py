"""Martinez et al. (ICCV 2017), "A simple yet effective baseline for 3D human pose estimation".

Method: z-scored 2D keypoints ``(2J)`` -> ``Linear(2J, 1024)`` + BatchNorm + ReLU + Dropout(0.5) ->
two residual blocks, each ``[Linear(1024, 1024), BatchNorm, ReLU, Dropout] x 2`` with a skip
connection around the pair -> ``Linear(1024, 3(J-1))`` = z-scored root-relative 3D without the root.
Loss: mean squared error in that normalised 3D space. Every weight matrix is used clipped to
Frobenius norm 1 inside the graph (their code's ``tf.clip_by_norm(w, 1)``; ``max_norm_mode="row"`` is
the per-row projection poselift used before). About 4.3 M parameters for J = 17.

The backbone (:mod:`poselift.models.backbone`) is shared with the later papers, which change width,
depth, activation, dropout and batch norm. Departure from the paper's code, measured: PyTorch's
initialisation instead of He-normal weights (6.6 mm better validation P#1, docs/baseline.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from poselift.encoding import PoseNormalizer
from poselift.errors import PoseliftError
from poselift.intrinsics import Intrinsics
from poselift.models.backbone import (
    BackboneConfig,
    ClippedLinear,
    FrameLifting,
    ResidualMLP,
    fold_batch_norm,
    frame_mpjpe_mm,
    masked_mean,
)
from poselift.models.base import LiftingModel


@torch.no_grad()
def _bake_clipped_weights(module: nn.Module) -> None:
    """In place: every :class:`ClippedLinear` ("matrix" max-norm) becomes a plain Linear holding the weight it uses."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ClippedLinear):
                plain = nn.Linear(child.in_features, child.out_features, device=child.bias.device,
                                  dtype=child.bias.dtype)
                plain.weight.copy_(child.effective_weight())
                plain.bias.copy_(child.bias)
                setattr(parent, name, plain)


def _fuse_sequential(sequential: nn.Sequential) -> None:
    """In place: fold each ``Linear -> BatchNorm1d`` pair, drop Dropout, make ReLUs in-place (eval only)."""
    layers = list(sequential)
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm1d) and index > 0 and isinstance(layers[index - 1], nn.Linear):
            layers[index - 1], layers[index] = fold_batch_norm(layers[index - 1], layer), nn.Identity()
        elif isinstance(layer, nn.Dropout):
            layers[index] = nn.Identity()
        elif isinstance(layer, nn.ReLU):
            layers[index] = nn.ReLU(inplace=True)   # it follows a Linear whose output nothing else reads
    for index, layer in enumerate(layers):
        sequential[index] = layer


@dataclass
class BaselineConfig(BackboneConfig):
    """Martinez et al. hyper-parameters: the backbone's (:class:`~poselift.models.backbone.BackboneConfig`:
    width 1024, 2 blocks, dropout 0.5, BatchNorm, ReLU, max-norm 1) and the joint count and 2D encoding."""

    num_joints: int = 17
    # "image": z-score raw pixels (the paper); "pose": root-centred and scale-normalised first, so
    # one model serves any image size and camera (the shipped default model); "camera": the camera
    # rays from the intrinsics, root-centred, plus the root's ray (lift needs intrinsics=). See
    # poselift.encoding.
    input_normalization: str = "image"
    # Append each joint's detector confidence to the input (J more values; poselift.encoding.normalizer).
    confidence_input: bool = False


class BaselineLifter(FrameLifting, LiftingModel):
    """2D keypoints -> root-relative 3D pose with the Martinez residual MLP.

    ``forward(encoded_2d (B, 2J)) -> encoded_3d (B, 3(J-1))`` works in the normalised spaces of
    :attr:`normalizer`; :meth:`lift` takes pixels and returns millimetres.
    """

    kind = "baseline"
    layout = "h36m17"
    fused_for_inference = False  # True on the copy made by fuse_for_inference()

    def __init__(self, config: BaselineConfig | None = None):
        super().__init__()
        self.config = config if config is not None else BaselineConfig()
        self.normalizer = PoseNormalizer(self.config.num_joints, input_normalization=self.config.input_normalization,
                                         passes_intrinsics=True, confidence_input=self.config.confidence_input)
        self.network = ResidualMLP(self.normalizer.input_dim, self.normalizer.output_dim,
                                   **self.config.backbone_options())

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """``(B, D)`` encoded 2D (D = 2J, or 2J + 2 for "camera"; J more with confidences) -> ``(B, 3(J-1))``
        encoded 3D."""
        return self.network(encoded_2d)

    @torch.no_grad()
    def fuse_for_inference(self) -> "BaselineLifter":
        """A copy for inference only: same outputs as this model in eval mode, computed faster.

        Each Linear's clipped weight ("matrix" max-norm) is stored as a plain weight, then every
        ``Linear -> BatchNorm1d`` pair becomes one Linear (:func:`fold_batch_norm`, running
        statistics), Dropout (a no-op in eval mode) is removed and ReLUs work in place, so a forward
        pass is the six matrix products plus bias, ReLU and the residual sums: no pass over the
        activations for BatchNorm. Outputs agree with the unfused eval model to float32 rounding.
        The copy is in eval mode and refuses ``train()``; its state dict has no BatchNorm entries,
        so keep (and save) the original model for training and checkpoints.
        """
        fused = copy.deepcopy(self).eval()
        _bake_clipped_weights(fused.network)
        for module in list(fused.network.modules()):
            if isinstance(module, nn.Sequential):
                _fuse_sequential(module)
        fused.fused_for_inference = True
        return fused

    def train(self, mode: bool = True) -> "BaselineLifter":
        if mode and self.fused_for_inference:
            raise PoseliftError("this model was fused for inference (fuse_for_inference); train the original model")
        return super().train(mode)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss of a batch (``keypoints_2d``, ``confidence``, ``poses_3d``; the cameras' ``focal``,
        ``principal``, ``radial``, ``tangential`` for the "camera" encoding).

        Returns ``loss``: MSE in the normalised 3D space over frames whose root is visible, and
        ``mpjpe_mm``: their mean per-joint error in mm (no gradient).
        """
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch["keypoints_2d"], batch.get("confidence"),
                                                            Intrinsics.from_batch(batch))
        target_3d = self.normalizer.encode_3d(batch["poses_3d"])
        predicted_3d = self(encoded_2d)
        loss = masked_mean((predicted_3d - target_3d).square().mean(dim=-1), frame_valid)
        with torch.no_grad():
            error_mm = frame_mpjpe_mm(self.normalizer.decode_3d(predicted_3d), batch["poses_3d"].to(predicted_3d))
            mpjpe_mm = masked_mean(error_mm, frame_valid)
        return {"loss": loss, "mpjpe_mm": mpjpe_mm}
