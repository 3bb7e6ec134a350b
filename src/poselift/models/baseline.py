"""Martinez et al. (ICCV 2017), "A simple yet effective baseline for 3D human pose estimation".

Method: z-scored 2D keypoints ``(2J)`` -> ``Linear(2J, 1024)`` + BatchNorm + ReLU + Dropout(0.5) ->
two residual blocks, each ``[Linear(1024, 1024), BatchNorm, ReLU, Dropout] x 2`` with a skip
connection around the pair -> ``Linear(1024, 3(J-1))`` = z-scored root-relative 3D without the root.
Loss: mean squared error in that normalised 3D space. Every Linear weight is kept within a
max-norm of 1 (:func:`apply_max_norm`, run by the training loop after each optimiser step).
About 4.3 M parameters for J = 17.

The backbone pieces (:func:`dense_unit`, :class:`ResidualBlock`, :class:`ResidualMLP`) are shared
with the later papers, which change width, depth, activation, dropout and batch norm.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from poselift.encoding import PoseNormalizer
from poselift.errors import PoseliftError

ActivationSpec = str | Callable[[], nn.Module]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def make_activation(activation: ActivationSpec) -> nn.Module:
    """An activation module from a name (relu, leaky_relu, elu, gelu, tanh) or a factory."""
    if callable(activation):
        return activation()
    try:
        return _ACTIVATIONS[activation]()
    except KeyError:
        raise PoseliftError(f"unknown activation {activation!r}; known: {', '.join(_ACTIVATIONS)}") from None


def dense_unit(
    in_dim: int, out_dim: int, dropout: float, activation: ActivationSpec = "relu", batch_norm: bool = True
) -> nn.Sequential:
    """``Linear -> [BatchNorm1d] -> activation -> [Dropout]``: ``(B, in_dim)`` -> ``(B, out_dim)``."""
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(make_activation(activation))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two dense units of equal width with a skip connection: ``x + unit(unit(x))``, ``(B, width)``."""

    def __init__(self, width: int, dropout: float, activation: ActivationSpec = "relu", batch_norm: bool = True):
        super().__init__()
        self.layers = nn.Sequential(
            dense_unit(width, width, dropout, activation, batch_norm),
            dense_unit(width, width, dropout, activation, batch_norm),
        )

    def forward(self, features: Tensor) -> Tensor:
        return features + self.layers(features)


class ResidualMLP(nn.Module):
    """The Martinez backbone: stem, ``num_blocks`` residual blocks, linear head.

    ``(B, in_dim)`` -> ``(B, out_dim)``. ``stem`` is a full dense unit (Linear, BatchNorm,
    activation, Dropout) unless ``plain_stem``, where it is only ``Linear`` + activation (as the
    siamese paper's decoder, which has no BatchNorm/Dropout after its first layer).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int = 1024,
        num_blocks: int = 2,
        dropout: float = 0.5,
        activation: ActivationSpec = "relu",
        batch_norm: bool = True,
        plain_stem: bool = False,
    ):
        super().__init__()
        if plain_stem:
            self.stem = nn.Sequential(nn.Linear(in_dim, hidden), make_activation(activation))
        else:
            self.stem = dense_unit(in_dim, hidden, dropout, activation, batch_norm)
        self.blocks = nn.Sequential(
            *(ResidualBlock(hidden, dropout, activation, batch_norm) for _ in range(num_blocks))
        )
        self.head = nn.Linear(hidden, out_dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):  # He initialisation, as the paper's code
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(features)))


@torch.no_grad()
def fold_batch_norm(linear: nn.Linear, batch_norm: nn.BatchNorm1d) -> nn.Linear:
    """One ``nn.Linear`` equal to ``batch_norm(linear(x))`` in eval mode (running statistics).

    ``BN(Wx + b) = s * (Wx + b - mean) + beta`` with ``s = gamma / sqrt(var + eps)``, i.e. a Linear
    with weight ``s[:, None] * W`` and bias ``s * (b - mean) + beta``; ``(B, in) -> (B, out)``.
    """
    scale = batch_norm.running_var.add(batch_norm.eps).rsqrt()
    if batch_norm.affine:
        scale = scale * batch_norm.weight
    shift = -batch_norm.running_mean * scale + (batch_norm.bias if batch_norm.affine else 0.0)
    bias = linear.bias if linear.bias is not None else torch.zeros_like(batch_norm.running_mean)
    folded = nn.Linear(linear.in_features, linear.out_features, device=linear.weight.device,
                       dtype=linear.weight.dtype)
    folded.weight.copy_(linear.weight * scale[:, None])
    folded.bias.copy_(bias * scale + shift)
    return folded


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


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Rescale every row (one output unit) of every ``nn.Linear`` weight to L2 norm <= ``max_norm``;
    other layers with weights (e.g. grouped linear layers) apply it through their own ``apply_max_norm``."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            row_norm = module.weight.norm(dim=1, keepdim=True)
            factor = torch.where(row_norm > max_norm, max_norm / row_norm, torch.ones_like(row_norm))
            module.weight.mul_(factor)
        elif hasattr(module, "apply_max_norm"):
            module.apply_max_norm(max_norm)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values (B,)`` over ``mask (B,) bool``; 0 (still in the graph) when nothing is masked in."""
    weight = mask.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp(min=1)


