"""Veges, Varga, Lorincz, "3D human pose estimation with siamese equivariant embedding" (2019).

Method: the lifter is split into an encoder ``f`` and a decoder ``g`` whose hidden code is a set of
``M`` unit 3-vectors that should turn with the camera (Eq. 1: ``f(proj(R P)) = R f(proj(P))``).

- encoder ``f``: z-scored 2D ``(B, 2J)`` -> ``Linear(2J, 1024)`` + BatchNorm + LeakyReLU + Dropout(0.2)
  -> one residual module (two such layers, skip around them) -> ``Linear(1024, 3M)`` -> ``(B, M, 3)``,
  each 3-vector scaled to unit length. The vectors live in the camera frame: a rotation ``R`` of the
  camera acts on the code as ``h -> h R^T`` (each row ``v -> R v``).
- decoder ``g``: ``(B, M, 3)`` -> ``Linear(3M, 1024)`` + LeakyReLU (no BatchNorm or Dropout: the paper
  found them harmful right after the embedding) -> one residual module -> ``Linear(1024, 3(J-1))``, the
  z-scored root-relative 3D of the baseline.
- training on pairs of views (half the same frame seen by two cameras, half random frames): Eq. (4)
  ``loss = l2(view 1) + l2(view 2) + lambda2 * l_S`` with the siamese loss of Eq. (3)
  ``l_S = (|| R2 R1^T h1 - h2 || - lambda1 || P_world(1) - P_world(2) ||)^2`` where ``R1, R2`` are the
  world-to-camera rotations of the two views, ``P_world`` the root-relative 3D pose in world axes (mm)
  and ``lambda1 = 0.01``.

Where the paper leaves a choice open, the defaults follow the authors' released code
(vegesm/siamese-pose-estimation): the pose distance ``|| P_world(1) - P_world(2) ||`` is the mean over
the 16 non-root joints of each joint's Euclidean distance (``pose_distance="mean_joint"``; poselift's
first reading took the Frobenius norm over all 17 joints' coordinates, about 4x larger:
``"frobenius"``), lambda2 is 0.2 (their loss weights 0.5, 0.5, 0.1 on the two l2 terms and l_S), and
the two views of every pair, same frame or not, come from two different cameras
(:class:`~poselift.data.datasets.FramePairSource`). Their code also trains without max-norm and with
He-initialised weights and biases; poselift keeps the shared backbone's measured defaults
(docs/baseline.md), which ``--set init=kaiming max_norm=null`` turns into theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from poselift.encoding import PoseNormalizer, split_root
from poselift.errors import PoseliftError
from poselift.models.backbone import BackboneConfig, FrameLifting, ResidualMLP, eval_mode, frame_mpjpe_mm, masked_mean
from poselift.models.base import LiftingModel
from poselift.skeleton import H36M17

POSE_DISTANCES = ("mean_joint", "frobenius")


@dataclass
class SiameseConfig(BackboneConfig):
    """Hyper-parameters (defaults = the paper).

    embedding_vectors: M, unit 3-vectors in the hidden code (paper: 128).
    distance_scale: lambda1 of Eq. (3), embedding distance per mm of pose distance (paper: 0.01).
    pose_distance: "mean_joint" (the authors' code: mean Euclidean distance over the 16 non-root
        joints) or "frobenius" (the norm over all 17 joints' coordinates, poselift's first reading).
    siamese_weight: lambda2 of Eq. (4). The paper does not give its value; the authors' code weighs
        l_S 0.1 against 0.5 for each l2 term, i.e. 0.2. (With the Frobenius distance, 0.01 had the
        lowest Protocol #3 error on our validation set among 0.001, 0.01, 0.1 and 1, docs/siamese.md.)
        0 switches the siamese loss off (Table 5a "w/o siamese loss").
    activation: "leaky_relu" (the paper) or "relu" (Table 5a "w/o Leaky ReLU").
    init, input_layer, max_norm, max_norm_mode: the backbone's (:class:`~poselift.models.backbone.BackboneConfig`);
        the decoder's first layer is always a plain Linear + activation, as the paper.
    input_normalization: "image" (z-scored pixels) or "pose", see :mod:`poselift.encoding`.
    """

    num_joints: int = 17
    embedding_vectors: int = 128
    num_blocks: int = 1
    dropout: float = 0.2
    activation: str = "leaky_relu"
    distance_scale: float = 0.01
    pose_distance: str = "mean_joint"
    siamese_weight: float = 0.2
    input_normalization: str = "image"

    def __post_init__(self) -> None:
        if self.pose_distance not in POSE_DISTANCES:
            raise PoseliftError(f"siamese config: pose_distance must be one of {', '.join(POSE_DISTANCES)}, "
                                f"got {self.pose_distance!r}")


def rotate_embedding(embedding: Tensor, rotation: Tensor) -> Tensor:
    """Rotate every 3-vector of a code: ``(B, M, 3)`` by ``(B, 3, 3)`` -> ``(B, M, 3)`` (row ``v -> R v``)."""
    return embedding @ rotation.transpose(-1, -2)


def pose_distance_mm(poses_1: Tensor, poses_2: Tensor, kind: str = "mean_joint") -> Tensor:
    """Distance between root-relative poses ``(B, 17, 3)`` mm -> ``(B,)`` mm.

    ``"mean_joint"``: mean over the 16 non-root joints of the joint's Euclidean distance (the authors'
    code); ``"frobenius"``: the norm of the difference over all joints' coordinates.
    """
    if kind == "frobenius":
        return (poses_1 - poses_2).flatten(1).norm(dim=1)
    return split_root(poses_1 - poses_2, H36M17.root_index).norm(dim=-1).mean(dim=-1)


def siamese_loss(embedding_1: Tensor, embedding_2: Tensor, rotation_1: Tensor, rotation_2: Tensor,
                 poses_world_1: Tensor, poses_world_2: Tensor, distance_scale: float,
                 pose_distance: str = "mean_joint") -> Tensor:
    """Eq. (3) per pair, ``(B,)``.

    Args:
        embedding_1, embedding_2: ``(B, M, 3)`` codes of the two views (camera frames of each view).
        rotation_1, rotation_2: ``(B, 3, 3)`` world -> camera rotations of the two views.
        poses_world_1, poses_world_2: ``(B, 17, 3)`` mm, root-relative poses in world axes.
        distance_scale: lambda1, code distance per mm. pose_distance: see :func:`pose_distance_mm`.
    """
    relative = rotation_2 @ rotation_1.transpose(-1, -2)               # camera 1 -> camera 2
    code_distance = (rotate_embedding(embedding_1, relative) - embedding_2).flatten(1).norm(dim=1)
    target = distance_scale * pose_distance_mm(poses_world_1, poses_world_2, pose_distance)
    return (code_distance - target).square()


class SiameseLifter(FrameLifting, LiftingModel):
    """2D keypoints -> root-relative 3D through a rotation-equivariant code of unit 3-vectors.

    ``forward(encoded_2d (B, 2J)) -> encoded_3d (B, 3(J-1))`` (normalised spaces of
    :attr:`normalizer`); :meth:`encode` and :meth:`decode` expose the code ``(B, M, 3)``;
    :meth:`lift` takes pixels and returns millimetres.
    """

    kind = "siamese"
    layout = "h36m17"
    source_kind = "pairs"

    def __init__(self, config: SiameseConfig | None = None):
        super().__init__()
        self.config = config if config is not None else SiameseConfig()
        cfg = self.config
        self.normalizer = PoseNormalizer(cfg.num_joints, input_normalization=cfg.input_normalization)
        code_size = 3 * cfg.embedding_vectors
        shared = cfg.backbone_options()
        self.encoder = ResidualMLP(self.normalizer.input_dim, code_size, **shared)
        # the paper's decoder has no BatchNorm/Dropout after its first layer, whatever the encoder's input layer
        self.decoder = ResidualMLP(code_size, self.normalizer.output_dim, **{**shared, "input_layer": "linear"})

    def encode(self, encoded_2d: Tensor) -> Tensor:
        """``f``: ``(B, 2J)`` encoded 2D -> ``(B, M, 3)`` unit 3-vectors, camera frame."""
        code = self.encoder(encoded_2d).unflatten(-1, (self.config.embedding_vectors, 3))
        return nn.functional.normalize(code, dim=-1)

    def decode(self, embedding: Tensor) -> Tensor:
        """``g``: ``(B, M, 3)`` -> ``(B, 3(J-1))`` encoded 3D."""
        return self.decoder(embedding.flatten(-2))

    def forward(self, encoded_2d: Tensor) -> Tensor:
        return self.decode(self.encode(encoded_2d))

    def _branch(self, batch: dict[str, Tensor], suffix: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(code (B,M,3), per-frame l2 (B,), frame valid (B,), per-frame error mm (B,)) of one view."""
        encoded_2d, frame_valid = self.normalizer.encode_2d(batch[f"keypoints_2d{suffix}"],
                                                            batch.get(f"confidence{suffix}"))
        target_3d = self.normalizer.encode_3d(batch[f"poses_3d{suffix}"])
        embedding = self.encode(encoded_2d)
        predicted_3d = self.decode(embedding)
        squared_error = (predicted_3d - target_3d).square().mean(dim=-1)
        with torch.no_grad():
            error_mm = frame_mpjpe_mm(self.normalizer.decode_3d(predicted_3d), batch[f"poses_3d{suffix}"])
        return embedding, squared_error, frame_valid, error_mm

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Eq. (4) on a batch of pairs (keys with suffix ``_1``/``_2`` and ``rotation_*``, see
        :class:`~poselift.data.datasets.FramePairSource`), or the l2 term alone on single frames.

        Returns ``loss``, ``lifting`` (sum of the l2 terms), ``siamese`` (mean ``l_S``, unweighted)
        and ``mpjpe_mm`` (no gradient).
        """
        if "keypoints_2d" in batch:                                     # single frames (validation)
            _, squared_error, frame_valid, error_mm = self._branch(batch, "")
            lifting = masked_mean(squared_error, frame_valid)
            return {"loss": lifting, "lifting": lifting, "mpjpe_mm": masked_mean(error_mm, frame_valid)}
        code_1, squared_error_1, valid_1, error_mm_1 = self._branch(batch, "_1")
        code_2, squared_error_2, valid_2, error_mm_2 = self._branch(batch, "_2")
        lifting = masked_mean(squared_error_1, valid_1) + masked_mean(squared_error_2, valid_2)
        rotation_1, rotation_2 = batch["rotation_1"], batch["rotation_2"]
        # root-relative poses in world axes: p_world = R^T p_cam, i.e. rows times R
        pair_loss = siamese_loss(code_1, code_2, rotation_1, rotation_2, batch["poses_3d_1"] @ rotation_1,
                                 batch["poses_3d_2"] @ rotation_2, self.config.distance_scale,
                                 self.config.pose_distance)
        siamese = masked_mean(pair_loss, valid_1 & valid_2)
        with torch.no_grad():
            mpjpe_mm = masked_mean(torch.cat([error_mm_1, error_mm_2]), torch.cat([valid_1, valid_2]))
        return {"loss": lifting + self.config.siamese_weight * siamese, "lifting": lifting, "siamese": siamese,
                "mpjpe_mm": mpjpe_mm}

    @torch.no_grad()
    def lift_rotated(self, keypoints_2d: Tensor, rotation: Tensor, confidence: Tensor | None = None) -> Tensor:
        """``g(R f(x))``: lift 2D keypoints after rotating their code, the paper's Figure 5 check.

        Args:
            keypoints_2d: ``(B, J, 2)`` px. rotation: ``(3, 3)`` or ``(B, 3, 3)``, acting on camera-frame
                vectors. confidence: ``(B, J)`` or None.

        Returns:
            ``(B, J, 3)`` mm, root-relative, the prediction for the pose rotated by ``rotation``
            (eval mode; the training mode is restored after).
        """
        with eval_mode(self):
            encoded_2d, _ = self.normalizer.encode_2d(keypoints_2d, confidence)
            rotation = rotation.to(encoded_2d).expand(encoded_2d.shape[0], 3, 3)
            return self.normalizer.decode_3d(self.decode(rotate_embedding(self.encode(encoded_2d), rotation)))
