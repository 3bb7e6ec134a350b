"""Network encodings of 2D and 3D poses: z-scored 2D input, z-scored 3D target.

Three 2D input normalisations (``input_normalization``):

- ``"image"`` (Martinez et al.): every pixel coordinate is z-scored with training statistics as it
  is. Faithful to the paper; the network also sees where the person is and how large they appear,
  but only for images like the training ones (same resolution and cameras).
- ``"pose"``: resolution-independent, for models that must accept any camera (the shipped default
  model). Steps 2-3 below come first. It throws away where the person is in the image and how large
  they appear for the focal length: the direction of the rays (up to about 20 degrees off the axis at
  the edges of the benchmark's images, 35 on a phone's) and the distance.
- ``"camera"``: camera-aware, for models that are given the intrinsics of the camera that took the
  keypoints (:class:`poselift.intrinsics.Intrinsics`): every joint becomes its undistorted
  normalised camera coordinates ``((u - cx) / fx, (v - cy) / fy)`` (the tangents of its ray's angles,
  :meth:`~poselift.intrinsics.Intrinsics.rays`), root-centred, and the root's own coordinates (its
  ray) are appended: ``2J + 2`` values. Resolution-independent like "pose", but the ray and the size
  for the focal length are kept. The model's ``encode_2d`` calls pass the intrinsics; a model that
  does not declares so (``passes_intrinsics=False``) and cannot be built with this encoding.

2D encoding (model input), for keypoints ``(..., J, 2)`` px with confidences ``(..., J)``:

1. A joint is *valid* when its confidence is > 0 and both coordinates are finite.
2. Subtract the root (pelvis) position: the pose becomes translation-free. (``"camera"``: the rays
   first, then subtract the root's ray and keep it as two more values.)
3. Divide by the pose's 2D scale, the RMS distance of the valid non-root joints from the root.
   Pixels, image resolution, focal length and the person's position in the image cancel out, so a
   model trained on one camera accepts keypoints from any image size, camera or aspect ratio.
   (``"pose"`` only; ``"image"`` skips steps 2-3, ``"camera"`` step 3.)
4. Flatten to ``(..., 2J)`` (``"camera"``: ``(..., 2J + 2)``, the root's ray last; with
   ``confidence_input`` the J confidences follow, 0 for a missing joint) and z-score every value
   with training statistics.
5. Invalid joints are set to 0 after z-scoring, i.e. to the training mean. A frame whose root is
   missing (or, "pose", whose scale is zero) cannot be encoded: all its values are 0 and it is flagged
   in the returned ``frame_valid`` mask (False). With ``"image"`` only a frame without any joint is.

3D encoding (model target), for poses ``(..., J, 3)`` mm, camera frame: make root-relative, drop
the root (always zero, never predicted) and z-score every coordinate: ``(..., 3(J-1))``.
:meth:`PoseNormalizer.decode_3d` inverts it and puts the root back at the origin.

The statistics are buffers of :class:`PoseNormalizer`, so they are saved in every model checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from poselift.errors import PoseliftError, ShapeError
from poselift.intrinsics import Intrinsics
from poselift.skeleton import H36M17

# A coordinate whose training std is below this (e.g. the root, always 0) is only centred.
_MIN_STD = 1e-6


def split_root(points: Tensor, root_index: int) -> Tensor:
    """Drop the root joint: ``(..., J, D)`` -> ``(..., J-1, D)``."""
    return torch.cat([points[..., :root_index, :], points[..., root_index + 1 :, :]], dim=-2)


def insert_root(points: Tensor, root_index: int) -> Tensor:
    """Insert a zero root joint: ``(..., J-1, D)`` -> ``(..., J, D)``."""
    zero = points.new_zeros(points.shape[:-2] + (1, points.shape[-1]))
    return torch.cat([points[..., :root_index, :], zero, points[..., root_index:, :]], dim=-2)


def scale_normalize_2d(
    keypoints_2d: Tensor, confidence: Tensor | None, root_index: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Root-centre a 2D pose and divide it by its RMS joint distance from the root.

    Args:
        keypoints_2d: ``(..., J, 2)`` px (any unit: the result is unit-free). May hold NaN where
            a joint is missing.
        confidence: ``(..., J)`` in [0, 1], 0 = missing; None = every finite joint is valid.
        root_index: index of the root joint (0 = pelvis in H36M-17).

    Returns:
        ``(normalized (..., J, 2) unit-free, valid_joint (..., J) bool, frame_valid (...) bool)``.
        Invalid joints and every joint of an invalid frame are 0 (never NaN). A frame is valid when
        its root is valid and at least one other joint is valid at a non-zero distance.
    """
    finite = torch.isfinite(keypoints_2d).all(dim=-1)
    valid_joint = finite if confidence is None else finite & (confidence > 0)
    keypoints = torch.where(valid_joint[..., None], keypoints_2d, torch.zeros_like(keypoints_2d))
    offset = keypoints - keypoints[..., root_index : root_index + 1, :]
    valid_other = valid_joint.clone()
    valid_other[..., root_index] = False
    squared_distance = (offset.square().sum(dim=-1) * valid_other).sum(dim=-1)
    count = valid_other.sum(dim=-1)
    scale = torch.sqrt(squared_distance / count.clamp(min=1))
    frame_valid = valid_joint[..., root_index] & (count > 0) & (scale > 0) & torch.isfinite(scale)
    safe_scale = torch.where(frame_valid, scale, torch.ones_like(scale))
    valid_joint = valid_joint & frame_valid[..., None]
    normalized = torch.where(valid_joint[..., None], offset / safe_scale[..., None, None], 0.0)
    return normalized, valid_joint, frame_valid


