"""Levy and Shrivastava, "V-VIPE: Variational View Invariant Pose Embedding" (2024).

Two models, trained one after the other by the shared loop (``poselift train vvipe_vae``, then
``poselift train vvipe --set pose_vae_checkpoint=RUN/last.pt``):

- §3.1 pre-processing (:func:`normalize_pose_3d`): every 3D pose is rotated into its own body frame
  by the Kabsch rotation that puts the hips on the y axis and the spine on z
  (:func:`poselift.geometry.canonicalize`; our frame has the LEFT hip on +y, the paper's on -y, a
  fixed rotation that changes nothing), centred on the pelvis and divided by its size (the RMS
  distance of the joints from the pelvis), so a pose is compared without its global rotation or
  the person's size. Normalised poses are unit-free; "0.1" below is in these units (about 54 mm
  for the benchmark's mean size of 536 mm).
- §3.2 stage 1, :class:`PoseVae` (kind ``vvipe_vae``): a VAE of normalised 3D poses. Encoder and
  decoder are each the Martinez backbone (:class:`~poselift.models.baseline.ResidualMLP`) with 2
  blocks, width 1024, dropout 0.1; the encoder gives the mean and log-variance of a 32-d latent.
  Eq. (2): ``L = L_mse + L_KL + L_triplet`` with the reconstruction error per joint, the KL
  divergence to N(0, I) (:func:`kl_divergence`; weighted 0.01 here, see :class:`PoseVaeConfig`) and
  a batch-hard triplet loss on the latent means (:func:`batch_hard_triplet_loss`, margin 1.0,
  negatives at least 0.1 further than the positive).
- §3.3 stage 2, :class:`VvipeLifter` (kind ``vvipe``): a new encoder from 2D keypoints to the latent
  (same backbone), decoded by the FROZEN stage-1 decoder; ``L = MSE(decoded 3D) + L_triplet`` where
  the triplets are mined from the ground-truth 3D. §4.4 camera augmentation: half of every training
  batch is replaced by the ground-truth 3D turned to a random view and projected again
  (:func:`random_view_rotation`). The stage-1 VAE (encoder and decoder, frozen) is stored inside
  the stage-2 checkpoint, so one file embeds 2D keypoints (:meth:`VvipeLifter.embed`) and 3D poses
  (:meth:`VvipeLifter.embed_3d`), lifts (:meth:`VvipeLifter.lift`) and generates
  (:meth:`VvipeLifter.decode_latent` of ``z + a * noise``, :mod:`poselift.generation`).

Outputs in millimetres are poses in the CANONICAL body frame (x forward, y to the person's left,
z up, pelvis at the origin) at the mean body size of the training poses: a monocular embedding has
no camera rotation or person size to give back. ``poselift eval`` (:func:`poselift.evaluate.evaluate`)
and the V-VIPE benchmark (``benchmarks/vvipe_accuracy.py``) therefore measure MPJPE against the
canonicalised ground truth (``output_frame = "canonical"``); it still counts the person's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from poselift.camera import project_points
from poselift.data.noise import DetectorNoiseConfig, simulate_detector
from poselift.encoding import CanonicalPoseNormalizer, PoseNormalizer, insert_root, normalize_pose_3d, split_root
from poselift.errors import PoseliftError, ShapeError
from poselift.geometry import axis_angle_to_matrix, canonicalize, rotation_about_z
from poselift.models.backbone import (
    BackboneConfig,
    ClippedLinear,
    FrameLifting,
    ResidualMLP,
    eval_mode,
    frame_mpjpe_mm,
    map_in_chunks,
    masked_mean,
)
from poselift.models.base import LiftingModel
from poselift.skeleton import H36M17

# Pinhole used to film the augmented views (the H36M rig's focal length and a 1000 px image); the
# "pose" 2D normalisation removes focal length and position, so these only set the noise's scale.
_AUGMENT_FOCAL_PX = 1145.0
_AUGMENT_CENTRE_PX = 500.0
# Any non-degenerate pose: fills the place of skipped (non-finite) poses in a batch before masking.
_STAND_IN_POSE = torch.tensor([[0.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, -1.0, -4.0], [0.0, -1.0, -8.0],
                               [0.0, 1.0, 0.0], [0.0, 1.0, -4.0], [0.0, 1.0, -8.0], [0.0, 0.0, 2.5],
                               [0.0, 0.0, 5.0], [0.0, 0.0, 6.0], [0.0, 0.0, 7.0], [0.0, 1.5, 5.0],
                               [0.0, 1.5, 2.5], [0.0, 1.5, 0.0], [0.0, -1.5, 5.0], [0.0, -1.5, 2.5],
                               [0.0, -1.5, 0.0]]) * 100.0


# ----------------------------------------------------------------------------------------------
# §3.1 pre-processing
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------


def kl_divergence(mean: Tensor, log_variance: Tensor) -> Tensor:
    """``KL(N(mean, exp(log_variance)) || N(0, I))`` of each sample, closed form, ``(B, D)`` -> ``(B,)``:
    ``0.5 * sum(mean^2 + exp(log_variance) - 1 - log_variance)``."""
    return 0.5 * (mean.square() + log_variance.exp() - 1.0 - log_variance).sum(dim=-1)


def pairwise_pose_distances(poses_a: Tensor, poses_b: Tensor) -> Tensor:
    """Mean per-joint distance (no alignment) between every pose of ``poses_a (A, J, 3)`` and of
    ``poses_b (B, J, 3)``: ``(A, B)``, in the poses' unit."""
    return (poses_a[:, None] - poses_b[None]).norm(dim=-1).mean(dim=-1)