def frame_mpjpe_mm(predicted_3d: Tensor, target_3d: Tensor, root_index: int = 0) -> Tensor:
    """Per-frame mean joint error ``(B,)`` mm of two ``(B, J, 3)`` poses after root alignment."""
    predicted = predicted_3d - predicted_3d[..., root_index : root_index + 1, :]
    target = target_3d - target_3d[..., root_index : root_index + 1, :]
    return (predicted - target).norm(dim=-1).mean(dim=-1)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run a block with ``module`` in eval mode; its training mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def map_in_chunks(rows: Tensor, compute: Callable[[Tensor], Tensor], valid: Tensor, batch_size: int) -> Tensor:
    """``compute`` on ``rows (N, F)`` in chunks of ``batch_size``: ``(N, ...)``, NaN where ``valid (N,)`` is False."""
    chunks = [compute(rows[start:start + batch_size]) for start in range(0, rows.shape[0], batch_size)]
    outputs = torch.cat(chunks) if chunks else compute(rows)
    return torch.where(valid.reshape((-1,) + (1,) * (outputs.ndim - 1)), outputs, torch.nan)


class FrameLifting:
    """Inference for single-frame models: a mixin for an ``nn.Module`` with ``normalizer`` (a fitted
    :class:`~poselift.encoding.PoseNormalizer`) and :meth:`lift_encoded` (by default
    ``normalizer.decode_3d(forward(encoded_2d))``, the baseline's z-scored root-relative output)."""

    def lift_encoded(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, J, 3)`` mm poses."""
        return self.normalizer.decode_3d(self(encoded_2d))

    @torch.no_grad()
    def map_frames(self, keypoints_2d, confidence, compute: Callable[[Tensor], Tensor], batch_size: int = 4096):
        """``compute(encoded_2d (B, 2J)) -> (B, ...)`` on every frame of ``(..., J, 2)`` px keypoints.

        Runs in eval mode (the training mode is restored after) in chunks of ``batch_size`` frames;
        frames whose root joint is missing give NaN. Returns ``(..., ...)`` of the input's type
        (numpy in -> numpy out; tensor in -> tensor on the input's device), leading dims kept.
        """
        as_numpy = not torch.is_tensor(keypoints_2d)
        keypoints = torch.as_tensor(np.asarray(keypoints_2d) if as_numpy else keypoints_2d)
        out_device = keypoints.device
        encoded_2d, frame_valid = self.normalizer.encode_2d(
            keypoints, None if confidence is None else torch.as_tensor(confidence)
        )
        lead_shape = encoded_2d.shape[:-1]
        with eval_mode(self):
            outputs = map_in_chunks(encoded_2d.reshape(-1, encoded_2d.shape[-1]), compute, frame_valid.reshape(-1),
                                    batch_size)
        outputs = outputs.reshape(lead_shape + outputs.shape[1:])
        return outputs.cpu().numpy() if as_numpy else outputs.to(out_device)

    @torch.no_grad()
    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096):
        """Lift 2D keypoints to 3D poses (eval mode; the training mode is restored after).

        Args:
            keypoints_2d: ``(..., J, 2)`` px, numpy array or tensor, any image size.
            confidence: ``(..., J)`` in [0, 1] (0 = missing) or None.
            batch_size: frames per forward pass. 4096 keeps a 1024-wide float32 activation (16 MB)
                under glibc's largest mmap threshold (32 MB), so its memory is reused from layer to
                layer; 65536-frame activations are mapped afresh per layer, ~15 % slower (docs/speed.md).

        Returns:
            ``(..., J, 3)`` mm, camera frame, root-relative, of the input's type (numpy in ->
            numpy out; tensor in -> tensor on the input's device). Frames whose root joint is
            missing cannot be lifted and are NaN.
        """
        return self.map_frames(keypoints_2d, confidence, self.lift_encoded, batch_size)


@dataclass
class BaselineConfig:
    """Martinez et al. hyper-parameters (defaults = the paper)."""

    num_joints: int = 17
    hidden_size: int = 1024
    num_blocks: int = 2
    dropout: float = 0.5
    batch_norm: bool = True
    activation: str = "relu"
    max_norm: float | None = 1.0  # per-row weight norm bound applied after each step; None = off
    # "image": z-score raw pixels (the paper); "pose": root-centred and scale-normalised first, so
    # one model serves any image size and camera (the shipped default model). See poselift.encoding.
    input_normalization: str = "image"


class BaselineLifter(FrameLifting, nn.Module):
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
        self.normalizer = PoseNormalizer(self.config.num_joints, input_normalization=self.config.input_normalization)
        self.network = ResidualMLP(
            self.normalizer.input_dim,
            self.normalizer.output_dim,
            hidden=self.config.hidden_size,
            num_blocks=self.config.num_blocks,
            dropout=self.config.dropout,
            activation=self.config.activation,
            batch_norm=self.config.batch_norm,
        )

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, 3(J-1))`` encoded 3D."""
        return self.network(encoded_2d)

    @torch.no_grad()
    def fuse_for_inference(self) -> "BaselineLifter":
        """A copy for inference only: same outputs as this model in eval mode, computed faster.

        Every ``Linear -> BatchNorm1d`` pair becomes one Linear (:func:`fold_batch_norm`, running
        statistics), Dropout (a no-op in eval mode) is removed and ReLUs work in place, so a forward
        pass is the six matrix products plus bias, ReLU and the residual sums: no pass over the
        activations for BatchNorm. Outputs agree with the unfused eval model to float32 rounding.
        The copy is in eval mode and refuses ``train()``; its state dict has no BatchNorm entries,
        so keep (and save) the original model for training and checkpoints.
        """
        fused = copy.deepcopy(self).eval()
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
        """Training loss of a batch (``keypoints_2d``, ``confidence``, ``poses_3d``).

        Returns ``loss``: MSE in the normalised 3D space over frames whose root is visible, and
        ``mpjpe_mm``: their mean per-joint error in mm (no gradient).
        """
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch["keypoints_2d"], batch.get("confidence"))
        target_3d = self.normalizer.encode_3d(batch["poses_3d"])
        predicted_3d = self(encoded_2d)
        loss = masked_mean((predicted_3d - target_3d).square().mean(dim=-1), frame_valid)
        with torch.no_grad():
            error_mm = frame_mpjpe_mm(self.normalizer.decode_3d(predicted_3d), batch["poses_3d"].to(predicted_3d))
            mpjpe_mm = masked_mean(error_mm, frame_valid)
        return {"loss": loss, "mpjpe_mm": mpjpe_mm}
