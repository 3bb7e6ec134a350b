"""Hossain & Little (ECCV 2018), "Exploiting temporal information for 3D pose estimation".

Method (paper section 3, Figure 2): a sequence-to-sequence network maps ``T`` consecutive z-scored
2D poses to ``T`` z-scored root-relative 3D poses.

- Encoder: an LSTM reads the 2D sequence **reversed** (last frame first); its final state
  initialises the decoder.
- Decoder: an LSTM whose first input is a START vector of ones and whose input at step ``t`` is its
  own output of step ``t - 1``. With the residual (shortcut) connection each step predicts the
  change from its input: ``y_t = y_{t-1} + W h_t`` (``y_{-1}`` = START).
- Cells: LSTM with layer normalisation (Ba et al. 2016) and dropout on the non-recurrent
  connections only (Zaremba et al. 2014); the recurrent path ``h_{t-1} -> h_t`` is never dropped.
  Where the paper is silent, the defaults follow the authors' released code (rayat137/Pose_3D,
  ``temporal_model.py``): each LSTM first projects its input with a ``Linear(in, 1024)``, dropout
  acts on that projection, on the cell's candidate and on the read-out's input
  (``dropout_placement="authors"``), and the cell is TensorFlow's ``LayerNormBasicLSTMCell`` (one
  norm per gate over ``W [x; h]``, the carried cell state normalised: ``norm_style="tensorflow"``).
  poselift's first reading (dropout on the raw 2D coordinates and fed-back poses, Ba et al.'s
  separate norms with only the cell's read-out normalised) stays available as
  ``dropout_placement="inputs"``, ``norm_style="ba"``.
- Loss, Eq. (3): ``alpha * MSE (Eq. 1) + beta * smoothness (Eq. 2)``, the smoothness being the
  squared first temporal difference of the predictions with joint-set weights: torso and head
  ``eta = 1``, knees and elbows ``rho = 2.5``, wrists and ankles ``tau = 4``; ``alpha = 1``,
  ``beta = 5``. Both terms are averaged over the ``3(J-1)`` predicted coordinates (Eqs. 1-2 sum
  them), which rescales the whole loss by one constant and leaves ``alpha : beta`` as in the paper.
  As in the authors' code both are computed on the poses in millimetres (``loss_space="mm"``);
  ``"normalized"`` computes them on the z-scored coordinates (poselift's first reading).
- Training on sliding windows of ``T = 5`` frames with stride 1; inference (section 4): the first
  window of a clip gives its first ``T`` frames, every further window (stride 1) its last frame
  (:func:`sliding_window_plan`). A clip shorter than ``T`` is padded with its last frame.

Training hyper-parameters of the paper, which live in :class:`poselift.train.TrainConfig` (the CLI's
``--lr``, ``--batch-size``, ``--epochs``) rather than here: Adam, learning rate **1e-5** decayed
exponentially, batch 32 sequences, 100 epochs of Human3.6M. The CLI's ``--lr`` (default 1e-3, the
baseline's) overrides the paper's value; pass ``--lr 1e-5`` to follow the paper.

Choices the paper leaves open (see :class:`TemporalConfig`): hidden size (1024), one LSTM layer
per side (as drawn in Figure 2), dropout probability (0.2), per-gate layer normalisation (as
TensorFlow's ``LayerNormBasicLSTMCell``), forget-gate bias 1 at initialisation; Xavier-uniform
LSTM weights are the paper's. The decoder is fed its own previous prediction in training as at test
time (no teacher forcing), so both run the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from poselift.encoding import PoseNormalizer, split_root
from poselift.errors import PoseliftError, ShapeError
from poselift.intrinsics import Intrinsics
from poselift.models.backbone import eval_mode, frame_mpjpe_mm, masked_mean
from poselift.models.base import LiftingModel
from poselift.skeleton import H36M17

# Joint sets of the smoothness term (Eq. 2), by H36M-17 joint name; every other joint but the root
# (which is not predicted) belongs to torso_head.
LIMB_MID_JOINTS = ("r_knee", "l_knee", "l_elbow", "r_elbow")
LIMB_TERMINAL_JOINTS = ("r_ankle", "l_ankle", "l_wrist", "r_wrist")
# Where dropout acts (RecurrentStack), how the cells are layer-normalised (LayerNormLSTMCell) and in
# which space the loss is computed (TemporalLifter.loss); the first of each is the authors' code.
DROPOUT_PLACEMENTS = ("authors", "inputs")
NORM_STYLES = ("tensorflow", "ba")
LOSS_SPACES = ("mm", "normalized")


@dataclass
class TemporalConfig:
    """Hossain & Little hyper-parameters (defaults = the paper where it gives them).

    sequence_length: T, frames per window (paper: 5; any T >= 1 works).
    hidden_size, num_layers: LSTM width and depth of encoder and decoder (not stated in the paper;
        one layer per side as in its Figure 2, 1024 units like the baseline's layers).
    dropout: probability on the non-recurrent connections (not stated in the paper); 0 switches
        recurrent dropout off (Table 4, "w/o recurrent dropout").
    layer_norm: layer-normalised LSTM cells (Table 4, "w/o layer normalized LSTM" = False).
    residual_decoder: each decoder step predicts the change from its input (Table 4,
        "w/o residual connections" = False).
    mse_weight, smoothness_weight: alpha and beta of Eq. (3); smoothness_weight 0 switches the
        temporal consistency term off (Table 4, "w/o temporal consistency constraint").
    torso_head_weight, limb_mid_weight, limb_terminal_weight: eta, rho, tau of Eq. (2).
    input_normalization: "image" (z-scored pixels, the paper), "pose" or "camera" (the camera rays,
        root-centred, with the root's ray; lifting then needs the intrinsics; see poselift.encoding).
    dropout_placement: "authors" (their code: a Linear(in, hidden) input projection, dropout on its
        output, on the cell's candidate and on the read-out's input) or "inputs" (dropout on the raw
        2D coordinates and fed-back poses, poselift before the audit). See :class:`RecurrentStack`.
    norm_style: "tensorflow" (their code's LayerNormBasicLSTMCell: one norm per gate over
        W [x; h], the carried cell state normalised) or "ba" (separate norms of W x and W h, only
        the cell's read-out normalised). See :class:`LayerNormLSTMCell`.
    loss_space: "mm" (their code: Eq. 3 on the de-normalised poses in millimetres) or "normalized"
        (on the z-scored coordinates, which weights each coordinate by 1 / its variance).
    """

    sequence_length: int = 5
    hidden_size: int = 1024
    num_layers: int = 1
    dropout: float = 0.2
    layer_norm: bool = True
    residual_decoder: bool = True
    mse_weight: float = 1.0
    smoothness_weight: float = 5.0
    torso_head_weight: float = 1.0
    limb_mid_weight: float = 2.5
    limb_terminal_weight: float = 4.0
    input_normalization: str = "image"
    dropout_placement: str = "authors"
    norm_style: str = "tensorflow"
    loss_space: str = "mm"

    def __post_init__(self) -> None:
        for name, allowed in (("dropout_placement", DROPOUT_PLACEMENTS), ("norm_style", NORM_STYLES),
                              ("loss_space", LOSS_SPACES)):
            if getattr(self, name) not in allowed:
                raise PoseliftError(f"temporal config: {name} must be one of {', '.join(allowed)}, "
                                    f"got {getattr(self, name)!r}")
        for name in ("sequence_length", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise PoseliftError(f"temporal config: {name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise PoseliftError(f"temporal config: dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("mse_weight", "smoothness_weight", "torso_head_weight", "limb_mid_weight",
                     "limb_terminal_weight"):
            if getattr(self, name) < 0:
                raise PoseliftError(f"temporal config: {name} must be >= 0, got {getattr(self, name)!r}")


# ------------------------------------------------------------------------------------ LSTM cells
class LayerNormLSTMCell(nn.Module):
    """One LSTM cell, optionally layer-normalised (Ba et al. 2016), in one of two styles.

    Gates in ``torch.nn.LSTM``'s order ``i, f, g, o``; ``N`` is a per-gate layer norm over the gate's
    H units with a gain (and, in the TensorFlow style, a shift), or the identity without layer norm:

    - ``norm_style="tensorflow"`` (the authors' ``tf.contrib.rnn.LayerNormBasicLSTMCell``)::

          i, f, g, o = N(W_ih x + W_hh h)            (the shifts play the bias; forget gate + 1)
          c' = N_c(sigmoid(f + 1) * c + sigmoid(i) * drop(tanh(g)))    the CARRIED state is normalised
          h' = sigmoid(o) * tanh(c')

    - ``norm_style="ba"`` (Ba et al.'s equations, poselift's reading before the audit)::

          i, f, g, o = N(W_ih x) + N(W_hh h) + b
          c' = sigmoid(f) * c + sigmoid(i) * drop(tanh(g))               c is carried unnormalised
          h' = sigmoid(o) * tanh(N_c(c'))                                only the read-out is normalised

    ``drop`` is dropout on the candidate with probability ``candidate_dropout`` in training mode
    (TensorFlow's ``dropout_keep_prob`` of that cell; 0 = off). ``weight_ih (4H, D)``,
    ``weight_hh (4H, H)`` and ``bias (4H,)`` (= ``b_ih + b_hh`` of ``torch.nn.LSTM``) are laid out like
    the torch module's, so without layer norm the cell is ``torch.nn.LSTM``'s and weights copy across.
    """

    def __init__(self, input_size: int, hidden_size: int, layer_norm: bool = True, norm_style: str = "tensorflow",
                 candidate_dropout: float = 0.0):
        super().__init__()
        if norm_style not in NORM_STYLES:
            raise PoseliftError(f"LSTM cell: norm_style must be one of {', '.join(NORM_STYLES)}, got {norm_style!r}")
        self.input_size, self.hidden_size, self.layer_norm = input_size, hidden_size, layer_norm
        self.norm_style, self.candidate_dropout = norm_style, candidate_dropout
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        if layer_norm:
            self.input_gain = nn.Parameter(torch.ones(4, hidden_size))
            if norm_style == "ba":
                self.recurrent_gain = nn.Parameter(torch.ones(4, hidden_size))
            self.cell_norm = nn.LayerNorm(hidden_size)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-uniform weights (the paper), zero biases but the forget gate's, which is 1."""
        nn.init.xavier_uniform_(self.weight_ih)
        nn.init.xavier_uniform_(self.weight_hh)
        self.bias.zero_()
        self.bias[self.hidden_size : 2 * self.hidden_size] = 1.0

    def _gate_norm(self, projection: Tensor, gain: Tensor) -> Tensor:
        """``(..., 4H)`` -> each of the four gates normalised over its H units, times ``gain (4, H)``."""
        per_gate = projection.unflatten(-1, (4, self.hidden_size))
        return (F.layer_norm(per_gate, (self.hidden_size,)) * gain).flatten(start_dim=-2)

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """The input's share of the gates for inputs ``(..., D)`` -> ``(..., 4H)``, done for every time
        step at once: ``N(W_ih x)`` in the Ba style, ``W_ih x`` in the TensorFlow style (normalised
        with the recurrent share in :meth:`step`)."""
        projection = inputs @ self.weight_ih.T
        if self.layer_norm and self.norm_style == "ba":
            return self._gate_norm(projection, self.input_gain)
        return projection

    def step(self, projected_input: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """One time step: ``projected_input (B, 4H)`` from :meth:`project_inputs`, ``state = (h, c)``
        each ``(B, H)`` -> the new ``(h, c)``."""
        hidden, cell = state
        recurrent = hidden @ self.weight_hh.T
        if not self.layer_norm:
            gates = projected_input + recurrent + self.bias
        elif self.norm_style == "ba":
            gates = projected_input + self._gate_norm(recurrent, self.recurrent_gain) + self.bias
        else:
            gates = self._gate_norm(projected_input + recurrent, self.input_gain) + self.bias
        input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=-1)
        candidate = F.dropout(torch.tanh(candidate), self.candidate_dropout, self.training)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * candidate
        if self.layer_norm and self.norm_style == "tensorflow":
            cell = self.cell_norm(cell)
            return torch.sigmoid(output_gate) * torch.tanh(cell), cell
        read_out = self.cell_norm(cell) if self.layer_norm else cell
        return torch.sigmoid(output_gate) * torch.tanh(read_out), cell


LSTMState = list[tuple[Tensor, Tensor]]  # (h, c) of every layer, each (B, H)


class RecurrentStack(nn.Module):
    """``num_layers`` stacked :class:`LayerNormLSTMCell` with dropout on the non-recurrent connections.

    Dropout (probability ``dropout``, training mode only) is applied to the input of every layer,
    i.e. to the sequence fed in (after the input projection, if any) and between layers; the
    hidden-to-hidden connections through time are left intact (Zaremba et al.). Apply the same
    dropout to the top layer's output before a read-out layer (:meth:`TemporalLifter.forward` does).

    ``placement="authors"`` is the authors' code (``InputProjectionWrapper(DropoutWrapper(
    LayerNormBasicLSTMCell(dropout_keep_prob)))``): the input first goes through a ``Linear(D, H)``
    (no activation), dropout acts on that projection, and the cells also drop their candidate.
    ``placement="inputs"`` (poselift before the audit): dropout on the raw inputs, no projection,
    no candidate dropout.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, layer_norm: bool = True,
                 dropout: float = 0.0, placement: str = "authors", norm_style: str = "tensorflow"):
        super().__init__()
        if placement not in DROPOUT_PLACEMENTS:
            raise PoseliftError(f"temporal config: dropout_placement must be one of "
                                f"{', '.join(DROPOUT_PLACEMENTS)}, got {placement!r}")
        self.hidden_size, self.dropout = hidden_size, dropout
        self.input_projection = nn.Linear(input_size, hidden_size) if placement == "authors" else None
        first_size = hidden_size if self.input_projection is not None else input_size
        candidate_dropout = dropout if placement == "authors" else 0.0
        self.cells = nn.ModuleList(
            LayerNormLSTMCell(first_size if layer == 0 else hidden_size, hidden_size, layer_norm, norm_style,
                              candidate_dropout)
            for layer in range(num_layers)
        )

    def zero_state(self, batch_size: int, like: Tensor) -> LSTMState:
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return [(zeros, zeros) for _ in self.cells]

    def _project(self, inputs: Tensor) -> Tensor:
        return self.input_projection(inputs) if self.input_projection is not None else inputs

    def run(self, inputs: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """A whole sequence, layer by layer: ``inputs (B, T, D)`` -> ``(outputs (B, T, H), final state)``.

        ``state`` None starts from zeros. Each layer projects all its T inputs in one product.
        """
        state = state if state is not None else self.zero_state(inputs.shape[0], inputs)
        final: LSTMState = []
        layer_input = self._project(inputs)
        for cell, layer_state in zip(self.cells, state):
            projected = cell.project_inputs(F.dropout(layer_input, self.dropout, self.training))
            outputs = []
            for time in range(projected.shape[1]):
                layer_state = cell.step(projected[:, time], layer_state)
                outputs.append(layer_state[0])
            final.append(layer_state)
            layer_input = torch.stack(outputs, dim=1)
        return layer_input, final

    def step(self, inputs: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One time step through every layer: ``inputs (B, D)`` -> ``(top hidden (B, H), new state)``."""
        new_state: LSTMState = []
        layer_input = self._project(inputs)
        for cell, layer_state in zip(self.cells, state):
            layer_state = cell.step(cell.project_inputs(F.dropout(layer_input, self.dropout, self.training)),
                                    layer_state)
            new_state.append(layer_state)
            layer_input = layer_state[0]
        return layer_input, new_state


# ------------------------------------------------------------------------------------ the loss
def smoothness_joint_weights(torso_head: float = 1.0, limb_mid: float = 2.5, limb_terminal: float = 4.0) -> Tensor:
    """Weight of each predicted (non-root) H36M-17 joint in Eq. (2): ``(J-1,)`` = (16,)."""
    weights = torch.full((H36M17.num_joints,), float(torso_head))
    weights[[H36M17.index(name) for name in LIMB_MID_JOINTS]] = float(limb_mid)
    weights[[H36M17.index(name) for name in LIMB_TERMINAL_JOINTS]] = float(limb_terminal)
    root = H36M17.root_index
    return torch.cat([weights[:root], weights[root + 1:]])


def temporal_smoothness(encoded_3d: Tensor, joint_weights: Tensor, frame_valid: Tensor | None = None) -> Tensor:
    """Weighted squared first temporal difference of a pose sequence, Eq. (2) per coordinate.

    Args:
        encoded_3d: ``(B, T, 3K)`` poses, ``K`` joints of 3 coordinates each (here the z-scored
            non-root joints, K = J - 1).
        joint_weights: ``(K,)`` weight of each joint (eta, rho or tau).
        frame_valid: ``(B, T)`` bool or None; a step counts when both of its frames are valid.

    Returns:
        Scalar: ``sum_t sum_k w_k ||y_{t,k} - y_{t-1,k}||^2`` averaged over the valid steps
        ``(b, t)`` and divided by ``3K``; 0 (still in the graph) when T < 2.
    """
    if encoded_3d.ndim != 3 or encoded_3d.shape[-1] != 3 * joint_weights.shape[0]:
        raise ShapeError(f"encoded_3d: expected shape (B, T, {3 * joint_weights.shape[0]}), "
                         f"got {tuple(encoded_3d.shape)}")
    step_squared = torch.diff(encoded_3d, dim=1).square()                   # (B, T-1, 3K)
    coordinate_weights = joint_weights.to(encoded_3d).repeat_interleave(3)
    step_cost = (step_squared * coordinate_weights).mean(dim=-1)            # (B, T-1), sum / 3K
    if frame_valid is None:
        step_valid = torch.ones(step_cost.shape, dtype=torch.bool, device=step_cost.device)
    else:
        step_valid = frame_valid[:, 1:] & frame_valid[:, :-1]
    return masked_mean(step_cost.flatten(), step_valid.flatten())


# ------------------------------------------------------------------------------- sliding windows
def sliding_window_plan(sequence_lengths: Tensor, window: int) -> tuple[Tensor, Tensor, Tensor]:
    """The paper's test-time windows over sequences laid end to end, and where each frame's pose comes from.

    Sequence ``s`` (length ``n``) gets windows starting at each of its frames ``0 .. max(n - T, 0)``
    (stride 1); a frame index past the sequence's end is replaced by its last frame (so a sequence
    shorter than ``T`` gives one window padded with its last frame). Frame ``k`` of a sequence takes
    its pose from window ``max(k - T + 1, 0)`` at position ``k - start``: the first window gives the
    first ``T`` frames, every further window its last frame.

    Args:
        sequence_lengths: ``(S,)`` int, the lengths of the sequences (0 allowed), which occupy
            consecutive rows ``0 .. sum - 1`` of the caller's frame array.
        window: T >= 1.

    Returns:
        ``(window_frames (W, T) long row indices, frame_window (M,) long, frame_position (M,) long)``
        with ``M = sum(sequence_lengths)``.
    """
    lengths = torch.as_tensor(sequence_lengths, dtype=torch.long).reshape(-1)
    if window < 1 or (lengths < 0).any():
        raise ShapeError(f"sliding windows need T >= 1 and lengths >= 0, got T={window}, lengths {lengths.tolist()}")
    offsets = torch.cumsum(lengths, 0) - lengths                            # first row of each sequence
    window_count = torch.where(lengths > 0, (lengths - window + 1).clamp(min=1), 0)
    window_offsets = torch.cumsum(window_count, 0) - window_count
    sequence_of_window = torch.repeat_interleave(torch.arange(len(lengths)), window_count)
    start = offsets[sequence_of_window] + torch.arange(int(window_count.sum())) - window_offsets[sequence_of_window]
    last_row = (offsets + lengths - 1)[sequence_of_window]
    window_frames = torch.minimum(start[:, None] + torch.arange(window), last_row[:, None])
    sequence_of_frame = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    frame_in_sequence = torch.arange(int(lengths.sum())) - offsets[sequence_of_frame]
    window_start = (frame_in_sequence - window + 1).clamp(min=0)
    return window_frames, window_offsets[sequence_of_frame] + window_start, frame_in_sequence - window_start


# ------------------------------------------------------------------------------------ the model
class TemporalLifter(LiftingModel):
    """2D pose sequences -> root-relative 3D pose sequences with the seq2seq LSTM of Hossain & Little.

    ``forward(encoded_2d (B, T, 2J)) -> encoded_3d (B, T, 3(J-1))`` works in the normalised spaces
    of :attr:`normalizer`; :meth:`lift` takes a track of pixels and returns millimetres. Training
    batches are windows ``(B, T, 17, ·)`` (``source_kind = "windows"``, ``T = config.sequence_length``).
    """

    kind = "temporal"
    layout = "h36m17"
    source_kind = "windows"
    sequence_model = True

    @classmethod
    def window_length(cls, config: TemporalConfig) -> int:
        """Frames per training window: ``config.sequence_length``."""
        return config.sequence_length

    def __init__(self, config: TemporalConfig | None = None):
        super().__init__()
        self.config = config if config is not None else TemporalConfig()
        config = self.config
        self.normalizer = PoseNormalizer(H36M17.num_joints, root_index=H36M17.root_index,
                                         input_normalization=config.input_normalization, passes_intrinsics=True)
        pose_dim = self.normalizer.output_dim
        stack_options = dict(num_layers=config.num_layers, layer_norm=config.layer_norm, dropout=config.dropout,
                             placement=config.dropout_placement, norm_style=config.norm_style)
        self.encoder = RecurrentStack(self.normalizer.input_dim, config.hidden_size, **stack_options)
        self.decoder = RecurrentStack(pose_dim, config.hidden_size, **stack_options)
        self.head = nn.Linear(config.hidden_size, pose_dim)
        self.register_buffer("start_token", torch.ones(pose_dim), persistent=False)
        self.register_buffer("joint_weights", smoothness_joint_weights(
            config.torso_head_weight, config.limb_mid_weight, config.limb_terminal_weight), persistent=False)

    @property
    def sequence_length(self) -> int:
        return self.config.sequence_length

    @property
    def reads_intrinsics(self) -> bool:
        """True when the 2D encoding is ``"camera"``: lifting then needs ``intrinsics``."""
        return self.normalizer.reads_intrinsics

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """``(B, T, 2J)`` encoded 2D sequence -> ``(B, T, 3(J-1))`` encoded 3D sequence (any T >= 1)."""
        if encoded_2d.ndim != 3 or encoded_2d.shape[-1] != self.normalizer.input_dim:
            raise ShapeError(f"encoded_2d: expected shape (B, T, {self.normalizer.input_dim}), "
                             f"got {tuple(encoded_2d.shape)}")
        _, state = self.encoder.run(encoded_2d.flip(1))                        # reversed input
        previous = self.start_token.expand(encoded_2d.shape[0], -1)
        poses = []
        for _ in range(encoded_2d.shape[1]):
            hidden, state = self.decoder.step(previous, state)
            increment = self.head(F.dropout(hidden, self.config.dropout, self.training))
            previous = previous + increment if self.config.residual_decoder else increment
            poses.append(previous)
        return torch.stack(poses, dim=1)

    def _check_windows(self, batch: dict[str, Tensor]) -> None:
        shape = tuple(batch["keypoints_2d"].shape)
        if len(shape) != 4:
            raise ShapeError(f"keypoints_2d: the temporal model trains on windows (B, T, 17, 2), got {shape}; "
                             "use a window source (poselift.data.datasets.WindowSource)")

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Eq. (3) on a batch of windows: ``keypoints_2d (B, T, 17, 2)`` px, ``confidence (B, T, 17)``,
        ``poses_3d (B, T, 17, 3)`` mm camera frame (and the cameras' ``focal (B, T, 2)``, ``principal``,
        ... for the "camera" encoding).

        Returns ``loss`` = alpha * ``mse`` + beta * ``smoothness`` (both per coordinate, over frames
        whose root is visible, in millimetres or in the normalised 3D space: ``config.loss_space``)
        and ``mpjpe_mm`` (no gradient).
        """
        self._check_windows(batch)
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch["keypoints_2d"], batch.get("confidence"),
                                                            Intrinsics.from_batch(batch))
        predicted_3d = self(encoded_2d)
        target_mm = batch["poses_3d"].to(predicted_3d)
        predicted_mm = self.normalizer.decode_3d(predicted_3d)
        if self.config.loss_space == "mm":
            root = H36M17.root_index                                         # (B, T, 17, 3) -> (B, T, 48)
            predicted = split_root(predicted_mm, root).flatten(-2)
            target = split_root(target_mm - target_mm[..., root:root + 1, :], root).flatten(-2)
        else:
            predicted, target = predicted_3d, self.normalizer.encode_3d(batch["poses_3d"])
        mse = masked_mean((predicted - target).square().mean(dim=-1).flatten(), frame_valid.flatten())
        smoothness = temporal_smoothness(predicted, self.joint_weights, frame_valid)
        loss = self.config.mse_weight * mse + self.config.smoothness_weight * smoothness
        with torch.no_grad():
            mpjpe_mm = masked_mean(frame_mpjpe_mm(predicted_mm, target_mm).flatten(), frame_valid.flatten())
        return {"loss": loss, "mse": mse.detach(), "smoothness": smoothness.detach(), "mpjpe_mm": mpjpe_mm}

    @torch.no_grad()
    def lift_sequences(self, keypoints_2d: Tensor, confidence: Tensor | None, sequence_lengths,
                       batch_size: int = 4096, intrinsics: Intrinsics | None = None) -> Tensor:
        """Lift sequences laid end to end with the paper's sliding-window scheme (eval mode, restored after).

        Args:
            keypoints_2d: ``(M, J, 2)`` px tensor, the frames of every sequence in order.
            confidence: ``(M, J)`` or None.
            sequence_lengths: ``(S,)`` lengths summing to M (a clip per camera, say).
            batch_size: frames per forward pass (``batch_size // T`` windows).
            intrinsics: the cameras, ``(M, 2)`` focal etc. or one camera's ``(2,)``; needed when
                :attr:`reads_intrinsics`, ignored otherwise.

        Returns:
            ``(M, J, 3)`` mm, camera frame, root-relative, on the input's device; NaN for frames
            whose root is missing. All windows of all sequences are lifted together, ``batch_size // T`` at a time.
        """
        lengths = torch.as_tensor(sequence_lengths, dtype=torch.long).reshape(-1)
        if int(lengths.sum()) != keypoints_2d.shape[0]:
            raise ShapeError(f"sequence_lengths sum to {int(lengths.sum())} but keypoints_2d has "
                             f"{keypoints_2d.shape[0]} frames")
        encoded_2d, frame_valid = self.normalizer.encode_2d(keypoints_2d, confidence, intrinsics)
        window = self.config.sequence_length
        window_frames, frame_window, frame_position = sliding_window_plan(lengths, window)
        window_frames = window_frames.to(encoded_2d.device)
        windows_per_pass = max(1, batch_size // window)
        outputs = encoded_2d.new_empty(window_frames.shape[0], window, self.normalizer.output_dim)
        with eval_mode(self):
            for start in range(0, window_frames.shape[0], windows_per_pass):
                chunk = slice(start, start + windows_per_pass)
                outputs[chunk] = self(encoded_2d[window_frames[chunk]])
        poses = self.normalizer.decode_3d(outputs[frame_window.to(outputs.device), frame_position.to(outputs.device)])
        return torch.where(frame_valid[:, None, None], poses, torch.nan).to(torch.as_tensor(keypoints_2d).device)

    @torch.no_grad()
    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096, layout: str = "h36m17",
             intrinsics: Intrinsics | None = None):
        """Lift a 2D track (consecutive frames) to 3D with the paper's sliding-window scheme.

        Args:
            keypoints_2d: ``(..., N, J, 2)`` px, numpy array or tensor: each ``(N, J, 2)`` is one
                sequence of consecutive frames (any N, also N < T).
            confidence: ``(..., N, J)`` in [0, 1] (0 = missing) or None.
            batch_size: frames per forward pass.
            layout: the keypoints' layout (``poselift.skeleton.LAYOUT_NAMES``), converted to H36M-17
                first; a layout the anatomy contradicts is refused (:func:`poselift.conventions.as_h36m17`).
            intrinsics: the camera(s), leading dims broadcasting against ``(..., N)``; needed when
                :attr:`reads_intrinsics`, ignored otherwise.

        Returns:
            ``(..., N, J, 3)`` mm, camera frame, root-relative, of the input's type (numpy in ->
            numpy out; tensor in -> tensor on the input's device); NaN where the root is missing.
        """
        from poselift.conventions import as_h36m17

        keypoints_2d, confidence = as_h36m17(keypoints_2d, confidence, layout)
        as_numpy = not torch.is_tensor(keypoints_2d)
        keypoints = torch.as_tensor(np.asarray(keypoints_2d) if as_numpy else keypoints_2d)
        if keypoints.ndim < 3:
            raise ShapeError(f"keypoints_2d: the temporal model lifts sequences (..., N, {H36M17.num_joints}, 2), "
                             f"got {tuple(keypoints.shape)}")
        out_device = keypoints.device
        lead_shape, frames = keypoints.shape[:-3], keypoints.shape[-3]
        flat_keypoints = keypoints.reshape(-1, *keypoints.shape[-2:])
        flat_confidence = None
        if confidence is not None:
            confidence = torch.as_tensor(np.asarray(confidence) if not torch.is_tensor(confidence) else confidence)
            if confidence.shape != keypoints.shape[:-1]:
                raise ShapeError(f"confidence: expected shape {tuple(keypoints.shape[:-1])}, "
                                 f"got {tuple(confidence.shape)}")
            flat_confidence = confidence.reshape(-1, confidence.shape[-1])
        sequences = int(np.prod(lead_shape))
        if intrinsics is not None:                  # one row per frame, as the frames are laid end to end
            frame_dims = keypoints.shape[:-2]
            intrinsics = intrinsics.map(
                lambda value: value.expand(frame_dims + value.shape[-1:]).reshape(-1, value.shape[-1]))
        poses = self.lift_sequences(flat_keypoints, flat_confidence, torch.full((sequences,), frames), batch_size,
                                    intrinsics)
        poses = poses.reshape(lead_shape + (frames,) + poses.shape[-2:])
        return poses.cpu().numpy() if as_numpy else poses.to(out_device)
