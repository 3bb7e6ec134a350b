"""Batch sources over a built benchmark: single frames, pairs of frames, synchronised view pairs
(2D and cameras only: :class:`MultiViewSource`, also over real recordings), sliding windows.

Data lives in tensors: a source maps a tensor of sample indices to a whole batch at once
(``source.batch(indices, generator)``), so the training loop never loops over samples in Python.
Each source is also a ``torch.utils.data.Dataset`` (``source[i]`` is a batch of one, squeezed) for
users who prefer a ``DataLoader``.

Frames are indexed frame-major: sample ``i`` is frame ``frames[i // C]`` seen by camera
``cameras[i % C]``. 3D targets are in the camera frame, millimetres, root-relative (pelvis = 0).
Every batch with 2D carries the intrinsics of the camera that filmed each sample (``focal``,
``principal``, ``radial``, ``tangential``, :class:`poselift.intrinsics.Intrinsics`), which the
camera-aware 2D encoding reads.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from poselift.camera import Camera, project_points, stack_intrinsics, to_camera_frame, triangulate_dlt
from poselift.data.benchmark import Benchmark
from poselift.data.body_scale import BodyScaleConfig, draw_bone_scales, scale_bones
from poselift.data.noise import DetectorNoiseConfig, simulate_detector
from poselift.data.random_cameras import CAMERA_KEYS, RandomCameraConfig, draw_cameras
from poselift.encoding.canonical import pose_scale
from poselift.errors import PoseliftError, ShapeError
from poselift.skeleton import H36M17

INPUTS = ("gt", "noisy")
RANDOM_CAMERA = -1          # the ``camera`` of a sample filmed by a random camera
INTRINSIC_KEYS = ("focal", "principal", "radial", "tangential")


class BatchSource(Protocol):
    """What every batch source below is, and what the training loop and the encoders'
    ``fit_source`` read data from: ``batch(indices (B,) long, generator)`` -> a dict of tensors."""

    def __len__(self) -> int: ...

    def batch(self, indices: Tensor, generator: torch.Generator) -> dict[str, Tensor]: ...


def camera_tensors(cameras: list[Camera]) -> dict[str, torch.Tensor]:
    """Camera parameters stacked as float32 tensors: rotation (C,3,3) world->camera, position (C,3)
    camera centre in the world (mm), focal (C,2), principal (C,2), radial (C,3), tangential (C,2),
    image_size (C,2) (w, h)."""
    intrinsics = stack_intrinsics(cameras)
    as_tensor = lambda values: torch.as_tensor(np.asarray(values), dtype=torch.float32)  # noqa: E731
    return dict(
        rotation=as_tensor([camera.R for camera in cameras]),
        position=as_tensor([camera.centre for camera in cameras]),
        focal=as_tensor(intrinsics["focal"]), principal=as_tensor(intrinsics["centre"]),
        radial=as_tensor(intrinsics["k"]), tangential=as_tensor(intrinsics["p"]),
        image_size=as_tensor([(camera.width, camera.height) for camera in cameras]),
    )


class FrameSource(torch.utils.data.Dataset):
    """Single frames of one split seen by a set of cameras.

    Args:
        benchmark: a loaded :class:`~poselift.data.benchmark.Benchmark`.
        split: "train", "test" or "all".
        input: "gt" (exact projections) or "noisy" (simulated detector).
        cameras: indices of the benchmark's cameras to use (Protocol #3 trains on 0-2, tests on 3).
        virtual_cameras: extra cameras for augmentation: each training sample is re-filmed by a
            uniformly drawn camera from ``cameras + virtual_cameras`` (projected on the fly; ``noisy``
            input gets the detector noise model frame by frame). None = off.
        flip: mirror half of the samples (2D about the principal point, 3D x -> -x, left/right swapped).
        frame_stride: keep every k-th frame (e.g. 5 = 10 fps at 50 Hz).
        noise: the detector model used for virtual cameras with ``noisy`` input.
        joint_dropout: probability of hiding each 2D joint of a sample (NaN, confidence 0), so a model
            learns to lift with missing joints.
        random_cameras: a share (``random_cameras.fraction``) of the samples is re-filmed by a camera
            drawn for that sample (:mod:`poselift.data.random_cameras`: distance, height, roll, lens,
            image size, the person anywhere in the image); their ``camera`` is :data:`RANDOM_CAMERA`.
            With ``noisy`` input their detector error is the model's times the person's size in the
            image over the benchmark's median size (a detector works on a crop of the person, so its
            error in pixels grows with them). None = off.
        body_scale: every sample's bone lengths are scaled before it is filmed
            (:mod:`poselift.data.body_scale`); the 3D target changes with them, and the 2D is projected
            (with the detector model for ``noisy`` input). None = off.
    """

    def __init__(self, benchmark: Benchmark, split: str = "train", input: str = "gt",
                 cameras=(0, 1, 2, 3), virtual_cameras: list[Camera] | None = None, flip: bool = False,
                 frame_stride: int = 1, noise: DetectorNoiseConfig | None = None, joint_dropout: float = 0.0,
                 random_cameras: RandomCameraConfig | None = None, body_scale: BodyScaleConfig | None = None):
        if input not in INPUTS:
            raise PoseliftError(f"unknown 2D input {input!r}; use one of {', '.join(INPUTS)}")
        self.benchmark = benchmark
        self.input = input
        self.camera_ids = torch.as_tensor(list(cameras), dtype=torch.long)
        self.frames = torch.nonzero(benchmark.frame_mask(split)).squeeze(1)[::frame_stride]
        self.virtual_cameras = list(virtual_cameras or [])
        self.flip = flip
        self.joint_dropout = joint_dropout
        self.random_cameras = random_cameras
        self.body_scale = body_scale
        self.noise = noise if noise is not None else benchmark.noise_config()
        self._cameras = camera_tensors(benchmark.cameras + self.virtual_cameras)
        self._flip_permutation = torch.as_tensor(H36M17.flip_permutation)
        self._reference_size_px = None
        if random_cameras is not None:     # the median person size (every 10th frame): the scale of the noise
            stored = benchmark.keypoints_2d["gt"][self.camera_ids[:, None], self.frames[None, ::10]]
            self._reference_size_px = float(pose_scale(stored, H36M17.root_index).median())

    def __len__(self) -> int:
        return len(self.frames) * len(self.camera_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    @property
    def camera_pool(self) -> torch.Tensor:
        """Camera indices a sample can be filmed by, (P,): the chosen benchmark cameras, then the
        virtual ones (numbered after the benchmark's cameras)."""
        first_virtual = len(self.benchmark.cameras)
        virtual = torch.arange(first_virtual, first_virtual + len(self.virtual_cameras))
        return torch.cat([self.camera_ids, virtual])

    def frame_and_pool_position(self, indices: torch.Tensor, generator: torch.Generator | None = None):
        """Frame (B,) and position in :attr:`camera_pool` (B,) of each sample: the sample's own camera,
        or, with virtual cameras, one drawn uniformly from the pool."""
        count = len(self.camera_ids)
        position = indices % count
        if self.virtual_cameras:
            position = torch.randint(len(self.camera_pool), (len(indices),), generator=generator)
        return self.frames[indices // count], position

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """A batch: keypoints_2d (B,17,2) px, confidence (B,17), poses_3d (B,17,3) mm camera frame
        root-relative, root_3d (B,3) mm camera frame, rotation (B,3,3) world->camera (of the camera
        that filmed the frame; a mirrored sample's 3D is that camera's view reflected), focal (B,2) px,
        principal (B,2) px, radial (B,3), tangential (B,2) (that camera's intrinsics; a mirrored sample's
        are its mirror image's), image_size (B,2), camera (B,) (:data:`RANDOM_CAMERA` for a random one),
        frame (B,)."""
        frame, position = self.frame_and_pool_position(indices, generator)
        return self.render(frame, self.camera_pool[position], generator)

    def render(self, frame: torch.Tensor, camera: torch.Tensor,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Frames (B,) filmed by cameras (B,) (benchmark cameras, then virtual ones), augmented as
        configured; the keys of :meth:`batch`. Benchmark cameras give their stored 2D; virtual and
        random ones, and every body-scaled pose, are projected on the fly (with the detector model for
        ``noisy`` input)."""
        params = {key: value[camera] for key, value in self._cameras.items()}
        world = self.benchmark.poses_3d_world[frame]
        if self.body_scale is not None:
            world = scale_bones(world, draw_bone_scales(len(frame), generator, self.body_scale))
        random = torch.zeros(len(frame), dtype=torch.bool)
        if self.random_cameras is not None:
            random = torch.rand(len(frame), generator=generator) < self.random_cameras.fraction
            drawn = draw_cameras(world[random], generator, self.random_cameras)
            params = {key: value.index_put((random,), drawn[key]) if key in CAMERA_KEYS else value
                      for key, value in params.items()}
            camera = camera.masked_fill(random, RANDOM_CAMERA)
        poses_cam = to_camera_frame(world, params["rotation"], params["position"])
        if self.virtual_cameras or self.random_cameras is not None or self.body_scale is not None:
            keypoints = project_points(poses_cam, params["focal"], params["principal"], params["radial"],
                                       params["tangential"])
            confidence = torch.ones(keypoints.shape[:-1])
            if self.input == "noisy":
                keypoints, confidence = self._detect(keypoints, random, generator)
            stored = (camera >= 0) & (camera < len(self.benchmark.cameras)) & (self.body_scale is None)
            stored_camera = camera.clamp(min=0, max=len(self.benchmark.cameras) - 1)    # real draws keep stored 2D
            stored_keypoints = self.benchmark.keypoints_2d[self.input][stored_camera, frame]
            stored_confidence = self.benchmark.confidence[self.input][stored_camera, frame]
            keypoints = torch.where(stored[:, None, None], stored_keypoints, keypoints)
            confidence = torch.where(stored[:, None], stored_confidence, confidence)
        else:
            keypoints = self.benchmark.keypoints_2d[self.input][camera, frame]
            confidence = self.benchmark.confidence[self.input][camera, frame]
        root = poses_cam[:, H36M17.root_index]
        poses_rel = poses_cam - root[:, None]
        tangential = params["tangential"]
        if self.flip:
            mirror = torch.rand(len(frame), generator=generator) < 0.5
            flipped_2d = keypoints[:, self._flip_permutation].clone()
            flipped_2d[..., 0] = 2 * params["principal"][:, None, 0] - flipped_2d[..., 0]
            flipped_3d = poses_rel[:, self._flip_permutation] * torch.tensor([-1.0, 1.0, 1.0])
            keypoints = torch.where(mirror[:, None, None], flipped_2d, keypoints)
            confidence = torch.where(mirror[:, None], confidence[:, self._flip_permutation], confidence)
            poses_rel = torch.where(mirror[:, None, None], flipped_3d, poses_rel)
            root = torch.where(mirror[:, None], root * torch.tensor([-1.0, 1.0, 1.0]), root)
            # the mirror image of a lens: x -> -x turns p2's term over (radial and p1's terms are symmetric)
            tangential = torch.where(mirror[:, None], tangential * torch.tensor([1.0, -1.0]), tangential)
        if self.joint_dropout > 0:
            hidden = torch.rand(confidence.shape, generator=generator) < self.joint_dropout
            hidden[:, H36M17.root_index] = False                    # the root anchors the 2D normalisation
            keypoints = keypoints.masked_fill(hidden[..., None], float("nan"))
            confidence = confidence.masked_fill(hidden, 0.0)
        return dict(keypoints_2d=keypoints.float(), confidence=confidence.float(), poses_3d=poses_rel.float(),
                    root_3d=root.float(), rotation=params["rotation"], focal=params["focal"],
                    principal=params["principal"], radial=params["radial"], tangential=tangential,
                    image_size=params["image_size"], camera=camera, frame=frame)

    def _detect(self, keypoints_px: Tensor, random: Tensor, generator: torch.Generator | None):
        """The detector model on exact projections ``(B, J, 2)`` px; for the samples of random cameras
        (``random (B,)``) its error is scaled by the person's size over the benchmark's median size."""
        if not bool(random.any()):
            return simulate_detector(keypoints_px, generator, self.noise)
        size = pose_scale(keypoints_px, H36M17.root_index) / self._reference_size_px
        scale = torch.where(random, size, torch.ones_like(size))[:, None, None]
        detected, confidence = simulate_detector(keypoints_px / scale, generator, self.noise)
        return detected * scale, confidence


class FramePairSource(torch.utils.data.Dataset):
    """Pairs of frames for siamese training, drawn from a :class:`FrameSource`.

    View 1 of pair ``i`` is sample ``i`` of ``frames`` (with its augmentation). View 2 is, for a
    ``same_frame_fraction`` of the pairs, the same frame, otherwise a random frame of the source,
    filmed in both cases by another camera of the source's pool (benchmark cameras and virtual
    ones), drawn uniformly: the two views of a pair never share a camera, as in the siamese authors'
    code (vegesm/siamese-pose-estimation, ``PosNegBatchGenerator``). Mirroring is refused: it breaks the link between the 3D pose and
    the camera rotation that siamese losses rely on.
    """

    def __init__(self, frames: FrameSource, same_frame_fraction: float = 0.5):
        if frames.flip:
            raise PoseliftError("pairs of views cannot use flip augmentation (a mirrored view is not a rotation)")
        if not 0.0 <= same_frame_fraction <= 1.0:
            raise PoseliftError(f"same_frame_fraction must be in [0, 1], got {same_frame_fraction}")
        if len(frames.camera_pool) < 2 and same_frame_fraction > 0:
            raise PoseliftError("same-frame pairs need at least two cameras")
        self.single_frames = frames          # also what the pose statistics are fitted on
        self.same_frame_fraction = same_frame_fraction

    def __len__(self) -> int:
        return len(self.single_frames)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The keys of :meth:`FrameSource.batch` with suffix ``_1`` and ``_2`` for the two views, plus
        ``same_frame`` (B,) bool."""
        source, pool_size = self.single_frames, len(self.single_frames.camera_pool)
        frame_1, position_1 = source.frame_and_pool_position(indices, generator)
        same_frame = torch.rand(len(indices), generator=generator) < self.same_frame_fraction
        random_frame = source.frames[torch.randint(len(source.frames), (len(indices),), generator=generator)]
        position_2 = (position_1 + torch.randint(1, max(pool_size, 2), (len(indices),), generator=generator)) % pool_size
        frame_2 = torch.where(same_frame, frame_1, random_frame)
        views = (source.render(frame_1, source.camera_pool[position_1], generator),
                 source.render(frame_2, source.camera_pool[position_2], generator))
        batch = {f"{key}_{number}": value for number, view in enumerate(views, start=1) for key, value in view.items()}
        batch["same_frame"] = same_frame
        return batch


class ViewPairSource(torch.utils.data.Dataset):
    """The same frame seen by two different cameras (for multi-view and siamese training).

    Sample ``i`` is frame ``frames[i // P]`` with the ordered camera pair ``pairs[i % P]``.
    ``with_3d=False`` leaves every 3D quantity out of the batch (self-supervised training must not
    see 3D ground truth).
    """

    def __init__(self, benchmark: Benchmark, split: str = "train", input: str = "gt", cameras=(0, 1, 2, 3),
                 with_3d: bool = True, frame_stride: int = 1):
        if input not in INPUTS:
            raise PoseliftError(f"unknown 2D input {input!r}; use one of {', '.join(INPUTS)}")
        self.benchmark = benchmark
        self.input = input
        self.with_3d = with_3d
        camera_list = list(cameras)
        self.pairs = torch.tensor([(a, b) for a in camera_list for b in camera_list if a != b], dtype=torch.long)
        self.frames = torch.nonzero(benchmark.frame_mask(split)).squeeze(1)[::frame_stride]
        self._cameras = camera_tensors(benchmark.cameras)

    def __len__(self) -> int:
        return len(self.frames) * len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Keys with suffix _1 / _2 for the two views: keypoints_2d (B,17,2), confidence (B,17),
        rotation (B,3,3) world->camera, position (B,3) camera centre mm, focal (B,2), principal (B,2), radial (B,3),
        tangential (B,2), image_size (B,2), camera (B,); with 3D also poses_3d (B,17,3) root-relative
        camera frame and root_3d (B,3); plus frame (B,)."""
        frame = self.frames[indices // len(self.pairs)]
        pair = self.pairs[indices % len(self.pairs)]
        batch = {"frame": frame}
        for view, camera in (("1", pair[:, 0]), ("2", pair[:, 1])):
            batch[f"keypoints_2d_{view}"] = self.benchmark.keypoints_2d[self.input][camera, frame]
            batch[f"confidence_{view}"] = self.benchmark.confidence[self.input][camera, frame]
            batch[f"camera_{view}"] = camera
            for key, value in self._cameras.items():
                batch[f"{key}_{view}"] = value[camera]
            if self.with_3d:
                poses_cam = to_camera_frame(self.benchmark.poses_3d_world[frame], self._cameras["rotation"][camera],
                                            self._cameras["position"][camera])
                batch[f"root_3d_{view}"] = poses_cam[:, H36M17.root_index]
                batch[f"poses_3d_{view}"] = poses_cam - poses_cam[:, H36M17.root_index:H36M17.root_index + 1]
        return batch


class WindowSource(torch.utils.data.Dataset):
    """Sliding windows of ``length`` consecutive frames inside clips, per camera.

    Sample ``i`` is window start ``starts[i // C]`` seen by camera ``cameras[i % C]``. Clips shorter
    than ``length`` give no window (use :func:`poselift.lift` style padding at inference).
    """

    def __init__(self, benchmark: Benchmark, length: int, split: str = "train", input: str = "gt",
                 cameras=(0, 1, 2, 3), stride: int = 1):
        if input not in INPUTS:
            raise PoseliftError(f"unknown 2D input {input!r}; use one of {', '.join(INPUTS)}")
        if length < 1:
            raise PoseliftError(f"window length must be >= 1, got {length}")
        self.benchmark = benchmark
        self.input = input
        self.length = length
        self.camera_ids = torch.as_tensor(list(cameras), dtype=torch.long)
        clip_length = torch.tensor([clip["length"] for clip in benchmark.clips])
        fits = benchmark.frame_in_clip + length <= clip_length[benchmark.clip_index]
        starts = torch.nonzero(fits & benchmark.frame_mask(split)).squeeze(1)
        self.starts = starts[benchmark.frame_in_clip[starts] % stride == 0]
        self._cameras = camera_tensors(benchmark.cameras)

    def __len__(self) -> int:
        return len(self.starts) * len(self.camera_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """keypoints_2d (B,T,17,2), confidence (B,T,17), poses_3d (B,T,17,3) root-relative camera
        frame, root_3d (B,T,3), focal (B,T,2), principal (B,T,2), radial (B,T,3), tangential (B,T,2)
        (the camera's, for every frame), image_size (B,2), camera (B,), frame (B,T)."""
        count = len(self.camera_ids)
        frame = self.starts[indices // count][:, None] + torch.arange(self.length)
        camera = self.camera_ids[indices % count]
        poses_cam = to_camera_frame(self.benchmark.poses_3d_world[frame], self._cameras["rotation"][camera, None],
                                    self._cameras["position"][camera, None])
        root = poses_cam[:, :, H36M17.root_index]
        intrinsics = {key: self._cameras[key][camera, None].expand(-1, self.length, -1) for key in INTRINSIC_KEYS}
        return dict(keypoints_2d=self.benchmark.keypoints_2d[self.input][camera[:, None], frame],
                    confidence=self.benchmark.confidence[self.input][camera[:, None], frame],
                    poses_3d=poses_cam - root[:, :, None], root_3d=root, **intrinsics,
                    image_size=self._cameras["image_size"][camera], camera=camera, frame=frame)


class MultiViewSource(torch.utils.data.Dataset):
    """The same frame seen by two different cameras, with 2D, confidences and cameras only.

    Sample ``i`` is frame ``frames[i // P]`` with the ordered pair ``pairs[i % P]`` of the chosen
    benchmark cameras. With ``virtual_cameras`` each view's camera is instead drawn uniformly from the
    pool (the chosen cameras, then the virtual ones), the two different; a virtual camera's 2D is the
    projection of the frame triangulated from the chosen cameras' 2D (:func:`triangulate_dlt`,
    confidence-weighted), with each joint's confidence the mean of its real views' confidences. No
    3D ground truth is read, ever: not even for the augmentation.

    Args:
        benchmark: a loaded benchmark. split: "train", "test" or "all". input: "gt" or "noisy".
        cameras: benchmark camera indices (>= 2). virtual_cameras: extra cameras or None.
        frame_stride: keep every k-th frame.
    """

    def __init__(self, benchmark: Benchmark, split: str = "train", input: str = "gt", cameras=(0, 1, 2, 3),
                 virtual_cameras: list[Camera] | None = None, frame_stride: int = 1):
        if input not in INPUTS:
            raise PoseliftError(f"unknown 2D input {input!r}; use one of {', '.join(INPUTS)}")
        self.input = input
        frames = torch.nonzero(benchmark.frame_mask(split)).squeeze(1)[::frame_stride]
        self._setup(benchmark.keypoints_2d[input], benchmark.confidence[input], benchmark.cameras, cameras, frames,
                    virtual_cameras)

    @classmethod
    def from_recordings(cls, keypoints_2d, confidence, cameras: list[Camera],
                        virtual_cameras: list[Camera] | None = None) -> "MultiViewSource":
        """A source over synchronised recordings instead of a benchmark (e.g. real calibrated videos).

        Args:
            keypoints_2d: ``(C, F, J, 2)`` px of the C cameras over F frames (NaN where missing).
            confidence: ``(C, F, J)`` in [0, 1]. cameras: the C calibrated cameras.
        """
        keypoints = torch.as_tensor(np.asarray(keypoints_2d), dtype=torch.float32)
        confidence_t = torch.nan_to_num(torch.as_tensor(np.asarray(confidence), dtype=torch.float32))
        if keypoints.ndim != 4 or keypoints.shape[0] != len(cameras) or confidence_t.shape != keypoints.shape[:-1]:
            raise ShapeError(f"recordings: expected keypoints_2d (C={len(cameras)}, F, J, 2) and confidence "
                             f"(C, F, J), got {tuple(keypoints.shape)} and {tuple(confidence_t.shape)}")
        source = cls.__new__(cls)
        source.input = "recorded"
        source._setup(keypoints, confidence_t, list(cameras), range(len(cameras)), torch.arange(keypoints.shape[1]),
                      virtual_cameras)
        return source

    def _setup(self, keypoints_2d: Tensor, confidence: Tensor, real_cameras: list[Camera], cameras, frames: Tensor,
               virtual_cameras: list[Camera] | None) -> None:
        """Keep the chosen frames' 2D ``(C, F, J, 2)``/``(C, F, J)`` of every real camera (and triangulate
        them for the virtual cameras)."""
        camera_list = [int(camera) for camera in cameras]
        if len(camera_list) < 2:
            raise PoseliftError(f"multi-view training needs at least two cameras, got {camera_list}")
        self.camera_ids = torch.tensor(camera_list, dtype=torch.long)
        self.pairs = torch.tensor([(a, b) for a in camera_list for b in camera_list if a != b], dtype=torch.long)
        self.frames = frames
        self.virtual_cameras = list(virtual_cameras or [])
        self.num_real = len(real_cameras)
        self._cameras = camera_tensors(real_cameras + self.virtual_cameras)
        self._keypoints = keypoints_2d[:, frames].float()
        self._confidence = confidence[:, frames].float()
        self._triangulated = None
        if self.virtual_cameras:
            chosen = self.camera_ids
            self._triangulated = triangulate_dlt(self._keypoints[chosen], [real_cameras[i] for i in camera_list],
                                                 self._confidence[chosen])                      # (F, J, 3) world
            self._virtual_confidence = self._confidence[chosen].mean(dim=0)                        # (F, J)

    def __len__(self) -> int:
        return len(self.frames) * len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    @property
    def camera_pool(self) -> Tensor:
        """Camera indices a view can come from, ``(P,)``: the chosen benchmark cameras, then the virtual
        ones (numbered after the benchmark's cameras)."""
        virtual = torch.arange(self.num_real, self.num_real + len(self.virtual_cameras))
        return torch.cat([self.camera_ids, virtual])

    def _view(self, position: Tensor, camera: Tensor, suffix: str) -> dict[str, Tensor]:
        """One view of the frames at ``position`` (B,) in :attr:`frames` filmed by ``camera`` (B,)."""
        params = {key: value[camera] for key, value in self._cameras.items()}
        real_camera = camera.clamp(max=self.num_real - 1)
        keypoints = self._keypoints[real_camera, position]
        confidence = self._confidence[real_camera, position]
        if self._triangulated is not None:
            is_virtual = camera >= self.num_real
            points_cam = to_camera_frame(self._triangulated[position], params["rotation"], params["position"])
            projected = project_points(points_cam, params["focal"], params["principal"], params["radial"],
                                       params["tangential"])
            seen = torch.isfinite(projected).all(dim=-1) & (points_cam[..., 2] > 0)
            virtual_confidence = torch.where(seen, self._virtual_confidence[position], 0.0)
            projected = torch.where(seen[..., None], projected, torch.nan)
            keypoints = torch.where(is_virtual[:, None, None], projected, keypoints)
            confidence = torch.where(is_virtual[:, None], virtual_confidence, confidence)
        view = {"keypoints_2d": keypoints, "confidence": confidence, "camera": camera}
        view.update({key: params[key] for key in ("rotation", "position", "focal", "principal", "radial",
                                                  "tangential", "image_size")})
        return {f"{key}{suffix}": value for key, value in view.items()}

    def batch(self, indices: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Keys with suffix ``_1`` / ``_2``: keypoints_2d (B,J,2) px, confidence (B,J), rotation (B,3,3)
        world->camera, position (B,3) camera centre mm, focal (B,2), principal (B,2), radial (B,3),
        tangential (B,2), image_size (B,2), camera (B,); plus frame (B,). No 3D key."""
        position = indices // len(self.pairs)
        pair = self.pairs[indices % len(self.pairs)]
        camera_1, camera_2 = pair[:, 0], pair[:, 1]
        if self.virtual_cameras:
            pool = self.camera_pool
            first = torch.randint(len(pool), (len(indices),), generator=generator)
            second = (first + torch.randint(1, len(pool), (len(indices),), generator=generator)) % len(pool)
            camera_1, camera_2 = pool[first], pool[second]
        batch = {"frame": self.frames[position]}
        batch.update(self._view(position, camera_1, "_1"))
        batch.update(self._view(position, camera_2, "_2"))
        return batch
