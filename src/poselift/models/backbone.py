"""The shared backbone: Martinez et al.'s residual MLP and the pieces every lifter reuses.

Layers: :func:`dense_unit` (``Linear -> [BatchNorm] -> activation -> [Dropout]``),
:class:`ResidualBlock` (two dense units and a skip), :class:`ResidualMLP` (input layer, blocks,
linear head). Their options (:class:`BackboneConfig`, a base of every model config that uses them):

- ``init``: ``"torch"`` keeps PyTorch's default initialisation of ``nn.Linear`` (weights and biases
  uniform in ``+-1/sqrt(fan_in)``); ``"kaiming"`` draws He-normal weights (``std sqrt(2/fan_in)``,
  2.45 times larger) and zero biases, as Martinez et al.'s code (theirs is a truncated normal and
  initialises the biases the same way).
- ``input_layer``: ``"dense"`` is a full dense unit (Linear, BatchNorm, activation, Dropout), as
  Martinez et al.; ``"linear"`` is only ``Linear`` + activation.
- ``max_norm`` / ``max_norm_mode``: ``"row"`` projects each output unit's weight row back to L2 norm
  ``<= max_norm`` after every optimiser step (:func:`apply_max_norm`, run by the training loop);
  ``"matrix"`` is Martinez et al.'s code: every weight matrix is used as
  ``W * min(1, max_norm / ||W||_F)`` inside the forward pass (``tf.clip_by_norm(w, 1)``), so the
  stored weight is unchanged and the gradient flows through the clip (:class:`ClippedLinear`).

Why the choice matters: a Linear feeding a BatchNorm gives outputs independent of its weight scale,
but Adam moves every weight by about the learning rate per step whatever its size, so large initial
weights learn slowly. The defaults are the measured ablation's best on the validation people
(``benchmarks/backbone_ablation.py``, docs/baseline.md, 3 seeds): PyTorch's initialisation, the dense
input layer and Martinez et al.'s whole-matrix clip (76.0 mm validation P#1 against 93.4 for
poselift's old He init with the per-row projection, at the ablation's short schedule).

Also here, for every model: :class:`FrameLifting` (batched inference on single frames),
:func:`masked_mean`, :func:`frame_mpjpe_mm`, :func:`eval_mode`, :func:`map_in_chunks`,
:func:`fold_batch_norm`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from poselift.errors import PoseliftError
from poselift.geometry import root_relative
from poselift.metrics import mpjpe
from poselift.skeleton import H36M17

ActivationSpec = str | Callable[[], nn.Module]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}
INITS = ("torch", "kaiming")
INPUT_LAYERS = ("dense", "linear")
MAX_NORM_MODES = ("row", "matrix")


@dataclass
class BackboneConfig:
    """Options of the residual MLP, shared by every model config that uses it (defaults: the ablation's
    choice for init / input layer / max-norm mode, Martinez et al. for the rest; a model config
    overrides them).

    hidden_size: width. num_blocks: residual blocks. dropout: probability after each dense unit.
    batch_norm: BatchNorm after each hidden Linear. activation: relu, leaky_relu, elu, gelu, tanh.
    init: "torch" or "kaiming". input_layer: "dense" or "linear". max_norm: weight norm bound (None =
    off). max_norm_mode: "row" (projection after each step) or "matrix" (clip inside the graph).
    """

    hidden_size: int = 1024
    num_blocks: int = 2
    dropout: float = 0.5
    batch_norm: bool = True
    activation: str = "relu"
    init: str = "torch"
    input_layer: str = "dense"
    max_norm: float | None = 1.0
    max_norm_mode: str = "matrix"

    def __post_init__(self) -> None:
        for name, known in (("init", INITS), ("input_layer", INPUT_LAYERS), ("max_norm_mode", MAX_NORM_MODES)):
            if getattr(self, name) not in known:
                raise PoseliftError(f"model config: {name} must be one of {', '.join(known)}, "
                                    f"got {getattr(self, name)!r}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise PoseliftError(f"model config: max_norm must be > 0 or None, got {self.max_norm!r}")

    def backbone_options(self) -> dict:
        """Keyword arguments of :class:`ResidualMLP` from this config."""
        return dict(hidden=self.hidden_size, num_blocks=self.num_blocks, dropout=self.dropout,
                    activation=self.activation, batch_norm=self.batch_norm, init=self.init,
                    input_layer=self.input_layer, max_norm=self.max_norm, max_norm_mode=self.max_norm_mode)

    @property
    def projects_max_norm(self) -> bool:
        """True when the training loop must project the weights after each step ("row" mode)."""
        return self.max_norm is not None and self.max_norm_mode == "row"


def make_activation(activation: ActivationSpec) -> nn.Module:
    """An activation module from a name (relu, leaky_relu, elu, gelu, tanh) or a factory."""
    if callable(activation):
        return activation()
    try:
        return _ACTIVATIONS[activation]()
    except KeyError:
        raise PoseliftError(f"unknown activation {activation!r}; known: {', '.join(_ACTIVATIONS)}") from None


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose keep mask compares uniform draws with ``p`` (``torch.rand_like(x) >= p``) instead
    of ``bernoulli_``: the same distribution and the same ``1 / (1 - p)`` scaling, but drawing the mask
    is about 4 times faster on CPU, where ``bernoulli_`` made each of the backbone's dropout layers
    cost about half a Linear's forward pass (``benchmarks/bench_training_speed.py``). Identity in eval mode."""

    def forward(self, features: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return features
        if self.p == 1.0:
            return features * 0.0
        keep = torch.rand_like(features) >= self.p
        return features * keep * (1.0 / (1.0 - self.p))


class _ClippedLinearFunction(torch.autograd.Function):
    """``y = s * (x @ W.T) + b`` with ``s = c / max(||W||_F, c)``, and a backward that applies the clip's
    gradient in place (``dL/dW = s * G - s * <G, W> / ||W||^2 * W`` when clipped, ``G = dL/dy.T @ x``)
    instead of autograd materialising the clipped matrix and its gradient. The scale stays a 0-dim
    tensor on the weight's device (no host synchronisation per layer on a GPU)."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias: Tensor, clip_norm: float) -> Tensor:
        norm = torch.linalg.vector_norm(weight)
        scale = clip_norm / norm.clamp(min=clip_norm)
        ctx.save_for_backward(features, weight, norm, scale)
        ctx.clip_norm = clip_norm
        return torch.mm(features, weight.t()).mul_(scale).add_(bias)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        features, weight, norm, scale = ctx.saved_tensors
        grad_features = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_features = torch.mm(grad_output, weight).mul_(scale)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.mm(grad_output.t(), features)
            clipped = (norm > ctx.clip_norm).to(weight.dtype)
            along_weight = torch.vdot(grad_weight.flatten(), weight.flatten()) / norm.square()
            grad_weight.mul_(scale).addcmul_(weight, scale * along_weight * clipped, value=-1.0)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_features, grad_weight, grad_bias, None


class ClippedLinear(nn.Linear):
    """``nn.Linear`` whose weight is used as ``W * min(1, clip_norm / ||W||_F)``: Martinez et al.'s
    ``tf.clip_by_norm(w, 1)`` inside the graph (the stored weight is unchanged, the gradient flows
    through the clip; the bias is not clipped). ``(B, in) -> (B, out)``; same state dict as ``nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, clip_norm: float = 1.0, **options):
        super().__init__(in_features, out_features, **options)
        self.clip_norm = float(clip_norm)

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2:                           # the fused product takes (B, in); keep any leading dims
            return self(features.reshape(-1, features.shape[-1])).reshape(*features.shape[:-1], -1)
        return _ClippedLinearFunction.apply(features, self.weight, self.bias, self.clip_norm)

    @torch.no_grad()
    def effective_weight(self) -> Tensor:
        """``(out, in)``: the weight the layer uses."""
        return self.weight * (self.clip_norm / max(float(self.weight.norm()), self.clip_norm))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, clip_norm={self.clip_norm}"