INPUT_NORMALIZATIONS = ("image", "pose", "camera")


def image_keypoints_2d(keypoints_2d: Tensor, confidence: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """The ``"image"`` counterpart of :func:`scale_normalize_2d`: pixels kept as they are.

    Returns ``(keypoints (..., J, 2) px with invalid joints 0, valid_joint (..., J), frame_valid (...))``;
    a frame is valid when at least one of its joints is.
    """
    finite = torch.isfinite(keypoints_2d).all(dim=-1)
    valid_joint = finite if confidence is None else finite & (confidence > 0)
    keypoints = torch.where(valid_joint[..., None], keypoints_2d, torch.zeros_like(keypoints_2d))
    return keypoints, valid_joint, valid_joint.any(dim=-1)


def camera_normalize_2d(keypoints_2d: Tensor, confidence: Tensor | None, intrinsics: Intrinsics,
                        root_index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The ``"camera"`` counterpart of :func:`scale_normalize_2d`: rays, root-centred, and the root's ray.

    Args:
        keypoints_2d: ``(..., J, 2)`` px; NaN allowed where missing.
        confidence: ``(..., J)`` in [0, 1], 0 = missing; None = every finite joint is valid.
        intrinsics: the camera(s) that took them, leading dims broadcasting against the keypoints'
            without J (:class:`~poselift.intrinsics.Intrinsics`).
        root_index: index of the root joint.

    Returns:
        ``(centred (..., J, 2) unit-free: each joint's normalised camera coordinates minus the root's,
        root_ray (..., 2) the root's normalised camera coordinates, valid_joint (..., J) bool,
        frame_valid (...) bool)``. Invalid joints, and everything of a frame without a root, are 0.
    """
    finite = torch.isfinite(keypoints_2d).all(dim=-1)
    valid_joint = finite if confidence is None else finite & (confidence > 0)
    principal = intrinsics.principal.to(keypoints_2d).unsqueeze(-2)            # missing joints: on the axis
    keypoints = torch.where(valid_joint[..., None], keypoints_2d, principal)
    rays = intrinsics.rays(keypoints)
    valid_joint = valid_joint & torch.isfinite(rays).all(dim=-1)
    frame_valid = valid_joint[..., root_index]
    valid_joint = valid_joint & frame_valid[..., None]
    root_ray = torch.where(frame_valid[..., None], rays[..., root_index, :], 0.0)
    centred = torch.where(valid_joint[..., None], rays - root_ray[..., None, :], 0.0)
    return centred, root_ray, valid_joint, frame_valid


class Moments:
    """Running per-coordinate sums (float64) for means and standard deviations."""

    def __init__(self, size: int):
        self.count = torch.zeros(size, dtype=torch.float64)
        self.total = torch.zeros(size, dtype=torch.float64)
        self.total_squared = torch.zeros(size, dtype=torch.float64)

    def add(self, values: Tensor, weight: Tensor) -> None:
        """``values (N, C)``, ``weight (N, C)`` 0/1: accumulate the weighted entries."""
        values = values.detach().to("cpu", torch.float64)
        weight = weight.detach().to("cpu", torch.float64)
        self.count += weight.sum(dim=0)
        self.total += (values * weight).sum(dim=0)
        self.total_squared += (values.square() * weight).sum(dim=0)

    def mean_std(self) -> tuple[Tensor, Tensor]:
        """Mean and std per coordinate; coordinates never seen get mean 0, std 1."""
        seen = self.count > 0
        count = self.count.clamp(min=1)
        mean = self.total / count
        variance = (self.total_squared / count - mean.square()).clamp(min=0)
        std = variance.sqrt()
        std = torch.where(seen & (std > _MIN_STD), std, torch.ones_like(std))
        mean = torch.where(seen, mean, torch.zeros_like(mean))
        return mean.float(), std.float()


class PoseNormalizer(nn.Module):
    """Training statistics and the 2D/3D encodings (see the module docstring).

    Buffers (saved in checkpoints): ``mean_2d``/``std_2d`` ``(input_dim,)`` of the normalised 2D
    values, ``mean_3d``/``std_3d`` ``(3(J-1),)`` mm of root-relative 3D coordinates without the
    root, ``root_index`` (scalar) and ``fitted`` (scalar, 1 after :meth:`fit`). Before fitting the
    statistics are the identity (mean 0, std 1).

    ``passes_intrinsics``: the owner passes the camera intrinsics to :meth:`encode_2d` and :meth:`fit`
    (the baseline and temporal lifters do); the ``"camera"`` encoding is refused without it, so a model
    that would call ``encode_2d`` without them cannot be built with it.

    ``confidence_input``: append each joint's confidence (0 for a missing joint, 1 where none is
    given) to the encoding, z-scored like the rest: the network can learn how far to trust a joint.
    """

    def __init__(self, num_joints: int = 17, root_index: int = H36M17.root_index, input_normalization: str = "pose",
                 passes_intrinsics: bool = False, confidence_input: bool = False):
        super().__init__()
        if not 0 <= root_index < num_joints:
            raise ShapeError(f"root_index {root_index} is outside 0..{num_joints - 1}")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise PoseliftError(f"input_normalization must be one of {INPUT_NORMALIZATIONS}, got {input_normalization!r}")
        if input_normalization == "camera" and not passes_intrinsics:
            raise PoseliftError("input_normalization 'camera' reads the camera intrinsics, which this model does not "
                                "pass to its encoder; use 'pose' or 'image' (the baseline and temporal models take "
                                "'camera')")
        self.input_normalization = input_normalization
        self.confidence_input = confidence_input
        self.num_joints = num_joints
        self._root = root_index
        self.register_buffer("mean_2d", torch.zeros(self.input_dim))
        self.register_buffer("std_2d", torch.ones(self.input_dim))
        self.register_buffer("mean_3d", torch.zeros(3 * (num_joints - 1)))
        self.register_buffer("std_3d", torch.ones(3 * (num_joints - 1)))
        self.register_buffer("root_index", torch.tensor(root_index, dtype=torch.long))
        self.register_buffer("fitted", torch.tensor(0, dtype=torch.uint8))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._root = int(self.root_index)

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    @property
    def reads_intrinsics(self) -> bool:
        """True for the ``"camera"`` encoding, whose :meth:`encode_2d` needs the intrinsics."""
        return self.input_normalization == "camera"

    @property
    def input_dim(self) -> int:
        """Length of an encoded 2D pose: 2J, and 2J + 2 for ``"camera"`` (the root's ray); J more with
        ``confidence_input``."""
        return 2 * self.num_joints + (2 if self.reads_intrinsics else 0) + (self.num_joints if self.confidence_input else 0)

    @property
    def output_dim(self) -> int:
        """Length of an encoded 3D pose: 3(J-1)."""
        return 3 * (self.num_joints - 1)

    # ----------------------------------------------------------------------------------- checks
    def _check(self, array: Tensor, name: str, dims: int | None) -> Tensor:
        array = torch.as_tensor(array)
        if dims is None:
            if array.shape[-1:] != (self.num_joints,):
                raise ShapeError(f"{name}: expected shape (..., {self.num_joints}), got {tuple(array.shape)}")
        elif array.ndim < 2 or array.shape[-2:] != (self.num_joints, dims):
            raise ShapeError(
                f"{name}: expected shape (..., {self.num_joints}, {dims}), got {tuple(array.shape)}"
            )
        return array.to(device=self.mean_2d.device, dtype=self.mean_2d.dtype)

    # --------------------------------------------------------------------------------- encodings
    def _prepare_2d(self, keypoints_2d: Tensor, confidence: Tensor | None,
                    intrinsics: Intrinsics | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(values (..., input_dim) before z-scoring, value_valid (..., input_dim) bool, frame_valid (...))``."""
        values, valid, frame_valid = self._prepare_positions(keypoints_2d, confidence, intrinsics)
        if not self.confidence_input:
            return values, valid, frame_valid
        given = torch.ones_like(keypoints_2d[..., 0]) if confidence is None else confidence
        finite = torch.isfinite(keypoints_2d).all(dim=-1)
        joint_confidence = torch.where(finite, given.clamp(0.0, 1.0), torch.zeros_like(given))
        return (torch.cat([values, joint_confidence], dim=-1),
                torch.cat([valid, frame_valid[..., None].expand_as(finite)], dim=-1), frame_valid)

    def _prepare_positions(self, keypoints_2d: Tensor, confidence: Tensor | None,
                           intrinsics: Intrinsics | None) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`_prepare_2d` without the confidences."""
        if self.input_normalization == "camera":
            if intrinsics is None:
                raise PoseliftError("this model's 2D encoding ('camera') reads the camera intrinsics: pass "
                                    "intrinsics= (poselift.intrinsics.Intrinsics, e.g. Intrinsics.for_image_size(("
                                    "width, height)) when only the image size is known; training batches carry them "
                                    "as focal and principal), or lift without a camera with load_model('pose')")
            centred, root_ray, valid_joint, frame_valid = camera_normalize_2d(
                keypoints_2d, confidence, intrinsics.map(lambda value: value.to(keypoints_2d)), self._root)
            values = torch.cat([centred.flatten(start_dim=-2), root_ray], dim=-1)
            valid = torch.cat([valid_joint.repeat_interleave(2, dim=-1), frame_valid[..., None].expand_as(root_ray)],
                              dim=-1)
            return values, valid, frame_valid
        if self.input_normalization == "image":
            normalized, valid_joint, frame_valid = image_keypoints_2d(keypoints_2d, confidence)
        else:
            normalized, valid_joint, frame_valid = scale_normalize_2d(keypoints_2d, confidence, self._root)
        return normalized.flatten(start_dim=-2), valid_joint.repeat_interleave(2, dim=-1), frame_valid

    def encode_2d(self, keypoints_2d: Tensor, confidence: Tensor | None = None,
                  intrinsics: Intrinsics | None = None) -> tuple[Tensor, Tensor]:
        """Encode 2D keypoints for the network.

        Args:
            keypoints_2d: ``(..., J, 2)`` px, any image size; NaN allowed where missing.
            confidence: ``(..., J)`` in [0, 1], 0 = missing; None = all finite joints valid.
            intrinsics: the camera(s) that took the keypoints, leading dims broadcasting against theirs
                without J; needed by the ``"camera"`` encoding (:attr:`reads_intrinsics`), ignored by
                the others.

        Returns:
            ``(encoded_2d (..., input_dim), frame_valid (...) bool)``; encoded values are finite, and 0
            for missing joints and for every frame with ``frame_valid`` False (root missing).
        """
        keypoints_2d = self._check(keypoints_2d, "keypoints_2d", 2)
        if confidence is not None:
            confidence = self._check(confidence, "confidence", None)
            confidence = torch.nan_to_num(confidence, nan=0.0)
        values, valid, frame_valid = self._prepare_2d(keypoints_2d, confidence, intrinsics)
        encoded = (values - self.mean_2d) / self.std_2d
        encoded = encoded * valid
        return encoded, frame_valid

    def encode_3d(self, poses_3d: Tensor) -> Tensor:
        """``(..., J, 3)`` mm camera frame -> ``(..., 3(J-1))`` z-scored, root removed.

        The pose is made root-relative first (a no-op for root-relative input).
        """
        poses_3d = self._check(poses_3d, "poses_3d", 3)
        relative = poses_3d - poses_3d[..., self._root : self._root + 1, :]
        flat = split_root(relative, self._root).flatten(start_dim=-2)
        return (flat - self.mean_3d) / self.std_3d

    def decode_3d(self, encoded_3d: Tensor) -> Tensor:
        """``(..., 3(J-1))`` z-scored -> ``(..., J, 3)`` mm, camera frame, root at the origin."""
        if encoded_3d.shape[-1] != self.output_dim:
            raise ShapeError(f"encoded_3d: expected shape (..., {self.output_dim}), got {tuple(encoded_3d.shape)}")
        flat = encoded_3d * self.std_3d + self.mean_3d
        return insert_root(flat.unflatten(-1, (self.num_joints - 1, 3)), self._root)

    # ------------------------------------------------------------------------------ statistics
    def _accumulate(self, moments_2d: Moments, moments_3d: Moments, keypoints_2d, confidence, poses_3d,
                    intrinsics: Intrinsics | None = None) -> None:
        keypoints_2d = self._check(keypoints_2d, "keypoints_2d", 2)
        poses_3d = self._check(poses_3d, "poses_3d", 3)
        if confidence is not None:
            confidence = torch.nan_to_num(self._check(confidence, "confidence", None), nan=0.0)
        if keypoints_2d.shape[:-2] != poses_3d.shape[:-2]:
            raise ShapeError(f"keypoints_2d has frames {tuple(keypoints_2d.shape[:-2])} but poses_3d has "
                             f"{tuple(poses_3d.shape[:-2])}")
        bad = (~torch.isfinite(poses_3d)).sum()
        if bad:
            raise ShapeError(f"poses_3d: {int(bad)} non-finite values in the training poses")
        values, valid, _ = self._prepare_2d(keypoints_2d, confidence, intrinsics)
        moments_2d.add(values.reshape(-1, self.input_dim), valid.reshape(-1, self.input_dim))
        poses_3d = poses_3d.reshape(-1, self.num_joints, 3)
        relative = poses_3d - poses_3d[:, self._root : self._root + 1, :]
        flat_3d = split_root(relative, self._root).flatten(start_dim=-2)
        moments_3d.add(flat_3d, torch.ones_like(flat_3d))

    def _store(self, moments_2d: Moments, moments_3d: Moments) -> None:
        if not bool((moments_2d.count > 0).any()):
            raise ShapeError("no valid 2D pose (root and one more joint) in the training data")
        if not bool((moments_3d.count > 0).all()):
            raise ShapeError("no 3D pose in the training data")
        device = self.mean_2d.device
        with torch.no_grad():
            for buffer, value in zip(
                (self.mean_2d, self.std_2d, self.mean_3d, self.std_3d), moments_2d.mean_std() + moments_3d.mean_std()
            ):
                buffer.copy_(value.to(device))
            self.fitted.fill_(1)

    def fit(self, keypoints_2d, confidence, poses_3d, chunk_size: int = 262_144,
            intrinsics: Intrinsics | None = None) -> "PoseNormalizer":
        """Compute the statistics from training data (arrays or tensors), in chunks of frames.

        Args:
            keypoints_2d: ``(N, J, 2)`` px. confidence: ``(N, J)`` or None.
            poses_3d: ``(N, J, 3)`` mm camera frame (made root-relative here); must be finite.
            intrinsics: the cameras, ``(N, 2)`` focal etc. or one camera's ``(2,)`` ("camera" encoding).
        """
        keypoints_2d, poses_3d = torch.as_tensor(keypoints_2d), torch.as_tensor(poses_3d)
        confidence = None if confidence is None else torch.as_tensor(confidence)
        if intrinsics is not None:
            frames = keypoints_2d.shape[:1]
            intrinsics = intrinsics.map(lambda value: value.expand(frames + value.shape[-1:]))
        moments_2d, moments_3d = Moments(self.input_dim), Moments(self.output_dim)
        for start in range(0, keypoints_2d.shape[0], chunk_size):
            chunk = slice(start, start + chunk_size)
            self._accumulate(
                moments_2d,
                moments_3d,
                keypoints_2d[chunk],
                None if confidence is None else confidence[chunk],
                poses_3d[chunk],
                None if intrinsics is None else intrinsics.map(lambda value: value[chunk]),
            )
        self._store(moments_2d, moments_3d)
        return self

    def fit_source(self, source, chunk_size: int = 65_536, seed: int = 0) -> "PoseNormalizer":
        """Compute the statistics from every sample of a batch source (read in order, in chunks).

        The source's own augmentation, if any, is driven by a generator seeded with ``seed``. A source
        of pairs (one with a ``single_frames`` source) is fitted on those single frames. The batches'
        intrinsics (``focal``, ``principal``, ...) serve the ``"camera"`` encoding.
        """
        source = getattr(source, "single_frames", source)
        total = len(source)
        if total == 0:
            raise PoseliftError("cannot fit the pose statistics: the training data is empty")
        generator = torch.Generator().manual_seed(seed)
        moments_2d, moments_3d = Moments(self.input_dim), Moments(self.output_dim)
        for start in range(0, total, chunk_size):
            batch = source.batch(torch.arange(start, min(start + chunk_size, total)), generator)
            self._accumulate(moments_2d, moments_3d, batch["keypoints_2d"], batch.get("confidence"), batch["poses_3d"],
                             Intrinsics.from_batch(batch))
        self._store(moments_2d, moments_3d)
        return self
