"""Li et al. (AAAI 2020), "Geometry-driven self-supervised method for 3D human pose estimation".

Method: trained from synchronised 2D poses of calibrated cameras (+ their confidences) only; no 3D
label ever enters the loss.

- lifting branch: the Martinez residual MLP with four residual blocks, z-scored 2D ``(B, 2J)`` ->
  root-relative 3D ``Y`` (camera frame, mm). It is the only branch used to lift at test time.
- position branch: the same architecture, separate weights, predicts the root's camera-frame
  position ``r``; the global pose is ``Y~ = Y + r``. We write ``r`` in ray coordinates,
  ``r = z (n_root + d, 1)`` with ``n_root`` the undistorted normalised image position of the detected
  root, ``d`` a learned 2-vector offset (scaled by ``ray_offset_scale``) and
  ``z = initial_depth * exp(log_depth_per_unit * .)`` the learned depth: any point in front of the
  camera is reachable, the depth can never turn negative, a step changes it by a fraction of itself,
  and an untrained branch already puts the root on its ray at a typical camera distance (the paper
  does not say how it parametrises ``r``).
- Eq. (1): perspective projection ``rho`` through the view's full camera model (intrinsics and OpenCV
  distortion, :func:`poselift.camera.project_points`), guarded against overflow far outside the image
  (:func:`reproject`).
- Eq. (2): ``L_reproj = sum_i w_i^v1 ||X_i^v1 - rho(Y~_i^v1)||^2 + (same for v2)``.
- Eqs. (3)-(4): ``tau(Y~^v1) = R_1to2 (Y~^v1 - t_1to2)``, ``R_1to2 = R2 R1^T``, ``t_1to2 = R1 (c2 - c1)``
  (camera centres ``c`` in the world), i.e. to the world with camera 1 and back with camera 2.
- Eq. (5): ``L_t-reproj = sum_i w_i^v1 ||X_i^v2 - rho(tau(Y~_i^v1))||^2 + w_i^v2 ||X_i^v1 - rho(tau(Y~_i^v2))||^2``.
- Eq. (6), pre-training (``pretrain_epochs``, paper 20 of 320 epochs): ``L_pre = sum_i ||tau(Y~_i^v1) - Y~_i^v2||^2 + ||tau(Y~_i^v2) - Y~_i^v1||^2``,
  computed split into shape and root parts (:func:`split_disagreement`: same zeros, no shortcut
  for the lifting branch to cover a misplaced root).
- Eq. (7), afterwards: ``L_T = L_reproj + lambda L_t-reproj`` (``transform_weight``); with
  ``reprojection="plain"`` only ``L_reproj`` (the paper's "Reproj" row, which collapses).

Sums over joints are divided by J (a constant, so a joint of confidence 0 adds nothing and the others
are not re-weighted); frames are averaged. Units: px^2 for the re-projection terms, mm^2 for ``L_pre``.

The stage follows the number of training views seen (buffer ``views_seen``, saved in checkpoints, so
a resumed run continues in the right stage); ``prepare_config`` stores the epoch size it needs.

Data: :class:`MultiViewSource` gives the same frame seen by two cameras with 2D, confidences and
camera parameters only (no 3D key exists in its batches, and :meth:`SelfSupervisedLifter.loss` raises
if one is present). Augmentation (``virtual`` cameras, paper: 8 virtual views, 4 -> 12): a frame's 2D
in a virtual camera is the projection of the frame TRIANGULATED from the real views' 2D, so the
augmentation, too, needs no 3D ground truth (the paper projects the dataset's 3D poses instead).
Validation on single frames with 3D (:meth:`SelfSupervisedLifter.validation_terms`) only reports the
error without gradients.

Choices the paper does not spell out, each measured against its alternative in ``docs/selfsup.md``
(``benchmarks/selfsup_accuracy.py --sections stability warmup``): the learning rate warmed up from 0
when Eq. (7) starts, no dropout, the root depth in log units from a typical camera distance, a 1 m
depth floor in the re-projection, and one Adam through both stages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from poselift.camera import Camera, project_points, to_camera_frame, to_world_frame, undistort_pixels, virtual_rig
from poselift.encoding import TwoDimensionalNormalizer
from poselift.errors import PoseliftError
from poselift.models.backbone import BackboneConfig, FrameLifting, ResidualMLP, frame_mpjpe_mm, masked_mean
from poselift.models.base import LiftingModel
from poselift.skeleton import H36M17

REPROJECTIONS = ("transform", "plain")
DEPTHS = ("log", "softplus")
BOUNDS = ("soft", "hard")
# batch keys that carry 3D ground truth: a self-supervised training batch must hold none of them
GROUND_TRUTH_PREFIXES = ("poses_3d", "root_3d")
VIEW_KEYS = ("keypoints_2d", "confidence", "rotation", "position", "focal", "principal", "radial", "tangential")
PAPER_VIRTUAL_STEP_DEG = 120.0   # two virtual cameras per real one: 4 + 8 = 12 views
MAX_RAY_SLOPE = 2.0              # |x / z| bound of the re-projection loss: 63 degrees off the optical axis


@dataclass
class SelfSupConfig(BackboneConfig):
    """Hyper-parameters (defaults = the paper where it gives them).

    num_blocks: residual blocks of each branch (paper: 4). hidden_size: the Martinez value.
    dropout: 0, not Martinez's 0.5: with dropout in the position branch the root depth of a view is
        noisy from step to step, and in the Eq. (7) stage the roots then drift towards the camera
        while the poses grow (docs/selfsup.md, "What made it converge").
    transform_weight: lambda of Eq. (7); the paper sets it per dataset without giving it: 1.
    reprojection: "transform" (Eq. 7) or "plain" (L_reproj alone, the paper's collapsing baseline).
    pretrain_epochs: epochs of L_pre (Eq. 6) before Eq. (7). The paper pre-trains 20 of its 320 epochs
        (1/16); the default 1.25 is 1/16 of ``poselift train``'s 20 epochs (a run whose pre-training
        does not end before its last epoch is refused: it would never reach Eq. 7).
    samples_per_epoch: training samples per epoch, filled in by :meth:`SelfSupervisedLifter.prepare_config`
        from the training source (0 = not yet known; a model with pre-training refuses to train then).
        The stage switches after ``pretrain_epochs * samples_per_epoch`` training views; the loop drops
        each epoch's incomplete last batch, so the switch comes at most one batch per epoch late.
    output_scale_mm: the lifting branch's output unit (mm per unit of network output): no 3D statistics
        can be fitted without 3D data, so the decoded pose is ``output * output_scale_mm``.
    depth: the position branch's depth parametrisation, ``"log"``: ``initial_depth_mm *
        exp(log_depth_per_unit * output)``, so an untrained branch starts at a typical camera distance
        and a unit of output moves the depth by a fixed fraction (0.1: 10 %, ~500 mm at 5 m); or
        ``"softplus"``: ``min_depth_mm + depth_scale_mm * softplus(output)`` (an untrained branch starts
        at ~1.35 m and must grow its output to ~8 to reach 5 m; compared in
        ``benchmarks/selfsup_accuracy.py --sections stability``).
    initial_depth_mm, log_depth_per_unit: of ``"log"``; the H36M cameras stand ~5 m from the capture
        volume (a fact of the calibration, not of any 3D label).
    depth_scale_mm: of ``"softplus"``: mm of depth per unit of output.
    min_depth_mm: the re-projection clamps depths here (:func:`reproject`; also the ``"softplus"`` floor):
        1 m, not a token 100 mm, so a joint near a camera moves its pixel by at most ``f / 1 m`` (~1 px)
        per mm instead of ~11. A guard, not a cure: without the warm-up below, runs diverged with
        either floor (``benchmarks/selfsup_trace.py``); with it, no joint comes within 1 m on the
        benchmark and a 100 mm floor gives the identical run. Nobody stands within 1 m of these
        cameras (the rig's 5 m; the Pose2Sim videos' nearest joint is 2.4 m away).
    reprojection_bound: "soft" (the re-projection's depth floor and ray-slope bound continue smoothly,
        keeping a gradient back: :func:`reproject`) or "hard" (clamped, zero gradient beyond them;
        poselift's first guard).
    ray_offset_scale: the position branch's offset from the detected root's ray is this times its
        output (normalised image units): an untrained branch starts on the ray instead of up to a
        metre beside it, which made the depths collapse to ``min_depth`` in the first steps.
    max_norm: None (the paper uses none); init, input_layer, max_norm_mode: the backbone's.
    restart_optimizer: start a fresh Adam when the stage switches (:attr:`SelfSupervisedLifter.training_stage`),
        as two separate trainings would. Off by default: one Adam trained on every seed and input
        of the benchmark. With it, the second moments of the pre-training loss (mm^2, gradients
        10-100 times Eq. 7's) no longer shrink Eq. (7)'s steps, and learning is much faster (73
        against 111 mm P#1, ``gt``, seed 0), but a ``noisy`` run diverged even with the warm-up
        (docs/selfsup.md).
    warmup_epochs: epochs at the start of Eq. (7) over which the learning rate rises linearly from 0
        (:attr:`SelfSupervisedLifter.learning_rate_factor`; 0 = none). The pre-trained poses are small
        and Eq. (7) grows them fourfold; at the full rate, ~10 steps into Eq. (7) a gradient spike
        (100-500 times the norm before) sent a joint behind the camera and the poses to metres, for
        good (benchmark, ``gt`` and ``noisy``, traced with ``benchmarks/selfsup_trace.py``).
    input_normalization: "image" (z-scored pixels, as the paper) or "pose".
    """

    num_joints: int = 17
    num_blocks: int = 4
    dropout: float = 0.0
    transform_weight: float = 1.0
    reprojection: str = "transform"
    pretrain_epochs: float = 1.25
    samples_per_epoch: int = 0
    output_scale_mm: float = 200.0
    depth: str = "log"
    initial_depth_mm: float = 5000.0
    log_depth_per_unit: float = 0.1
    depth_scale_mm: float = 500.0
    ray_offset_scale: float = 0.01
    min_depth_mm: float = 1000.0
    reprojection_bound: str = "soft"
    max_norm: float | None = None
    input_normalization: str = "image"
    restart_optimizer: bool = False
    warmup_epochs: float = 0.1


# ----------------------------------------------------------------------------------------------
# geometry of the losses
# ----------------------------------------------------------------------------------------------


def transform_between_views(points_cam_1: Tensor, rotation_1: Tensor, position_1: Tensor, rotation_2: Tensor,
                            position_2: Tensor) -> Tensor:
    """Eq. (3)-(4), ``tau``: camera-1 points seen from camera 2, ``R2 R1^T (x - R1 (c2 - c1))``.

    Args:
        points_cam_1: ``(B, J, 3)`` mm, camera-1 frame (global, not root-relative).
        rotation_1, rotation_2: ``(B, 3, 3)`` world -> camera rotations; position_1, position_2:
            ``(B, 3)`` camera centres in the world, mm.
    Returns:
        ``(B, J, 3)`` mm, camera-2 frame.
    """
    return to_camera_frame(to_world_frame(points_cam_1, rotation_1, position_1), rotation_2, position_2)


def relative_transform(rotation_1: Tensor, position_1: Tensor, rotation_2: Tensor,
                       position_2: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. (4): ``(R_1to2 (..., 3, 3), t_1to2 (..., 3) mm)`` with ``tau(x) = R_1to2 (x - t_1to2)``;
    ``t_1to2`` is camera 2's centre in camera 1's frame."""
    rotation_1to2 = rotation_2 @ rotation_1.transpose(-1, -2)
    translation_1to2 = (rotation_1 @ (position_2 - position_1).unsqueeze(-1)).squeeze(-1)
    return rotation_1to2, translation_1to2


def soft_floor(values: Tensor, floor: float) -> Tensor:
    """``values`` where ``>= floor``; below it ``floor * exp((values - floor) / floor)``: continuous with
    slope 1 at the floor, always positive, and with a gradient that points back up everywhere."""
    return torch.where(values >= floor, values, floor * torch.exp((values.clamp(max=floor) - floor) / floor))


def soft_limit(values: Tensor, limit: float) -> Tensor:
    """``values`` where ``|values| <= limit``; beyond, ``sign * (limit + log(1 + |values| - limit))``:
    continuous with slope 1 at the limit, growing ever more slowly, with a gradient that never vanishes."""
    excess = (values.abs() - limit).clamp(min=0.0)
    return torch.where(excess > 0, values.sign() * (limit + torch.log1p(excess)), values)


def reproject(points_cam: Tensor, view: dict[str, Tensor], min_depth_mm: float, bound: str = "soft") -> Tensor:
    """Eq. (1), ``rho``: ``(B, J, 3)`` mm camera frame -> ``(B, J, 2)`` px through the view's camera
    (``focal``, ``principal``, ``radial``, ``tangential`` of ``(B, ...)``).

    Guarded for the loss: depths are bounded below by ``min_depth_mm`` (a point behind the camera cannot
    give an infinite pixel) and the ray slopes ``x / z``, ``y / z`` by :data:`MAX_RAY_SLOPE` (far
    outside any image, where the distortion polynomial would otherwise overflow float32 for a badly
    placed pose early in training). Points inside those bounds project exactly. ``bound="soft"``
    continues smoothly beyond them (:func:`soft_floor`, :func:`soft_limit`), so a joint pushed past
    a bound still gets a gradient that brings it back; ``"hard"`` clamps, with zero gradient beyond
    (poselift's first guard, which an audit found could strand a joint there).
    """
    if bound == "hard":
        depth = points_cam[..., 2:].clamp(min=min_depth_mm)
        slopes = (points_cam[..., :2] / depth).clamp(-MAX_RAY_SLOPE, MAX_RAY_SLOPE)
    else:
        depth = soft_floor(points_cam[..., 2:], min_depth_mm)
        slopes = soft_limit(points_cam[..., :2] / depth, MAX_RAY_SLOPE)
    return project_points(torch.cat([slopes * depth, depth], dim=-1), view["focal"], view["principal"],
                          view["radial"], view["tangential"])


def weighted_reprojection_error(keypoints_2d: Tensor, confidence: Tensor, projected_2d: Tensor) -> Tensor:
    """``sum_i w_i ||X_i - x_i||^2 / J`` per frame, ``(B,)`` px^2, for ``(B, J, 2)`` px keypoints with
    ``(B, J)`` confidences. A joint of confidence 0 (its keypoint may be NaN) contributes nothing."""
    used = confidence > 0
    difference = torch.where(used[..., None], keypoints_2d - projected_2d, torch.zeros_like(projected_2d))
    weight = torch.where(used, confidence, torch.zeros_like(confidence))
    return (weight * difference.square().sum(dim=-1)).mean(dim=-1)


def pose_disagreement(points_a: Tensor, points_b: Tensor) -> Tensor:
    """``sum_i ||a_i - b_i||^2 / J`` per frame, ``(B,)`` mm^2, of two ``(B, J, 3)`` poses."""
    return (points_a - points_b).square().sum(dim=-1).mean(dim=-1)


def geometric_terms(pose_1: Tensor, pose_2: Tensor, view_1: dict[str, Tensor], view_2: dict[str, Tensor],
                    min_depth_mm: float, root_index: int = H36M17.root_index, bound: str = "soft") -> dict[str, Tensor]:
    """Eqs. (2), (5) and (6) per pair for global poses ``(B, J, 3)`` mm in each view's camera frame.

    Returns ``pretrain`` (Eq. 6, mm^2), ``reproj`` (Eq. 2, px^2) and ``t_reproj`` (Eq. 5, px^2), each
    ``(B,)``. Views are the dicts of :func:`view_of`. A joint missing in the target view (confidence 0)
    is left out of the transform re-projection too. ``min_depth_mm``, ``bound``: :func:`reproject`'s guards.
    """
    def rho(points: Tensor, view: dict[str, Tensor]) -> Tensor:
        return reproject(points, view, min_depth_mm, bound)

    pose_1_in_2 = transform_between_views(pose_1, view_1["rotation"], view_1["position"], view_2["rotation"],
                                          view_2["position"])
    pose_2_in_1 = transform_between_views(pose_2, view_2["rotation"], view_2["position"], view_1["rotation"],
                                          view_1["position"])
    confidence_1, confidence_2 = view_1["confidence"], view_2["confidence"]
    reproj = (weighted_reprojection_error(view_1["keypoints_2d"], confidence_1, rho(pose_1, view_1))
              + weighted_reprojection_error(view_2["keypoints_2d"], confidence_2, rho(pose_2, view_2)))
    # Eq. (5): view 1's prediction is checked against view 2's 2D, weighted by view 1's confidence
    t_reproj = (weighted_reprojection_error(view_2["keypoints_2d"], confidence_1 * (confidence_2 > 0),
                                            rho(pose_1_in_2, view_2))
                + weighted_reprojection_error(view_1["keypoints_2d"], confidence_2 * (confidence_1 > 0),
                                              rho(pose_2_in_1, view_1)))
    pretrain = (split_disagreement(pose_1_in_2, pose_2, root_index)
                + split_disagreement(pose_2_in_1, pose_1, root_index))
    return {"pretrain": pretrain, "reproj": reproj, "t_reproj": t_reproj}


def split_disagreement(moved: Tensor, target: Tensor, root_index: int) -> Tensor:
    """Eq. (6)'s disagreement of two global poses ``(B, J, 3)`` mm, split into its two causes: the
    root-relative shapes (``sum_i ||a_i||^2 / J``) plus the roots (``||b||^2``), ``(B,)`` mm^2.

    With ``a_i + b`` the error of joint i (``a`` the shape part, ``a_root = 0``; ``b`` the roots'
    difference), Eq. (6) as printed is ``sum_i ||a_i + b||^2 / J``; its cross term lets the lifting
    branch shift every joint but the root to cover a misplaced root, and on the benchmark it does:
    within 20 steps the roots sink to the minimum depth and the poses grow to metres. The split form
    has the same zeros (consistent shapes and roots) and the same value for poses that differ by a
    translation only.
    """
    moved_root, target_root = moved[:, root_index:root_index + 1], target[:, root_index:root_index + 1]
    shape = pose_disagreement(moved - moved_root, target - target_root)
    return shape + (moved_root - target_root).square().sum(dim=-1).squeeze(-1)


def view_of(batch: dict[str, Tensor], suffix: str) -> dict[str, Tensor]:
    """The keys of one view (suffix ``_1`` / ``_2``) of a multi-view batch, without the suffix."""
    missing = [f"{key}{suffix}" for key in VIEW_KEYS if f"{key}{suffix}" not in batch]
    if missing:
        raise PoseliftError(f"multi-view batch: missing key(s) {', '.join(missing)}")
    return {key: batch[f"{key}{suffix}"] for key in VIEW_KEYS}


def refuse_ground_truth(batch: dict[str, Tensor]) -> None:
    """Raise if a training batch carries any 3D ground-truth key."""
    found = sorted(key for key in batch if key.startswith(GROUND_TRUTH_PREFIXES))
    if found:
        raise PoseliftError(f"self-supervised training batch carries 3D ground truth ({', '.join(found)}); "
                            "train on a 2D-only source (MultiViewSource)")


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------


class SelfSupervisedLifter(FrameLifting, LiftingModel):
    """Two-branch lifter trained by multi-view geometry only.

    ``forward(encoded_2d (B, 2J)) -> (B, 3(J-1))`` is the lifting branch (output in units of
    ``output_scale_mm``); :meth:`lift` (from :class:`FrameLifting`) takes pixels and returns
    ``(..., J, 3)`` mm, camera frame, root-relative. :meth:`global_pose` adds the position branch.
    """

    kind = "selfsup"
    layout = "h36m17"
    source_kind = "views"

    def __init__(self, config: SelfSupConfig | None = None):
        super().__init__()
        self.config = config if config is not None else SelfSupConfig()
        cfg = self.config
        if cfg.reprojection not in REPROJECTIONS:
            raise PoseliftError(f"reprojection must be one of {', '.join(REPROJECTIONS)}, got {cfg.reprojection!r}")
        if cfg.depth not in DEPTHS:
            raise PoseliftError(f"depth must be one of {', '.join(DEPTHS)}, got {cfg.depth!r}")
        if cfg.reprojection_bound not in BOUNDS:
            raise PoseliftError(f"reprojection_bound must be one of {', '.join(BOUNDS)}, got {cfg.reprojection_bound!r}")
        self.normalizer = TwoDimensionalNormalizer(cfg.num_joints, cfg.input_normalization, cfg.output_scale_mm)
        shared = cfg.backbone_options()
        self.network = ResidualMLP(self.normalizer.input_dim, self.normalizer.output_dim, **shared)
        self.position_network = ResidualMLP(self.normalizer.input_dim, 3, **shared)
        self.register_buffer("views_seen", torch.tensor(0, dtype=torch.long))

    @classmethod
    def prepare_config(cls, config: SelfSupConfig, train_source, epochs: int | None = None) -> SelfSupConfig:
        """The config with ``samples_per_epoch`` set from the training source (for the pre-training stage);
        refused when ``pretrain_epochs`` fills all of the run's ``epochs``."""
        if epochs is not None and config.pretrain_epochs >= epochs:
            raise PoseliftError(f"selfsup: pretrain_epochs={config.pretrain_epochs:g} of {epochs} epochs leaves no "
                                "epoch for Eq. (7); lower pretrain_epochs (--set pretrain_epochs=...) or raise --epochs")
        return replace(config, samples_per_epoch=len(train_source))

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """Lifting branch: ``(B, 2J)`` encoded 2D -> ``(B, 3(J-1))`` encoded root-relative 3D."""
        return self.network(encoded_2d)

    # ------------------------------------------------------------------------------- branches
    def root_position(self, encoded_2d: Tensor, keypoints_2d: Tensor, view: dict[str, Tensor]) -> Tensor:
        """Position branch: the root's camera-frame position ``(B, 3)`` mm, ``z (n_root + d, 1)``.

        Args:
            encoded_2d: ``(B, 2J)``. keypoints_2d: ``(B, J, 2)`` px with finite roots (invalid frames
                cleaned by the caller). view: the camera keys of :func:`view_of`.
        """
        raw = self.position_network(encoded_2d)
        cfg = self.config
        root_px = keypoints_2d[:, self.normalizer._root].unsqueeze(1)                        # (B, 1, 2)
        ray = undistort_pixels(root_px, view["focal"], view["principal"], view["radial"], view["tangential"])[:, 0]
        if cfg.depth == "log":
            depth = cfg.initial_depth_mm * torch.exp(cfg.log_depth_per_unit * raw[:, 2:])
        else:
            depth = cfg.min_depth_mm + cfg.depth_scale_mm * nn.functional.softplus(raw[:, 2:])
        return torch.cat([(ray + cfg.ray_offset_scale * raw[:, :2]) * depth, depth], dim=-1)

    def global_pose(self, view: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``Y~ = Y + r`` of one view: ``(pose (B, J, 3) mm camera frame, relative (B, J, 3) mm
        root-relative, frame_valid (B,))``; frames whose root is missing are computed from a cleaned
        input (finite everywhere) and flagged invalid."""
        keypoints, confidence = view["keypoints_2d"], view["confidence"]
        encoded_2d, frame_valid = self.normalizer.encode_2d(keypoints, confidence)
        # a frame without a root gets the principal point as its root, only so that nothing turns NaN
        usable = torch.isfinite(keypoints).all(dim=-1) & (confidence > 0)
        cleaned = torch.where(usable[..., None], keypoints, view["principal"][:, None, :].to(keypoints))
        relative = self.normalizer.decode_3d(self(encoded_2d))
        return relative + self.root_position(encoded_2d, cleaned, view)[:, None, :], relative, frame_valid

    # ------------------------------------------------------------------------------- losses
    @property
    def pretraining(self) -> bool:
        """True while the model is in its L_pre stage (``views_seen`` below the pre-training length)."""
        length = self.config.pretrain_epochs * self.config.samples_per_epoch
        return int(self.views_seen) < length

    @property
    def learning_rate_factor(self) -> float:
        """The training loop's learning rate is multiplied by this: during the first ``warmup_epochs``
        of Eq. (7) it rises linearly from 0 to 1 with the views seen since the switch, then stays 1."""
        cfg = self.config
        warmup = cfg.warmup_epochs * cfg.samples_per_epoch
        since_switch = int(self.views_seen) - cfg.pretrain_epochs * cfg.samples_per_epoch
        if warmup <= 0 or not 0 <= since_switch < warmup:
            return 1.0
        return since_switch / warmup

    @property
    def training_stage(self) -> str | None:
        """``"pretraining"`` (Eq. 6) or ``"main"`` (Eq. 7); the training loop starts a fresh Adam when it
        changes, with ``restart_optimizer`` (None without: one Adam throughout)."""
        if not self.config.restart_optimizer:
            return None
        return "pretraining" if self.pretraining else "main"

    def loss_terms(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every term on a multi-view batch, per pair: ``pretrain`` (Eq. 6, mm^2), ``reproj`` (Eq. 2, px^2),
        ``t_reproj`` (Eq. 5, px^2), each ``(B,)``, and ``valid`` ``(B,)`` (roots seen in both views)."""
        refuse_ground_truth(batch)
        view_1, view_2 = view_of(batch, "_1"), view_of(batch, "_2")
        pose_1, _, valid_1 = self.global_pose(view_1)
        pose_2, _, valid_2 = self.global_pose(view_2)
        terms = geometric_terms(pose_1, pose_2, view_1, view_2, self.config.min_depth_mm, self.normalizer._root,
                                self.config.reprojection_bound)
        return {**terms, "valid": valid_1 & valid_2}

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss of a multi-view batch (keys of :class:`MultiViewSource`; 3D keys are refused).

        Returns ``loss`` (Eq. 6 while pre-training, then Eq. 7, or L_reproj alone for "plain"),
        ``pretrain``, ``reproj``, ``t_reproj`` (frame means, unweighted) and ``pretraining`` (1 or 0).
        A single-frame batch (``keypoints_2d`` without suffix, validation) goes to
        :meth:`validation_terms` instead, which only runs without gradients.
        """
        if "keypoints_2d" in batch:
            return self.validation_terms(batch)
        cfg = self.config
        training = self.training and torch.is_grad_enabled()
        if training and cfg.pretrain_epochs > 0 and cfg.samples_per_epoch <= 0:
            raise PoseliftError("selfsup: samples_per_epoch is unknown, so the pre-training stage has no length; "
                                "build the config with SelfSupervisedLifter.prepare_config(config, train_source)")
        terms = self.loss_terms(batch)
        valid = terms.pop("valid")
        means = {name: masked_mean(value, valid) for name, value in terms.items()}
        pretraining = self.pretraining
        if pretraining:
            loss = means["pretrain"]
        elif cfg.reprojection == "plain":
            loss = means["reproj"]
        else:
            loss = means["reproj"] + cfg.transform_weight * means["t_reproj"]
        if training:
            self.views_seen += valid.shape[0]
        return {"loss": loss, **means, "pretraining": torch.tensor(float(pretraining), device=loss.device)}

    @torch.no_grad()
    def validation_terms(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Report only: ``mpjpe_mm`` of the lifting branch on single frames with 3D (``keypoints_2d``,
        ``confidence``, ``poses_3d``). Refused while gradients are on, so 3D can never train the model."""
        if torch.is_grad_enabled() or self.training:
            raise PoseliftError("selfsup: 3D ground truth is read only to report validation errors "
                                "(eval mode, no gradients), never to train")
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch["keypoints_2d"], batch.get("confidence"))
        predicted = self.normalizer.decode_3d(self(encoded_2d))
        error_mm = frame_mpjpe_mm(predicted, batch["poses_3d"].to(predicted))
        mpjpe_mm = masked_mean(torch.nan_to_num(error_mm), frame_valid)
        return {"loss": mpjpe_mm, "mpjpe_mm": mpjpe_mm}


# ----------------------------------------------------------------------------------------------
# the paper's augmentation (its training pairs: poselift.data.datasets.MultiViewSource)
# ----------------------------------------------------------------------------------------------


def paper_virtual_cameras(cameras: list[Camera], exclude_near: list[Camera] | None = None) -> list[Camera]:
    """The paper's augmentation: two virtual cameras per real one, turned by 120 and 240 degrees
    about the vertical axis (4 real cameras -> 12 views)."""
    return virtual_rig(cameras, step_deg=PAPER_VIRTUAL_STEP_DEG, exclude_near=exclude_near)


__all__ = [
    "SelfSupConfig", "SelfSupervisedLifter",
    "paper_virtual_cameras", "transform_between_views", "relative_transform", "reproject",
    "weighted_reprojection_error", "pose_disagreement", "geometric_terms", "refuse_ground_truth",
]