@torch.no_grad()
def clip_linears(module: nn.Module, clip_norm: float) -> None:
    """In place: every ``nn.Linear`` inside ``module`` becomes a :class:`ClippedLinear` with the same weights."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                clipped = ClippedLinear(child.in_features, child.out_features, clip_norm,
                                        device=child.weight.device, dtype=child.weight.dtype)
                clipped.weight.copy_(child.weight)
                clipped.bias.copy_(child.bias)
                setattr(parent, name, clipped)


def dense_unit(
    in_dim: int, out_dim: int, dropout: float, activation: ActivationSpec = "relu", batch_norm: bool = True
) -> nn.Sequential:
    """``Linear -> [BatchNorm1d] -> activation -> [Dropout]``: ``(B, in_dim)`` -> ``(B, out_dim)``."""
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(make_activation(activation))
    if dropout > 0:
        layers.append(Dropout(dropout))
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
    """The Martinez backbone: input layer (``stem``), ``num_blocks`` residual blocks, linear head.

    ``(B, in_dim)`` -> ``(B, out_dim)``. ``input_layer`` "dense" is a full dense unit, "linear" only
    ``Linear`` + activation; ``init``, ``max_norm`` and ``max_norm_mode`` as :class:`BackboneConfig`
    (in "row" mode the training loop projects the weights; here only "matrix" mode adds its clip).
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
        init: str = "torch",
        input_layer: str = "dense",
        max_norm: float | None = None,
        max_norm_mode: str = "matrix",
    ):
        super().__init__()
        if input_layer == "linear":
            self.stem = nn.Sequential(nn.Linear(in_dim, hidden), make_activation(activation))
        elif input_layer == "dense":
            self.stem = dense_unit(in_dim, hidden, dropout, activation, batch_norm)
        else:
            raise PoseliftError(f"input_layer must be one of {', '.join(INPUT_LAYERS)}, got {input_layer!r}")
        self.blocks = nn.Sequential(
            *(ResidualBlock(hidden, dropout, activation, batch_norm) for _ in range(num_blocks))
        )
        self.head = nn.Linear(hidden, out_dim)
        linears = [module for module in self.modules() if isinstance(module, nn.Linear)]
        if init == "kaiming":
            for linear in linears:
                nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
                nn.init.zeros_(linear.bias)
        elif init != "torch":
            raise PoseliftError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if max_norm is not None and max_norm_mode == "matrix":
            clip_linears(self, max_norm)
        elif max_norm_mode not in MAX_NORM_MODES:
            raise PoseliftError(f"max_norm_mode must be one of {', '.join(MAX_NORM_MODES)}, got {max_norm_mode!r}")

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(features)))


