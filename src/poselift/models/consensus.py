"""Cha, Lee, Cho, Oh (ECCV 2018), "Deep pose consensus networks".

Method (the paper's sections 4-6, "Case 1": 2D keypoints in, 3D out):

1. Joint groups (section 4.1). The similarity of two joints is how far apart they move over a
   training sequence, Eq. (1): ``s_ii' = sum_k ||X_ik - X_i'k||^2``. A group starts from a
   uniformly drawn joint and grows one joint at a time, each drawn with weight Eq. (2)
   ``w_i = exp(-lambda / (2 n_g) * sum_{i' in g} s_ii')`` (0 for joints already in), until it holds
   ``n_g`` joints; groups are drawn until every joint is in at least ``m_g`` of them (or, with
   ``num_groups``, exactly ``n_t`` groups). ``group_selection="random"`` draws with equal weights
   (the paper's "random selection" ablation). Drawn once, from a seed, and stored in the config.
2. Group lifters (section 4.2, Eq. 3): one Martinez-style residual MLP per group, with LeakyReLU
   instead of ReLU, maps the group's ``2 n_g`` 2D coordinates to its ``3 n_g`` 3D coordinates. All
   ``G`` lifters are ONE module (:class:`GroupedResidualMLP`): grouped linear layers (a weight
   ``(G, in, out)`` applied with one batched product) and BatchNorm over ``G x width`` channels,
   so a forward pass is a handful of batched matrix products whatever ``G``. Each output is the
   group's joints of the root-relative pose (or, with ``lifting_target="centred"``, centred over the
   group, the translation left to aggregation).
3. Aggregation (section 5): the partial poses are merged by the consensus problem of
   :mod:`poselift.models.admm` (l2,1 by ADMM, the paper's choice; l1 or plain least squares).
4. Loss (Eqs. 4 and 12): ``L = L_lifting + L_aggre``. ``L_lifting = sum_j ||X*_{g_j} - Xhat_j||_F^2``
   compares each lifter's partial pose ``Xhat_j`` with the group's joints of the root-relative ground
   truth ``X*`` (Eq. 4). ``L_aggre = sum_j ||X*|g_j W_j - Xhat_j W_j||_F^2`` (Eq. 12 with ``X`` the
   ground truth, the paper's reading) compares the group-centred shapes (``W_j`` centres a group; we
   centre ``Xhat_j`` too, since the aggregation recovers each group's translation itself): so the
   shape of each partial pose counts twice and its position once. Scaling: both sums are divided
   by the number of coordinates ``3 G n_g`` and by the training variance of the root-relative 3D
   coordinates (the mean of ``std_3d^2`` of the :class:`~poselift.encoding.PoseNormalizer`, mm^2),
   so each term is a unit-free mean squared error like the baseline's z-scored MSE, and their 1:1
   ratio is the paper's. poselift's first reading stays available: ``lifting_target="centred"``
   (each output centred over its group and compared with the centred ground truth) and
   ``aggregation_target="consensus"`` (``X`` = the least-squares consensus of the predictions: how
   far they are from agreeing with one whole pose, the minimum of a least-squares problem whose
   gradient is the residual itself). An audit measured that reading penalising the error that
   aggregation averages away and fighting dropout (train L_aggre 0.062 against 0.0067 on
   validation, one seed, short schedule).

Encodings: the 2D input is the baseline's (:class:`~poselift.encoding.PoseNormalizer`, z-scored,
``input_normalization`` as :class:`~poselift.models.baseline.BaselineConfig`); each group reads its
joints' encoded coordinates. The network's outputs are z-scored root-relative 3D coordinates of the
group's joints (the normalizer's ``mean_3d``/``std_3d``; the root's std is 0, so it stays at the
origin), decoded to mm and then centred over the group.

Choices the paper leaves open, and our units:

- Similarity Eq. (1) is averaged over frames rather than summed, and taken in metres: with the sum
  in mm every weight of Eq. (2) underflows to 0 for any real sequence, whereas ``lambda = 10`` gives
  weights of order 1 with the mean in m^2. It is computed over all training frames (the paper uses
  the first training sequence). With these units the learned weights favour nearby joints strongly,
  so distant joints (the ankles) join groups mostly as a group's first, uniformly drawn joint, and
  covering them ``m_g`` times takes more groups than random selection does (on the benchmark,
  ``n_g = 10``: 64 learned groups against 23 random ones); ``group_lambda`` trades this off.
- LeakyReLU slope 0.01 (torch's default); widths and dropout follow Martinez et al. (1024, two
  residual blocks, dropout 0.5), as the paper says its lifter does.
- ADMM's penalty, tolerance and iteration cap (not given in the paper) are in
  :class:`ConsensusConfig`. L_aggre uses the least-squares consensus (its definition); the
  validation ``mpjpe_mm`` and :meth:`ConsensusLifter.lift` use the configured aggregation.
- Not implemented: the optional end-to-end fine-tuning through a heatmap 2D detector (section 6,
  Eq. 13-14, with its soft-argmax "domain conversion" layer). poselift lifts keypoints from any
  detector and ships no heatmap network to fine-tune, so the layer had nothing to attach to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from poselift.encoding import PoseNormalizer, insert_root
from poselift.errors import PoseliftError
from poselift.models.admm import AGGREGATIONS, ConsensusSolver, check_groups
from poselift.models.backbone import BackboneConfig, Dropout, FrameLifting, frame_mpjpe_mm, make_activation, masked_mean
from poselift.models.base import LiftingModel
from poselift.skeleton import H36M17

GROUP_SELECTIONS = ("learned", "random")
LIFTING_TARGETS = ("root_relative", "centred")
AGGREGATION_TARGETS = ("ground_truth", "consensus")
# Drawing stops with an error after this many groups per joint (only reachable with absurd settings).
_MAX_GROUPS_PER_JOINT = 1000


@dataclass
class ConsensusConfig(BackboneConfig):
    """Deep pose consensus hyper-parameters (defaults = the paper where it gives them).

    group_size: n_g, joints per group (paper: 10 of 17 was best; Table 1 tries 8-17).
    min_groups_per_joint: m_g, draw groups until every joint is in at least this many (paper: 10).
    group_lambda: lambda of Eq. (2) (paper: 10), per m^2 of mean squared joint distance.
    group_selection: "learned" (weights of Eq. 2 from the training trajectories) or "random"
        (equal weights: the paper's "random selection" ablation).
    group_seed: seed of the group drawing.
    num_groups: n_t, draw exactly this many groups instead (None = the m_g rule; Table 1's
        "n_g = 17, n_t = 1" row is ``group_size=17, num_groups=1``).
    groups: the drawn groups (lists of H36M-17 joint indices), filled by
        :meth:`ConsensusLifter.prepare_config` from the training data and saved in checkpoints;
        None until then ("random" groups are drawn when the model is built).
    hidden_size, num_blocks, dropout, batch_norm, activation: each group lifter (Martinez et al.'s
        residual MLP with LeakyReLU, as the paper).
    init, input_layer, max_norm, max_norm_mode: the backbone's (:class:`~poselift.models.backbone.BackboneConfig`),
        applied to every group lifter ("matrix": each group's weight matrix clipped on its own).
    aggregation: "l21" (the paper), "l1" (Table 5's "w/o l2,1") or "l2" (least squares).
    aggregation_weight: weight of L_aggre (paper: 1; 0 = Table 5's "w/o L_aggre").
    lifting_target: "root_relative" (Eq. 4: the group's joints of the root-relative pose) or
        "centred" (outputs and targets centred over the group; poselift's first reading).
    aggregation_target: "ground_truth" (Eq. 12 with X the ground truth, the paper's reading) or
        "consensus" (X the least-squares consensus of the predictions; poselift's first reading).
    admm_max_iterations, admm_tolerance, admm_rho, admm_relaxation: the ADMM solver's iteration
        cap, relative tolerance, unit-free penalty and over-relaxation
        (:class:`~poselift.models.admm.ConsensusSolver`).
    input_normalization: "image" (z-scored pixels, the paper) or "pose" (see poselift.encoding).
    """

    num_joints: int = 17
    group_size: int = 10
    min_groups_per_joint: int = 10
    group_lambda: float = 10.0
    group_selection: str = "learned"
    group_seed: int = 0
    num_groups: int | None = None
    groups: list[list[int]] | None = None
    activation: str = "leaky_relu"
    aggregation: str = "l21"
    aggregation_weight: float = 1.0
    lifting_target: str = "root_relative"
    aggregation_target: str = "ground_truth"
    admm_max_iterations: int = 100
    admm_tolerance: float = 1e-3
    admm_rho: float = 1.0
    admm_relaxation: float = 1.6
    input_normalization: str = "image"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_joints", "group_size", "min_groups_per_joint", "hidden_size"):
            if int(getattr(self, name)) < 1:
                raise PoseliftError(f"consensus config: {name} must be >= 1, got {getattr(self, name)!r}")
        if self.num_blocks < 0 or self.admm_max_iterations < 0:
            raise PoseliftError("consensus config: num_blocks and admm_max_iterations must be >= 0")
        if self.group_size > self.num_joints:
            raise PoseliftError(f"consensus config: group_size {self.group_size} exceeds the {self.num_joints} joints")
        if self.num_groups is not None and self.num_groups < 1:
            raise PoseliftError(f"consensus config: num_groups must be >= 1 or None, got {self.num_groups!r}")
        for name, allowed in (("lifting_target", LIFTING_TARGETS), ("aggregation_target", AGGREGATION_TARGETS)):
            if getattr(self, name) not in allowed:
                raise PoseliftError(f"consensus config: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.group_selection not in GROUP_SELECTIONS:
            raise PoseliftError(f"consensus config: group_selection must be one of {GROUP_SELECTIONS}, "
                                f"got {self.group_selection!r}")
        if self.aggregation not in AGGREGATIONS:
            raise PoseliftError(f"consensus config: aggregation must be one of {AGGREGATIONS}, "
                                f"got {self.aggregation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise PoseliftError(f"consensus config: dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("group_lambda", "aggregation_weight", "admm_tolerance"):
            if not getattr(self, name) >= 0:
                raise PoseliftError(f"consensus config: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.groups is not None:
            group_index = check_groups(self.groups, self.num_joints)
            if group_index.shape[1] != self.group_size:
                raise PoseliftError(f"consensus config: groups hold {group_index.shape[1]} joints each but "
                                    f"group_size is {self.group_size}")
            self.groups = group_index.tolist()


# --------------------------------------------------------------------------- joint group selection
def trajectory_similarity(poses_3d_mm, chunk_size: int = 65_536) -> Tensor:
    """Eq. (1) averaged over frames: ``s[i, i'] = mean_k ||X_ik - X_i'k||^2`` in m^2, ``(J, J)`` float64.

    Args:
        poses_3d_mm: ``(N, J, 3)`` mm, any frame (world or camera; only differences matter),
            array or tensor, N >= 1 finite poses.
        chunk_size: frames per vectorised pass.
    """
    poses = torch.as_tensor(np.asarray(poses_3d_mm) if not torch.is_tensor(poses_3d_mm) else poses_3d_mm)
    if poses.ndim != 3 or poses.shape[-1] != 3 or poses.shape[0] == 0:
        raise PoseliftError(f"trajectory similarity needs poses of shape (N >= 1, J, 3), got {tuple(poses.shape)}")
    if not bool(torch.isfinite(poses).all()):
        raise PoseliftError("trajectory similarity: the training poses hold NaN or inf")
    total = torch.zeros(poses.shape[1], poses.shape[1], dtype=torch.float64)
    for start in range(0, poses.shape[0], chunk_size):
        chunk = poses[start : start + chunk_size].to(torch.float64) / 1000.0            # m
        chunk = chunk - chunk.mean(dim=1, keepdim=True)                              # better conditioned
        gram = torch.einsum("nid,njd->ij", chunk, chunk)
        squared = chunk.square().sum(dim=(0, 2))
        total += squared[:, None] + squared[None, :] - 2.0 * gram
    return (total / poses.shape[0]).clamp(min=0.0)


def select_joint_groups(similarity: Tensor | None, num_joints: int, group_size: int, min_groups_per_joint: int,
                        group_lambda: float, seed: int, num_groups: int | None = None) -> list[list[int]]:
    """Draw joint groups with the paper's weighted sequential sampling (section 4.1).

    Args:
        similarity: ``(J, J)`` from :func:`trajectory_similarity`, or None for equal weights
            (random selection).
        num_joints: J. group_size: n_g. min_groups_per_joint: m_g. group_lambda: lambda of Eq. (2).
        seed: the draw is a deterministic function of the seed (and the other arguments).
        num_groups: n_t, draw exactly this many groups; None = until every joint is in m_g groups.

    Returns:
        The groups, each a sorted list of ``group_size`` joint indices, in drawing order.

    Raises:
        PoseliftError: with ``num_groups``, if the groups leave a joint out.
    """
    if group_size > num_joints:
        raise PoseliftError(f"group size {group_size} exceeds the {num_joints} joints")
    generator = torch.Generator().manual_seed(int(seed))
    if similarity is None:
        similarity = torch.zeros(num_joints, num_joints, dtype=torch.float64)
    similarity = torch.as_tensor(similarity, dtype=torch.float64)
    if similarity.shape != (num_joints, num_joints):
        raise PoseliftError(f"similarity must be ({num_joints}, {num_joints}), got {tuple(similarity.shape)}")
    coefficient = group_lambda / (2.0 * group_size)
    membership_count = torch.zeros(num_joints, dtype=torch.long)
    groups: list[list[int]] = []

    def drawing() -> bool:
        if num_groups is not None:
            return len(groups) < num_groups
        return bool((membership_count < min_groups_per_joint).any())

    while drawing():
        if len(groups) >= _MAX_GROUPS_PER_JOINT * num_joints:
            raise PoseliftError(f"joint group drawing did not cover every joint {min_groups_per_joint} times "
                                f"in {len(groups)} groups")
        first = int(torch.randint(num_joints, (1,), generator=generator))
        in_group = torch.zeros(num_joints, dtype=torch.bool)
        in_group[first] = True
        summed = similarity[first].clone()                   # sum over the group of s_ii', per joint i
        for _ in range(group_size - 1):
            log_weight = (-coefficient * summed).masked_fill(in_group, -math.inf)     # log of Eq. (2)
            joint = int(torch.multinomial(torch.softmax(log_weight, dim=0), 1, generator=generator))
            in_group[joint] = True
            summed += similarity[joint]
        membership_count += in_group.long()
        groups.append(torch.nonzero(in_group).flatten().tolist())
    if bool((membership_count == 0).any()):
        missing = torch.nonzero(membership_count == 0).flatten().tolist()
        raise PoseliftError(f"the {len(groups)} joint groups leave joint(s) {missing} out; draw more groups")
    return groups


def training_poses_3d(train_source) -> Tensor:
    """``(N, J, 3)`` mm world-frame poses of a training source's frames (a FrameSource or WindowSource-like
    object with ``.benchmark`` and ``.frames``)."""
    benchmark, frames = getattr(train_source, "benchmark", None), getattr(train_source, "frames", None)
    if benchmark is None or frames is None:
        raise PoseliftError(f"selecting joint groups needs the training 3D trajectories: a training source with "
                            f".benchmark and .frames (a FrameSource), got {type(train_source).__name__}")
    return benchmark.poses_3d_world[frames]


# --------------------------------------------------------------------------------- grouped layers
class GroupedLinear(nn.Module):
    """``G`` independent linear layers applied in one batched product.

    ``(B, G, in_features)`` -> ``(B, G, out_features)``: ``y[:, g] = x[:, g] @ weight[g] + bias[g]``
    with ``weight (G, in_features, out_features)``, ``bias (G, out_features)``. ``init`` as the
    backbone's (:class:`~poselift.models.backbone.BackboneConfig`): "torch" draws weights and biases
    uniform in ``+-1/sqrt(in_features)`` (``nn.Linear``'s default), "kaiming" He-normal weights
    (``std = sqrt(2 / in_features)``) and zero biases. ``clip_norm``: Martinez et al.'s in-graph clip of
    each group's whole weight matrix to this Frobenius norm (the backbone's "matrix" max-norm mode).
    """

    def __init__(self, num_groups: int, in_features: int, out_features: int, init: str = "torch",
                 clip_norm: float | None = None):
        super().__init__()
        self.num_groups, self.in_features, self.out_features = num_groups, in_features, out_features
        self.clip_norm = clip_norm
        self.weight = nn.Parameter(torch.empty(num_groups, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(num_groups, out_features))
        with torch.no_grad():
            if init == "kaiming":
                self.weight.normal_(0.0, math.sqrt(2.0 / in_features))
            elif init == "torch":
                bound = 1.0 / math.sqrt(in_features)
                self.weight.uniform_(-bound, bound)
                self.bias.uniform_(-bound, bound)
            else:
                raise PoseliftError(f"init must be torch or kaiming, got {init!r}")

    def effective_weight(self) -> Tensor:
        """``(G, in, out)``: the weight the product uses (after the clip, if any)."""
        if self.clip_norm is None:
            return self.weight
        norm = self.weight.norm(dim=(1, 2), keepdim=True).clamp(min=self.clip_norm)
        return self.weight * (self.clip_norm / norm)

    def forward(self, features: Tensor) -> Tensor:
        return torch.matmul(features.transpose(0, 1), self.effective_weight()).transpose(0, 1) + self.bias

    @torch.no_grad()
    def apply_max_norm(self, max_norm: float) -> None:
        """Rescale each output unit's weights (``weight[g, :, o]``) to L2 norm <= ``max_norm``."""
        norm = self.weight.norm(dim=1, keepdim=True)
        self.weight.mul_(torch.where(norm > max_norm, max_norm / norm, torch.ones_like(norm)))

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}, in_features={self.in_features}, out_features={self.out_features}"


class GroupedDenseUnit(nn.Module):
    """``GroupedLinear -> [BatchNorm over G x width channels] -> activation -> [Dropout]``, ``(B, G, ·)``.
    Without ``batch_norm`` and ``dropout`` it is the backbone's "linear" input layer."""

    def __init__(self, num_groups: int, in_dim: int, out_dim: int, dropout: float, activation: str,
                 batch_norm: bool, init: str = "torch", clip_norm: float | None = None):
        super().__init__()
        self.linear = GroupedLinear(num_groups, in_dim, out_dim, init, clip_norm)
        self.batch_norm = nn.BatchNorm1d(num_groups * out_dim) if batch_norm else None
        self.activation = make_activation(activation)
        self.dropout = Dropout(dropout) if dropout > 0 else None

    def forward(self, features: Tensor) -> Tensor:
        features = self.linear(features)
        if self.batch_norm is not None:
            features = self.batch_norm(features.reshape(features.shape[0], -1)).view(features.shape)
        features = self.activation(features)
        return self.dropout(features) if self.dropout is not None else features


class GroupedResidualMLP(nn.Module):
    """``G`` Martinez residual MLPs side by side: input layer, ``num_blocks`` residual blocks, linear head.

    ``(B, G, in_dim)`` -> ``(B, G, out_dim)``; group ``g`` only ever sees its own slice (the layers
    share nothing across groups but the batched product). Options as
    :class:`~poselift.models.backbone.ResidualMLP`.
    """

    def __init__(self, num_groups: int, in_dim: int, out_dim: int, hidden: int = 1024, num_blocks: int = 2,
                 dropout: float = 0.5, activation: str = "leaky_relu", batch_norm: bool = True,
                 init: str = "torch", input_layer: str = "dense", max_norm: float | None = None,
                 max_norm_mode: str = "matrix"):
        super().__init__()
        clip_norm = max_norm if max_norm_mode == "matrix" else None
        unit = lambda a, b: GroupedDenseUnit(num_groups, a, b, dropout, activation, batch_norm,  # noqa: E731
                                             init, clip_norm)
        if input_layer == "dense":
            self.stem = unit(in_dim, hidden)
        else:
            self.stem = GroupedDenseUnit(num_groups, in_dim, hidden, 0.0, activation, False, init, clip_norm)
        self.blocks = nn.ModuleList(nn.Sequential(unit(hidden, hidden), unit(hidden, hidden))
                                    for _ in range(num_blocks))
        self.head = GroupedLinear(num_groups, hidden, out_dim, init, clip_norm)

    def forward(self, features: Tensor) -> Tensor:
        features = self.stem(features)
        for block in self.blocks:
            features = features + block(features)
        return self.head(features)


def aggregation_cost(solver: ConsensusSolver, partial_poses: Tensor) -> Tensor:
    """Eq. (12) in the Frobenius form, per pose: ``(B,)`` = ``sum_j ||X|g_j W_j - Xhat_j||_F^2``.

    ``X`` is the least-squares consensus of ``partial_poses (B, G, n, 3)`` (centred per group), so
    this is the minimum of the least-squares aggregation problem (0 when the partial poses agree
    with one whole pose). Units: the square of the partial poses' unit. Differentiable.
    """
    return solver.least_squares_residual(partial_poses).square().sum(dim=(1, 2, 3))


# ------------------------------------------------------------------------------------- the model
class ConsensusLifter(FrameLifting, LiftingModel):
    """2D keypoints -> root-relative 3D pose by a consensus of partial-pose lifters.

    ``forward(encoded_2d (B, 2J)) -> partial poses (B, G, n_g, 3)`` mm, camera frame, each centred
    over its group; :meth:`lift` takes pixels and returns the aggregated whole pose in mm.
    """

    kind = "consensus"
    layout = "h36m17"

    def __init__(self, config: ConsensusConfig | None = None):
        super().__init__()
        config = config if config is not None else ConsensusConfig()
        if config.groups is None:
            if config.group_selection != "random":
                raise PoseliftError("consensus model: the config has no joint groups; "
                                    "ConsensusLifter.prepare_config(config, train_source) draws them from the "
                                    "training trajectories (poselift train does), or pass groups=...")
            config = self.prepare_config(config, None)
        self.config = config
        self.root_index = root = H36M17.root_index
        self.normalizer = PoseNormalizer(config.num_joints, root_index=root,
                                         input_normalization=config.input_normalization)
        self.solver = ConsensusSolver(config.groups, config.num_joints, root, config.admm_max_iterations,
                                      config.admm_tolerance, config.admm_rho, config.admm_relaxation)
        num_groups, group_size = self.solver.num_groups, self.solver.group_size
        self.network = GroupedResidualMLP(num_groups, 2 * group_size, 3 * group_size, **config.backbone_options())

    @classmethod
    def prepare_config(cls, config: ConsensusConfig, train_source, epochs: int | None = None) -> ConsensusConfig:
        """The config with ``groups`` drawn (section 4.1), unless it already has them (``epochs`` unused).

        "learned" selection reads the 3D trajectories of ``train_source``'s frames
        (:func:`training_poses_3d`); "random" needs no data (``train_source`` may be None).
        """
        if config.groups is not None:
            return config
        similarity = None
        if config.group_selection == "learned":
            similarity = trajectory_similarity(training_poses_3d(train_source))
        groups = select_joint_groups(similarity, config.num_joints, config.group_size, config.min_groups_per_joint,
                                     config.group_lambda, config.group_seed, config.num_groups)
        return replace(config, groups=groups)

    @property
    def group_index(self) -> Tensor:
        """``(G, n_g)`` long: the joints of each group."""
        return self.solver.group_index

    def _pose_statistics(self) -> tuple[Tensor, Tensor]:
        """Mean and std ``(J, 3)`` mm of the root-relative training poses (root: 0 and 0)."""
        joints = self.config.num_joints
        mean = insert_root(self.normalizer.mean_3d.view(joints - 1, 3), self.root_index)
        std = insert_root(self.normalizer.std_3d.view(joints - 1, 3), self.root_index)
        return mean, std

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, G, n_g, 3)`` partial poses, mm, root-relative (each centred
        over its group with ``lifting_target="centred"``)."""
        batch, group_index = encoded_2d.shape[0], self.group_index
        group_inputs = encoded_2d.view(batch, self.config.num_joints, 2)[:, group_index].flatten(2)
        encoded_3d = self.network(group_inputs).view(batch, *group_index.shape, 3)
        mean, std = self._pose_statistics()
        partial = mean[group_index] + std[group_index] * encoded_3d
        if self.config.lifting_target == "centred":
            return partial - partial.mean(dim=2, keepdim=True)
        return partial

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``L_lifting + aggregation_weight * L_aggre`` on a batch (``keypoints_2d``, ``confidence``, ``poses_3d``).

        Returns ``loss``, ``lifting`` and ``aggre`` (unit-free: sums of squares over ``3 G n_g``
        coordinates divided by that count and by the training variance of the 3D coordinates, see
        the module docstring; means over frames whose root is visible) and ``mpjpe_mm`` (no
        gradient) of the aggregated pose: in eval mode (validation, best-checkpoint choice) with the
        configured aggregation, as :meth:`lift`; in training mode with the least-squares consensus,
        a cheap progress indicator (no ADMM iterations in the training step).
        """
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch["keypoints_2d"], batch.get("confidence"))
        partial = self(encoded_2d)
        poses_3d = batch["poses_3d"].to(partial)
        target = poses_3d[:, self.group_index] - poses_3d[:, None, self.root_index:self.root_index + 1]
        centred_target = target - target.mean(dim=2, keepdim=True)
        normaliser = partial[0].numel() * self.normalizer.std_3d.square().mean()
        lifting_target = centred_target if self.config.lifting_target == "centred" else target
        lifting = masked_mean((partial - lifting_target).square().sum(dim=(1, 2, 3)) / normaliser, frame_valid)
        if self.config.aggregation_target == "ground_truth":
            centred_partial = partial - partial.mean(dim=2, keepdim=True)
            cost = (centred_partial - centred_target).square().sum(dim=(1, 2, 3))
        else:
            cost = aggregation_cost(self.solver, partial)
        aggre = masked_mean(cost / normaliser, frame_valid)
        loss = lifting + self.config.aggregation_weight * aggre
        with torch.no_grad():   # training: the cheap least-squares consensus; evaluation: the configured one
            norm = "l2" if self.training else self.config.aggregation
            whole = self.solver.aggregate(partial.detach(), norm).poses_3d
            mpjpe_mm = masked_mean(frame_mpjpe_mm(whole, poses_3d), frame_valid)
        return {"loss": loss, "lifting": lifting.detach(), "aggre": aggre.detach(), "mpjpe_mm": mpjpe_mm}

    def lift_encoded(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, J, 3)`` mm: the partial poses aggregated with
        ``config.aggregation`` (what :meth:`lift` returns, root-relative, camera frame)."""
        return self.solver.aggregate(self(encoded_2d), self.config.aggregation).poses_3d