def mine_triplets(pose_distances: Tensor, gap: float, valid: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """§3.2 triplet mining in a batch, from the ``(B, B)`` distances between its 3D poses.

    For each anchor ``i`` the positive is the nearest other pose ``j``; the negative is the nearest
    pose ``k`` with ``D[i, k] >= D[i, j] + gap`` (a harder one is too close to tell from the positive).
    Samples with ``valid`` False are neither anchors nor candidates.

    Returns:
        ``(positive (B,) long, negative (B,) long, has_triplet (B,) bool)``; an anchor without a
        negative far enough (or any other valid sample) has ``has_triplet`` False.
    """
    size = pose_distances.shape[0]
    if valid is None:
        valid = torch.ones(size, dtype=torch.bool, device=pose_distances.device)
    eligible = valid[None, :] & ~torch.eye(size, dtype=torch.bool, device=pose_distances.device)
    distances = pose_distances.masked_fill(~eligible, math.inf)
    positive_distance, positive = distances.min(dim=1)
    far_enough = distances >= (positive_distance + gap)[:, None]
    negative_distance, negative = distances.masked_fill(~far_enough, math.inf).min(dim=1)
    has_triplet = valid & torch.isfinite(positive_distance) & torch.isfinite(negative_distance)
    return positive, negative, has_triplet


def triplet_loss(embeddings: Tensor, positive: Tensor, negative: Tensor, margin: float) -> Tensor:
    """``max(0, |e_i - e_pos(i)| - |e_i - e_neg(i)| + margin)`` per anchor: ``(B, D)`` -> ``(B,)``.

    The paper prints ``D_ik - D_ij + m`` with j the positive and k the negative; it means the usual
    form used here, which pulls the positive closer than the negative (its Section 3.2 text).
    """
    to_positive = (embeddings - embeddings[positive]).norm(dim=-1)
    to_negative = (embeddings - embeddings[negative]).norm(dim=-1)
    return torch.relu(to_positive - to_negative + margin)


def batch_hard_triplet_loss(embeddings: Tensor, normalised_poses: Tensor, margin: float, gap: float,
                            valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The triplet term of Eq. (2): triplets mined from the 3D poses, loss on the embeddings.

    Args:
        embeddings: ``(B, D)`` latent vectors. normalised_poses: ``(B, J, 3)`` normalised canonical
            poses (:func:`normalize_pose_3d`); their mean joint distances choose the triplets.
        margin, gap: see :func:`triplet_loss` and :func:`mine_triplets`. valid: ``(B,)`` or None.

    Returns:
        ``(loss (B,), has_triplet (B,) bool)``: average with ``masked_mean(loss, has_triplet)``.
    """
    with torch.no_grad():
        distances = pairwise_pose_distances(normalised_poses, normalised_poses)
        positive, negative, has_triplet = mine_triplets(distances, gap, valid)
    return triplet_loss(embeddings, positive, negative, margin), has_triplet


def joint_squared_error(predicted: Tensor, target: Tensor, num_joints: int) -> Tensor:
    """The paper's ``L_mse`` per sample: squared joint distance summed over the encoded joints and divided
    by the number of joints J (the root, never predicted, counts as exact); ``(B, 3(J-1))`` -> ``(B,)``."""
    return (predicted - target).square().sum(dim=-1) / num_joints


# ----------------------------------------------------------------------------------------------
# small shared pieces
# ----------------------------------------------------------------------------------------------


def _as_input_type(outputs: Tensor, like) -> Any:
    """``outputs`` as a numpy array when ``like`` is not a tensor, else a tensor on ``like``'s device."""
    return outputs.cpu().numpy() if not torch.is_tensor(like) else outputs.to(like.device)


def _tensor(values, reference: Tensor) -> Tensor:
    """``values`` (numpy or tensor) as a tensor of ``reference``'s dtype and device."""
    return torch.as_tensor(np.asarray(values) if not torch.is_tensor(values) else values).to(reference)


# ----------------------------------------------------------------------------------------------
# stage 1: the 3D pose VAE
# ----------------------------------------------------------------------------------------------


@dataclass
class PoseVaeConfig(BackboneConfig):
    """Stage-1 hyper-parameters (defaults = the paper, §4.1 and Eq. 2).

    latent_size: size of a V-VIPE (32). hidden_size, num_blocks, dropout: the backbone of encoder and
    decoder (1024, 2, 0.1). triplet_weight: weight of L_triplet in Eq. (2) (the paper: 1).
    kl_weight: weight of L_KL. The paper adds it with weight 1 to an L_mse whose unit it does not
    state; with our unit-size poses weight 1 collapses the posterior towards the mean pose (in a
    short probe on the benchmark: validation reconstruction 152 mm at 0.1, 103 mm at 0.01, 98 mm at
    0.001, with 5, 19 and 69 nats of KL), so the default 0.01 keeps the latent informative and
    still close to N(0, I) for generation; ``benchmarks/vvipe_accuracy.py`` sweeps it.
    triplet_margin: m (1.0). negative_gap: how much further than the positive a negative must be,
    normalised units (0.1). init, input_layer, max_norm, max_norm_mode: the backbone's
    (:class:`~poselift.models.backbone.BackboneConfig`).
    """

    num_joints: int = 17
    latent_size: int = 32
    dropout: float = 0.1
    kl_weight: float = 0.01
    triplet_weight: float = 1.0
    triplet_margin: float = 1.0
    negative_gap: float = 0.1


class PoseVae(LiftingModel):
    """§3.2: normalised canonical 3D pose -> latent (mean, log-variance) -> 3D pose.

    ``encode(encoded_3d (B, 3(J-1))) -> (mean, log_variance) (B, D)``; ``decode(latent (B, D)) ->
    encoded_3d (B, 3(J-1))`` in the normalised spaces of :attr:`normalizer`. :meth:`embed_3d` takes
    millimetres; :meth:`decode_latent` returns millimetres (canonical frame, mean training size).
    """

    kind = "vvipe_vae"
    layout = "h36m17"
    source_kind = "frames"

    def __init__(self, config: PoseVaeConfig | None = None):
        super().__init__()
        self.config = config if config is not None else PoseVaeConfig()
        cfg = self.config
        self.normalizer = CanonicalPoseNormalizer(cfg.num_joints)
        shared = cfg.backbone_options()
        pose_dim = self.normalizer.output_dim
        self.encoder = ResidualMLP(pose_dim, 2 * cfg.latent_size, **shared)
        self.decoder = ResidualMLP(cfg.latent_size, pose_dim, **shared)

    def encode(self, encoded_3d: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3(J-1))`` normalised pose -> ``(mean (B, D), log_variance (B, D))`` of q(z | pose)."""
        mean, log_variance = self.encoder(encoded_3d).chunk(2, dim=-1)
        return mean, log_variance

    def decode(self, latent: Tensor) -> Tensor:
        """``(B, D)`` latent -> ``(B, 3(J-1))`` normalised pose."""
        return self.decoder(latent)

    def forward(self, encoded_3d: Tensor) -> Tensor:
        """Reconstruction from the latent mean: ``(B, 3(J-1))`` -> ``(B, 3(J-1))``."""
        return self.decode(self.encode(encoded_3d)[0])

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Eq. (2) on a batch of frames (only ``poses_3d`` (B, J, 3) mm is read).

        In training mode the decoder sees a sample ``z = mean + sigma * eps``; in eval mode the mean.
        Returns ``loss``, its unweighted terms ``reconstruction``, ``kl``, ``triplet``, the share of
        anchors with a triplet ``triplet_anchors``, and ``mpjpe_mm``: the reconstruction error in mm
        at each pose's own size, canonical frame (no gradient).
        """
        cfg = self.config
        normalised, scale = normalize_pose_3d(batch["poses_3d"].to(self.normalizer.scale_mm))
        target = split_root(normalised, H36M17.root_index).flatten(start_dim=-2)
        mean, log_variance = self.encode(target)
        latent = mean + (0.5 * log_variance).exp() * torch.randn_like(mean) if self.training else mean
        decoded = self.decode(latent)
        reconstruction = joint_squared_error(decoded, target, cfg.num_joints).mean()
        kl = kl_divergence(mean, log_variance).mean()
        triplet, has_triplet = batch_hard_triplet_loss(mean, normalised, cfg.triplet_margin, cfg.negative_gap)
        triplet = masked_mean(triplet, has_triplet)
        with torch.no_grad():
            decoded_poses = insert_root(decoded.unflatten(-1, (cfg.num_joints - 1, 3)), H36M17.root_index)
            error_mm = frame_mpjpe_mm(decoded_poses * scale[:, None, None], normalised * scale[:, None, None])
        loss = reconstruction + cfg.kl_weight * kl + cfg.triplet_weight * triplet
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "triplet": triplet,
                "triplet_anchors": has_triplet.float().mean(), "mpjpe_mm": error_mm.mean()}

    @torch.no_grad()
    def embed_3d(self, poses_3d, batch_size: int = 4096):
        """V-VIPE of 3D poses: the latent mean (eval mode).

        Args:
            poses_3d: ``(..., J, 3)`` mm, any frame (camera or world), numpy array or tensor.

        Returns:
            ``(..., D)`` of the input's type; NaN for poses with a non-finite joint.
        """
        poses = _tensor(poses_3d, self.normalizer.scale_mm)
        if poses.ndim < 2 or poses.shape[-2:] != (self.config.num_joints, 3):
            raise ShapeError(f"poses_3d: expected shape (..., {self.config.num_joints}, 3), got {tuple(poses.shape)}")
        lead_shape, flat = poses.shape[:-2], poses.reshape(-1, self.config.num_joints, 3)
        valid = torch.isfinite(flat).all(dim=-1).all(dim=-1)
        stand_in = flat[valid][:1] if bool(valid.any()) else _STAND_IN_POSE.to(flat)   # computed, then NaN
        filled = torch.where(valid[:, None, None], flat, stand_in)
        with eval_mode(self):
            embedding = map_in_chunks(filled, lambda chunk: self.encode(self.normalizer.encode_3d(chunk))[0], valid,
                                      batch_size)
        embedding = _as_input_type(embedding, poses_3d)
        return embedding.reshape(lead_shape + embedding.shape[-1:])

    @torch.no_grad()
    def decode_latent(self, latent, batch_size: int = 4096):
        """3D poses of latent vectors (eval mode): ``(..., D)`` -> ``(..., J, 3)`` mm, canonical frame
        (x forward, y left, z up, pelvis at the origin), mean training size; numpy or tensor as given."""
        vectors = _tensor(latent, self.normalizer.scale_mm)
        if vectors.ndim < 1 or vectors.shape[-1] != self.config.latent_size:
            raise ShapeError(f"latent: expected shape (..., {self.config.latent_size}), got {tuple(vectors.shape)}")
        lead_shape, flat = vectors.shape[:-1], vectors.reshape(-1, self.config.latent_size)
        valid = torch.isfinite(flat).all(dim=-1)
        with eval_mode(self):
            poses = _as_input_type(map_in_chunks(torch.nan_to_num(flat),
                                                 lambda chunk: self.normalizer.decode_3d(self.decode(chunk)),
                                                 valid, batch_size), latent)
        return poses.reshape(lead_shape + poses.shape[-2:])


# ----------------------------------------------------------------------------------------------
# stage 2: the 2D mapping network
# ----------------------------------------------------------------------------------------------


def random_view_rotation(world_to_camera: Tensor, max_elevation_deg: float, max_roll_deg: float,
                         generator: torch.Generator | None = None) -> Tensor:
    """§4.4 camera augmentation: random rotations of camera-frame poses, ``(B, 3, 3)``.

    Each is a turn about the world's vertical axis by a uniform angle in [-180, 180) degrees (the
    person seen from any side), then a tilt about the camera's x axis (camera higher or lower) and a
    roll about its optical axis, uniform within the given bounds. Apply to root-relative camera-frame
    poses as ``poses @ R.mT``.

    Args:
        world_to_camera: ``(B, 3, 3)`` rotation of each sample's camera (world Z is up).
    """
    size, options = world_to_camera.shape[0], dict(dtype=world_to_camera.dtype, device="cpu")

    def uniform(bound_rad: float) -> Tensor:
        return (2 * torch.rand(size, generator=generator, **options) - 1) * bound_rad

    turn = world_to_camera @ rotation_about_z(uniform(math.pi).to(world_to_camera.device)) @ world_to_camera.mT
    axes = torch.eye(3, **options)
    tilt = axis_angle_to_matrix(axes[0] * uniform(math.radians(max_elevation_deg))[:, None])
    roll = axis_angle_to_matrix(axes[2] * uniform(math.radians(max_roll_deg))[:, None])
    return (roll @ tilt).to(world_to_camera.device) @ turn


@dataclass
class VvipeConfig(BackboneConfig):
    """Stage-2 hyper-parameters (defaults = the paper) and the stage-1 model it builds on.

    pose_vae_checkpoint: path of a trained ``vvipe_vae`` checkpoint. Building the model reads it
        once: the VAE's weights go into this model (frozen) and its config into ``pose_vae``; the
        stored config then has ``pose_vae_checkpoint=""`` and ``pose_vae_source`` = the path, so a
        stage-2 checkpoint needs nothing else to load.
    pose_vae: the stage-1 config (filled in from the checkpoint). pose_vae_source: where it came from.
    hidden_size, num_blocks, dropout: the 2D encoder's backbone (1024, 2, 0.1, as stage 1).
    triplet_weight, triplet_margin, negative_gap: the triplet term, as stage 1 (0 = "w/o triplet").
        The paper adds it with weight 1 to an MSE of unstated unit. In a short probe (700 steps,
        width 256, gt 2D) weight 1 gave a lower Hit@1 than none (63 against 71 %) and 0.01 the
        highest (74 %); the default stays the paper's, ``benchmarks/vvipe_accuracy.py`` sweeps it.
    augment_fraction: share of each training batch replaced by randomly turned views (0.5, §4.4).
    augment_elevation_deg, augment_roll_deg: bounds of the tilt and roll of those views (the paper
        says "randomly rotate"; our choice keeps cameras roughly upright: 30 and 10 degrees).
    augment_detector_noise: film the augmented views through the benchmark's simulated detector
        (set it when training on ``noisy`` 2D so both halves of a batch look alike).
    init, input_layer, max_norm, max_norm_mode: the backbone's (:class:`~poselift.models.backbone.BackboneConfig`);
        with "row" max-norm the loop's projection would also reach the frozen VAE's plain Linears, so
        those must already satisfy the bound.
    """

    pose_vae_checkpoint: str = ""
    pose_vae_source: str = ""
    pose_vae: dict | None = None
    num_joints: int = 17
    dropout: float = 0.1
    triplet_weight: float = 1.0
    triplet_margin: float = 1.0
    negative_gap: float = 0.1
    augment_fraction: float = 0.5
    augment_elevation_deg: float = 30.0
    augment_roll_deg: float = 10.0
    augment_detector_noise: bool = False


class VvipeLifter(FrameLifting, LiftingModel):
    """§3.3: 2D keypoints -> V-VIPE (latent) -> frozen stage-1 decoder -> normalised canonical 3D.

    ``forward(encoded_2d (B, 2J)) -> latent (B, D)`` in the normalised 2D space of :attr:`normalizer`
    ("pose" normalisation: root-centred, unit size, so any camera or image size works).
    :meth:`embed`, :meth:`lift` take pixels; :meth:`embed_3d`, :meth:`decode_latent` use the frozen
    VAE (:attr:`pose_vae`), which stays in eval mode and never trains here.
    """

    kind = "vvipe"
    layout = "h36m17"
    source_kind = "frames"
    output_frame = "canonical"

    def __init__(self, config: VvipeConfig | None = None):
        """The stage-1 model's architecture comes from ``config.pose_vae``; its weights are loaded by
        :meth:`from_pretrained` (a new model: :func:`poselift.recipes.new_model` with
        ``pose_vae_checkpoint``) or with the rest of a saved stage-2 checkpoint."""
        super().__init__()
        config = config if config is not None else VvipeConfig()
        if config.pose_vae is None:
            raise PoseliftError("vvipe (stage 2) builds on a trained stage-1 model: set pose_vae_checkpoint=PATH "
                                "to a 'vvipe_vae' checkpoint (e.g. --set pose_vae_checkpoint=RUN/last.pt) and build "
                                "it with poselift.recipes.new_model (what poselift train does)")
        self.config = config
        self.pose_vae = PoseVae(PoseVaeConfig(**config.pose_vae))
        if self.pose_vae.config.num_joints != config.num_joints:
            raise ShapeError(f"stage-1 model has {self.pose_vae.config.num_joints} joints, stage 2 {config.num_joints}")
        self.pose_vae.requires_grad_(False)
        self.pose_vae.eval()
        self.normalizer = PoseNormalizer(config.num_joints, input_normalization="pose")
        self.encoder = ResidualMLP(self.normalizer.input_dim, self.pose_vae.config.latent_size,
                                   **config.backbone_options())

    @classmethod
    def pretrained_checkpoint(cls, config: VvipeConfig) -> str | None:
        """``config.pose_vae_checkpoint`` (the stage-1 ``vvipe_vae`` checkpoint), or None when unset."""
        return config.pose_vae_checkpoint or None

    @classmethod
    def from_pretrained(cls, config: VvipeConfig, checkpoint: dict, path: str) -> "VvipeLifter":
        """Stage 2 on the trained stage-1 model of ``checkpoint``: its config is stored in ``pose_vae``
        (``pose_vae_checkpoint`` emptied, ``pose_vae_source`` = ``path``) so the saved stage-2
        checkpoint rebuilds without the stage-1 file; its weights are loaded and checked."""
        if checkpoint["model_kind"] != PoseVae.kind:
            raise PoseliftError(f"{path}: holds a {checkpoint['model_kind']!r} model; V-VIPE stage 2 needs a "
                                f"{PoseVae.kind!r} (stage-1) checkpoint")
        config = replace(config, pose_vae_checkpoint="", pose_vae_source=str(path),
                         pose_vae=dict(checkpoint["model_config"]))
        model = cls(config)
        model.pose_vae.load_state_dict(checkpoint["model_state"])
        model._check_pose_vae(str(path))
        return model

    def _check_pose_vae(self, path: str) -> None:
        if not self.pose_vae.normalizer.is_fitted:
            raise PoseliftError(f"{path}: the stage-1 model was never trained (its pose size is not fitted)")
        bound = self.config.max_norm
        projected = [module for module in self.pose_vae.modules()             # what the loop's row projection
                     if isinstance(module, nn.Linear) and not isinstance(module, ClippedLinear)]  # would touch
        if self.config.projects_max_norm and projected:
            largest = max(float(module.weight.detach().norm(dim=1).max()) for module in projected)
            if largest > bound * (1 + 1e-5):
                raise PoseliftError(f"{path}: stage-1 weights have rows of norm up to {largest:.3g}, above this "
                                    f"model's max_norm={bound}, which would change the frozen decoder; train stage 2 "
                                    f"with max_norm=null or a larger bound")

    def train(self, mode: bool = True) -> "VvipeLifter":
        super().train(mode)
        self.pose_vae.eval()                       # frozen: BatchNorm statistics fixed, no dropout
        return self

    def forward(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, D)`` V-VIPE."""
        return self.encoder(encoded_2d)

    # ------------------------------------------------------------------------------- training
    def _augmented_views(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(keypoints_2d (B, J, 2) px, confidence (B, J)) with the first ``augment_fraction`` of the
        batch filmed again from random views (§4.4); the batch itself when not training."""
        keypoints, confidence = batch["keypoints_2d"], batch.get("confidence")
        count = int(round(self.config.augment_fraction * keypoints.shape[0]))
        if not self.training or count == 0:
            return keypoints, confidence
        missing = [key for key in ("rotation", "root_3d") if key not in batch]
        if missing:
            raise PoseliftError(f"V-VIPE camera augmentation needs batch keys {missing} (train on single frames)")
        poses = batch["poses_3d"][:count].to(keypoints)
        rotation = random_view_rotation(batch["rotation"][:count].to(keypoints), self.config.augment_elevation_deg,
                                        self.config.augment_roll_deg)
        turned = poses @ rotation.mT
        points_cam = turned + batch["root_3d"][:count, None].to(keypoints)
        intrinsic = keypoints.new_tensor([_AUGMENT_FOCAL_PX, _AUGMENT_FOCAL_PX])
        views = project_points(points_cam, intrinsic, keypoints.new_full((2,), _AUGMENT_CENTRE_PX))
        view_confidence = torch.ones(views.shape[:-1], dtype=keypoints.dtype, device=keypoints.device)
        if self.config.augment_detector_noise:
            noisy, noisy_confidence = simulate_detector(views.cpu(), torch.default_generator, DetectorNoiseConfig())
            views, view_confidence = noisy.to(keypoints), noisy_confidence.to(keypoints)
        if confidence is None:
            confidence = torch.ones(keypoints.shape[:-1], dtype=keypoints.dtype, device=keypoints.device)
        return torch.cat([views, keypoints[count:]]), torch.cat([view_confidence, confidence[count:].to(keypoints)])

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """§3.3 on a batch of frames (``keypoints_2d``, ``confidence``, ``poses_3d``; with augmentation
        also ``rotation`` and ``root_3d``, as :class:`~poselift.data.datasets.FrameSource` gives).

        Returns ``loss`` = reconstruction + triplet_weight * triplet, the terms ``reconstruction`` and
        ``triplet`` (unweighted), ``triplet_anchors`` and ``mpjpe_mm``: the error of :meth:`lift`'s
        output against the canonicalised ground truth in mm (no gradient). Frames whose 2D root is
        missing are left out.
        """
        cfg = self.config
        keypoints, confidence = self._augmented_views(batch)
        encoded_2d, frame_valid = self.normalizer.encode_2d(keypoints, confidence)
        latent = self(encoded_2d)
        decoded = self.pose_vae.decode(latent)
        normalised = self.pose_vae.normalizer.normalize(batch["poses_3d"])
        target = split_root(normalised, H36M17.root_index).flatten(start_dim=-2)
        reconstruction = masked_mean(joint_squared_error(decoded, target, cfg.num_joints), frame_valid)
        triplet, has_triplet = batch_hard_triplet_loss(latent, normalised, cfg.triplet_margin, cfg.negative_gap,
                                                       frame_valid)
        triplet = masked_mean(triplet, has_triplet)
        with torch.no_grad():
            canonical_mm = canonicalize(batch["poses_3d"].to(decoded))
            error_mm = frame_mpjpe_mm(self.pose_vae.normalizer.decode_3d(decoded), canonical_mm)
            mpjpe_mm = masked_mean(error_mm, frame_valid)
        return {"loss": reconstruction + cfg.triplet_weight * triplet, "reconstruction": reconstruction,
                "triplet": triplet, "triplet_anchors": has_triplet.float().mean(), "mpjpe_mm": mpjpe_mm}

    # ------------------------------------------------------------------------------ inference
    @torch.no_grad()
    def embed(self, keypoints_2d, confidence=None, batch_size: int = 4096):
        """V-VIPE of 2D keypoints.

        Args:
            keypoints_2d: ``(..., J, 2)`` px (H36M-17), numpy array or tensor, any image size.
            confidence: ``(..., J)`` in [0, 1] (0 = missing) or None.

        Returns:
            ``(..., D)`` (D = 32 by default) of the input's type; NaN where the root is missing.
        """
        return self.map_frames(keypoints_2d, confidence, self, batch_size)

    @torch.no_grad()
    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096, layout: str = "h36m17", intrinsics=None):
        """Lift 2D keypoints to 3D through the embedding and the frozen decoder (``intrinsics``: ignored,
        the 2D encoding is always "pose").

        Args:
            keypoints_2d: ``(..., J, 2)`` px, numpy array or tensor. confidence: ``(..., J)`` or None.
            layout: the keypoints' layout (``poselift.skeleton.LAYOUT_NAMES``), converted to H36M-17
                first; a layout the anatomy contradicts is refused (:func:`poselift.conventions.as_h36m17`).

        Returns:
            ``(..., J, 3)`` mm in the CANONICAL body frame (x forward, y to the person's left, z up,
            pelvis at the origin), at the mean body size of the training poses; NOT the camera
            frame. Frames whose root is missing are NaN. Numpy in -> numpy out, tensor -> tensor.
        """
        return super().lift(keypoints_2d, confidence, batch_size, layout, intrinsics)

    def lift_encoded(self, encoded_2d: Tensor) -> Tensor:
        """``(B, 2J)`` encoded 2D -> ``(B, J, 3)`` mm, canonical frame, through the frozen decoder."""
        return self.pose_vae.normalizer.decode_3d(self.pose_vae.decode(self(encoded_2d)))

    def embed_3d(self, poses_3d, batch_size: int = 4096):
        """V-VIPE of 3D poses through the frozen stage-1 encoder; see :meth:`PoseVae.embed_3d`."""
        return self.pose_vae.embed_3d(poses_3d, batch_size)

    def decode_latent(self, latent, batch_size: int = 4096):
        """3D poses (mm, canonical frame) of latent vectors; see :meth:`PoseVae.decode_latent`."""
        return self.pose_vae.decode_latent(latent, batch_size)