@torch.no_grad()
def fold_batch_norm(linear: nn.Linear, batch_norm: nn.BatchNorm1d) -> nn.Linear:
    """One ``nn.Linear`` equal to ``batch_norm(linear(x))`` in eval mode (running statistics).

    ``BN(Wx + b) = s * (Wx + b - mean) + beta`` with ``s = gamma / sqrt(var + eps)``, i.e. a Linear
    with weight ``s[:, None] * W`` and bias ``s * (b - mean) + beta``; ``(B, in) -> (B, out)``.
    ``W`` is the weight the layer uses (:meth:`ClippedLinear.effective_weight` for a clipped layer).
    """
    weight = linear.effective_weight() if isinstance(linear, ClippedLinear) else linear.weight
    scale = batch_norm.running_var.add(batch_norm.eps).rsqrt()
    if batch_norm.affine:
        scale = scale * batch_norm.weight
    shift = -batch_norm.running_mean * scale + (batch_norm.bias if batch_norm.affine else 0.0)
    bias = linear.bias if linear.bias is not None else torch.zeros_like(batch_norm.running_mean)
    folded = nn.Linear(linear.in_features, linear.out_features, device=linear.weight.device,
                       dtype=linear.weight.dtype)
    folded.weight.copy_(weight * scale[:, None])
    folded.bias.copy_(bias * scale + shift)
    return folded


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Rescale every row (one output unit) of every ``nn.Linear`` weight to L2 norm <= ``max_norm``
    (the "row" mode's projection); other layers with weights (e.g. grouped linear layers) apply it
    through their own ``apply_max_norm``. All rows are rescaled in one fused pass per layer. A layer
    with a "matrix" mode clip (:class:`ClippedLinear`) is left alone: its clip already bounds it."""
    for module in model.modules():
        if isinstance(module, ClippedLinear):
            continue
        if isinstance(module, nn.Linear):
            weight = module.weight
            weight.mul_(weight.norm(dim=1, keepdim=True).clamp(min=max_norm).reciprocal().mul_(max_norm))
        elif hasattr(module, "apply_max_norm"):
            module.apply_max_norm(max_norm)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values (B,)`` over ``mask (B,) bool``; 0 (still in the graph) when nothing is masked in."""
    weight = mask.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp(min=1)


def frame_mpjpe_mm(predicted_3d: Tensor, target_3d: Tensor, root_index: int = H36M17.root_index) -> Tensor:
    """Per-frame Protocol #1 error ``(B,)`` mm of two ``(B, J, 3)`` poses: :func:`poselift.metrics.mpjpe`
    after :func:`poselift.geometry.root_relative` (the training losses' progress indicator)."""
    return mpjpe(root_relative(predicted_3d, root_index), root_relative(target_3d, root_index))


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

    @property
    def reads_intrinsics(self) -> bool:
        """True when the 2D encoding is ``"camera"``: :meth:`lift` then needs ``intrinsics``."""
        return self.normalizer.reads_intrinsics

    def lift_encoded(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, J, 3)`` mm poses."""
        return self.normalizer.decode_3d(self(encoded_2d))

    @torch.no_grad()
    def map_frames(self, keypoints_2d, confidence, compute: Callable[[Tensor], Tensor], batch_size: int = 4096,
                   intrinsics=None):
        """``compute(encoded_2d (B, D)) -> (B, ...)`` on every frame of ``(..., J, 2)`` px keypoints.

        Runs in eval mode (the training mode is restored after) in chunks of ``batch_size`` frames;
        frames whose root joint is missing give NaN. Returns ``(..., ...)`` of the input's type
        (numpy in -> numpy out; tensor in -> tensor on the input's device), leading dims kept.
        ``intrinsics`` go to the encoder (:meth:`~poselift.encoding.PoseNormalizer.encode_2d`).
        """
        as_numpy = not torch.is_tensor(keypoints_2d)
        keypoints = torch.as_tensor(np.asarray(keypoints_2d) if as_numpy else keypoints_2d)
        out_device = keypoints.device
        encoded_2d, frame_valid = self.normalizer.encode_2d(
            keypoints, None if confidence is None else torch.as_tensor(confidence), intrinsics
        )
        lead_shape = encoded_2d.shape[:-1]
        with eval_mode(self):
            outputs = map_in_chunks(encoded_2d.reshape(-1, encoded_2d.shape[-1]), compute, frame_valid.reshape(-1),
                                    batch_size)
        outputs = outputs.reshape(lead_shape + outputs.shape[1:])
        return outputs.cpu().numpy() if as_numpy else outputs.to(out_device)

    @torch.no_grad()
    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096, layout: str = "h36m17", intrinsics=None):
        """Lift 2D keypoints to 3D poses (eval mode; the training mode is restored after).

        Args:
            keypoints_2d: ``(..., J, 2)`` px, numpy array or tensor, any image size.
            confidence: ``(..., J)`` in [0, 1] (0 = missing) or None.
            layout: the keypoints' layout (``poselift.skeleton.LAYOUT_NAMES``), converted to H36M-17
                first; a layout the anatomy contradicts is refused (:func:`poselift.conventions.as_h36m17`).
            intrinsics: the :class:`~poselift.intrinsics.Intrinsics` of the camera(s) that took the
                keypoints (leading dims broadcasting against theirs without J): needed when
                :attr:`reads_intrinsics`, ignored otherwise.
            batch_size: frames per forward pass. 4096 keeps a 1024-wide float32 activation (16 MB)
                under glibc's largest mmap threshold (32 MB), so its memory is reused from layer to
                layer; 65536-frame activations are mapped afresh per layer, ~15 % slower (docs/speed.md).

        Returns:
            ``(..., J, 3)`` mm, camera frame, root-relative, of the input's type (numpy in ->
            numpy out; tensor in -> tensor on the input's device). Frames whose root joint is
            missing cannot be lifted and are NaN.
        """
        from poselift.conventions import as_h36m17

        keypoints_2d, confidence = as_h36m17(keypoints_2d, confidence, layout)
        return self.map_frames(keypoints_2d, confidence, self.lift_encoded, batch_size, intrinsics)
