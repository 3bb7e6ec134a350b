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
camera-aware 2D encoding reads. Single frames and windows share one augmentation
(:class:`AugmentedSource`: a window is one sample, filmed by one camera).
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
PER_FRAME_KEYS = ("keypoints_2d", "confidence", "poses_3d", "root_3d", "frame")     # (B, T, ...) in a sample of T


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


class AugmentedSource(torch.utils.data.Dataset):
    """What :class:`FrameSource` and :class:`WindowSource` share: a sample is ``T`` frames of one split
    (one frame, or ``T`` consecutive ones) filmed by ONE camera, and augmented as ONE sample.

    Per sample: the camera (the sample's own, or with virtual cameras one drawn uniformly from
    :attr:`camera_pool`; or, for a ``random_cameras.fraction`` of the samples, a random camera), the body
    size (the same bone factors on every frame) and the mirror decision. Per frame: joint dropout and the
    detector's draws (correlated in time over the sample's frames, AR(1) as in the benchmark's stored
    ``noisy`` 2D, :func:`~poselift.data.noise.simulate_detector`). Subclasses set :attr:`frames` (or
    window starts) and call :meth:`_setup_augmentation`; :meth:`_render` films ``(B, T)`` frames.
    """

    def _setup_augmentation(self, benchmark: Benchmark, input: str, cameras, reference_frames: Tensor,
                            virtual_cameras: list[Camera] | None, flip: bool, noise: DetectorNoiseConfig | None,
                            joint_dropout: float, random_cameras: RandomCameraConfig | None,
                            body_scale: BodyScaleConfig | None) -> None:
        """Keep the augmentation's settings (the arguments of :class:`FrameSource`); ``reference_frames (F,)``:
        the frames whose median person size in the chosen cameras' images (every 10th frame) scales the
        detector error of random cameras."""
        if input not in INPUTS:
            raise PoseliftError(f"unknown 2D input {input!r}; use one of {', '.join(INPUTS)}")
        self.benchmark = benchmark
        self.input = input
        self.camera_ids = torch.as_tensor(list(cameras), dtype=torch.long)
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
            stored = benchmark.keypoints_2d["gt"][self.camera_ids[:, None], reference_frames[None, ::10]]
            self._reference_size_px = float(pose_scale(stored, H36M17.root_index).median())

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch(torch.tensor([index])).items()}

    @property
    def camera_pool(self) -> torch.Tensor:
        """Camera indices a sample can be filmed by, (P,): the chosen benchmark cameras, then the
        virtual ones (numbered after the benchmark's cameras)."""
        first_virtual = len(self.benchmark.cameras)
        virtual = torch.arange(first_virtual, first_virtual + len(self.virtual_cameras))
        return torch.cat([self.camera_ids, virtual])

    def _pool_position(self, indices: Tensor, generator: torch.Generator | None) -> Tensor:
        """Position in :attr:`camera_pool` (B,) of each sample's camera: its own (``indices % C``), or,
        with virtual cameras, one drawn uniformly from the pool."""
        if self.virtual_cameras:
            return torch.randint(len(self.camera_pool), (len(indices),), generator=generator)
        return indices % len(self.camera_ids)

    @property
    def _projects(self) -> bool:
        """Whether any sample may need its 2D projected on the fly (rather than read from the benchmark)."""
        return bool(self.virtual_cameras) or self.random_cameras is not None or self.body_scale is not None

    def _render(self, frame: Tensor, camera: Tensor, generator: torch.Generator | None) -> dict[str, Tensor]:
        """Samples of ``T`` frames, ``frame (B, T)``, each filmed by ONE camera, ``camera (B,)`` (benchmark
        cameras, then virtual ones), augmented as configured.

        Returns per frame: keypoints_2d (B,T,17,2) px, confidence (B,T,17), poses_3d (B,T,17,3) mm camera
        frame root-relative, root_3d (B,T,3) mm camera frame, frame (B,T); per sample: rotation (B,3,3)
        world->camera, focal (B,2) px, principal (B,2) px, radial (B,3), tangential (B,2), image_size (B,2),
        camera (B,) (:data:`RANDOM_CAMERA` for a random one). Benchmark cameras give their stored 2D;
        virtual and random ones, and every body-scaled pose, are projected on the fly (with the detector
        model for ``noisy`` input).

        The random draws, in order: bone factors (B,17), random-camera choice (B,) and cameras, detector,
        mirror (B,), dropout (B,T,17). With ``T = 1`` every draw has the numbers (and the values) of the
        single-frame code it replaced, so a :class:`FrameSource` draws exactly as before for a seed.
        """
        params = {key: value[camera] for key, value in self._cameras.items()}
        world = self.benchmark.poses_3d_world[frame]                                   # (B, T, 17, 3)
        if self.body_scale is not None:                           # one body per sample: its factors on every frame
            factors = draw_bone_scales(len(frame), generator, self.body_scale)
            world = scale_bones(world, factors[:, None].expand(world.shape[:-1]))
        random = torch.zeros(len(frame), dtype=torch.bool)
        if self.random_cameras is not None:
            random = torch.rand(len(frame), generator=generator) < self.random_cameras.fraction
            drawn = _draw_sample_cameras(world[random], generator, self.random_cameras)
            params = {key: value.index_put((random,), drawn[key]) if key in CAMERA_KEYS else value
                      for key, value in params.items()}
            camera = camera.masked_fill(random, RANDOM_CAMERA)
        poses_cam = to_camera_frame(world, params["rotation"][:, None], params["position"][:, None])
        keypoints, confidence = self._keypoints(poses_cam, params, frame, camera, random, generator)
        root = poses_cam[..., H36M17.root_index, :]
        sample = dict(keypoints_2d=keypoints, confidence=confidence, poses_3d=poses_cam - root[..., None, :],
                      root_3d=root, tangential=params["tangential"])
        if self.flip:
            sample = self._mirror_half(sample, params["principal"], generator)
        if self.joint_dropout > 0:
            sample["keypoints_2d"], sample["confidence"] = self._drop_joints(sample["keypoints_2d"],
                                                                             sample["confidence"], generator)
        return dict(keypoints_2d=sample["keypoints_2d"].float(), confidence=sample["confidence"].float(),
                    poses_3d=sample["poses_3d"].float(), root_3d=sample["root_3d"].float(),
                    rotation=params["rotation"], focal=params["focal"], principal=params["principal"],
                    radial=params["radial"], tangential=sample["tangential"], image_size=params["image_size"],
                    camera=camera, frame=frame)

    def _keypoints(self, poses_cam: Tensor, params: dict[str, Tensor], frame: Tensor, camera: Tensor, random: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """2D ``(B, T, 17, 2)`` px and confidences ``(B, T, 17)`` of ``poses_cam (B, T, 17, 3)`` mm filmed by
        the samples' cameras (``params``: per sample): the benchmark's stored 2D for a benchmark camera and
        an unscaled body, else the projection (through the detector model for ``noisy`` input)."""
        if not self._projects:
            return (self.benchmark.keypoints_2d[self.input][camera[:, None], frame],
                    self.benchmark.confidence[self.input][camera[:, None], frame])
        keypoints = project_points(poses_cam, params["focal"][:, None], params["principal"][:, None],
                                   params["radial"][:, None], params["tangential"][:, None])
        confidence = torch.ones(keypoints.shape[:-1])
        if self.input == "noisy":
            keypoints, confidence = self._detect(keypoints, random, generator)
        stored = (camera >= 0) & (camera < len(self.benchmark.cameras)) & (self.body_scale is None)
        stored_camera = camera.clamp(min=0, max=len(self.benchmark.cameras) - 1)    # real draws keep stored 2D
        stored_keypoints = self.benchmark.keypoints_2d[self.input][stored_camera[:, None], frame]
        stored_confidence = self.benchmark.confidence[self.input][stored_camera[:, None], frame]
        keypoints = torch.where(stored[:, None, None, None], stored_keypoints, keypoints)
        confidence = torch.where(stored[:, None, None], stored_confidence, confidence)
        return keypoints, confidence

    def _detect(self, keypoints_px: Tensor, random: Tensor, generator: torch.Generator | None):
        """The detector model on exact projections ``(B, T, J, 2)`` px, each sample's ``T`` frames one clip
        (AR(1) in time; independent draws when ``T = 1``); for the samples of random cameras
        (``random (B,)``) its error is scaled by the person's size in the image (mean over the sample's
        frames) over the benchmark's median size."""
        clip_lengths = None if keypoints_px.shape[1] == 1 else [keypoints_px.shape[1]]   # (B, T) : B clips of T
        if not bool(random.any()):
            return simulate_detector(keypoints_px, generator, self.noise, clip_lengths=clip_lengths)
        size = pose_scale(keypoints_px, H36M17.root_index).mean(dim=1) / self._reference_size_px
        scale = torch.where(random, size, torch.ones_like(size))[:, None, None, None]
        detected, confidence = simulate_detector(keypoints_px / scale, generator, self.noise,
                                                 clip_lengths=clip_lengths)
        return detected * scale, confidence

    def _mirror_half(self, sample: dict[str, Tensor], principal: Tensor,
                     generator: torch.Generator | None) -> dict[str, Tensor]:
        """Mirror half of the samples (one draw per sample, for all its frames): 2D ``(B, T, 17, 2)`` about the
        principal point ``(B, 2)`` px, 3D x -> -x, left and right swapped, the lens's p2 turned over."""
        mirror = torch.rand(len(principal), generator=generator) < 0.5
        flipped_2d = sample["keypoints_2d"][..., self._flip_permutation, :].clone()
        flipped_2d[..., 0] = 2 * principal[:, None, None, 0] - flipped_2d[..., 0]
        x_negated = torch.tensor([-1.0, 1.0, 1.0])
        per_frame = mirror[:, None, None]
        # the mirror image of a lens: x -> -x turns p2's term over (radial and p1's terms are symmetric)
        return dict(keypoints_2d=torch.where(per_frame[..., None], flipped_2d, sample["keypoints_2d"]),
                    confidence=torch.where(per_frame, sample["confidence"][..., self._flip_permutation],
                                           sample["confidence"]),
                    poses_3d=torch.where(per_frame[..., None], sample["poses_3d"][..., self._flip_permutation, :]
                                         * x_negated, sample["poses_3d"]),
                    root_3d=torch.where(per_frame, sample["root_3d"] * x_negated, sample["root_3d"]),
                    tangential=torch.where(mirror[:, None], sample["tangential"] * torch.tensor([1.0, -1.0]),
                                           sample["tangential"]))

    def _drop_joints(self, keypoints: Tensor, confidence: Tensor,
                     generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Hide each joint of each frame with probability :attr:`joint_dropout` (NaN 2D, confidence 0),
        independently per frame as a detector loses joints; never the root."""
        hidden = torch.rand(confidence.shape, generator=generator) < self.joint_dropout
        hidden[..., H36M17.root_index] = False                    # the root anchors the 2D normalisation
        return keypoints.masked_fill(hidden[..., None], float("nan")), confidence.masked_fill(hidden, 0.0)


def _draw_sample_cameras(world: Tensor, generator: torch.Generator | None,
                         config: RandomCameraConfig) -> dict[str, Tensor]:
    """One random camera per sample of ``T`` frames, ``world (B, T, 17, 3)`` mm: :func:`draw_cameras` on the
    sample's joints of every frame as one point set ``(B, T * 17, 3)``, aimed at the pelvis of its middle
    frame, so every joint of every frame lies inside the image and in front of the camera. The keys of
    :data:`CAMERA_KEYS`, (B, ...)."""
    count, length, joints = world.shape[:3]
    middle_root = (length // 2) * joints + H36M17.root_index
    return draw_cameras(world.reshape(count, length * joints, 3), generator, config, root_index=middle_root)


class FrameSource(AugmentedSource):
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
        self.frames = torch.nonzero(benchmark.frame_mask(split)).squeeze(1)[::frame_stride]
        self._setup_augmentation(benchmark, input, cameras, self.frames, virtual_cameras, flip, noise, joint_dropout,
                                 random_cameras, body_scale)

    def __len__(self) -> int:
        return len(self.frames) * len(self.camera_ids)

    def frame_and_pool_position(self, indices: torch.Tensor, generator: torch.Generator | None = None):
        """Frame (B,) and position in :attr:`camera_pool` (B,) of each sample: the sample's own camera,
        or, with virtual cameras, one drawn uniformly from the pool."""
        position = self._pool_position(indices, generator)
        return self.frames[indices // len(self.camera_ids)], position

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
        ``noisy`` input). Samples of one frame of :meth:`AugmentedSource._render`."""
        rendered = self._render(frame[:, None], camera, generator)
        for key in PER_FRAME_KEYS:
            rendered[key] = rendered[key][:, 0]
        return rendered


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


class WindowSource(AugmentedSource):
    """Sliding windows of ``length`` consecutive frames inside clips, per camera, augmented like
    :class:`FrameSource` with a window as one sample.

    Sample ``i`` is window start ``starts[i // C]`` seen by camera ``cameras[i % C]``. Clips shorter
    than ``length`` give no window (use :func:`poselift.lift` style padding at inference).

    Augmentation (the arguments of :class:`FrameSource`; all off by default, and then a batch is the
    benchmark's stored 2D and 3D): per window ONE camera for all its frames (a virtual camera drawn
    uniformly from the pool, or for a ``random_cameras.fraction`` of the windows a random camera), ONE
    set of bone factors, ONE mirror decision; joint dropout is drawn per frame (the root is never
    hidden). ``noisy`` input through virtual or random cameras, or of scaled bodies, gets the detector
    model with each window one clip: its error is correlated in time (AR(1), as the benchmark's stored
    ``noisy`` 2D), and for random cameras scaled by the person's mean size in the window's image over
    the benchmark's median size. A random camera is drawn for the joints of ALL the window's frames at
    once (aimed at the pelvis of its middle frame), so every joint of every frame of the window is
    inside the image (``margin_px`` from its border) and in front of the camera, however the person
    moves; a window whose motion fits no camera of the ranges (several metres of travel) raises
    :class:`~poselift.errors.ShapeError`. Windows filmed by a benchmark camera, with unscaled bodies,
    keep the benchmark's stored 2D.
    """

    def __init__(self, benchmark: Benchmark, length: int, split: str = "train", input: str = "gt",
                 cameras=(0, 1, 2, 3), stride: int = 1, virtual_cameras: list[Camera] | None = None,
                 flip: bool = False, noise: DetectorNoiseConfig | None = None, joint_dropout: float = 0.0,
                 random_cameras: RandomCameraConfig | None = None, body_scale: BodyScaleConfig | None = None):
        if length < 1:
            raise PoseliftError(f"window length must be >= 1, got {length}")
        self.length = length
        clip_length = torch.tensor([clip["length"] for clip in benchmark.clips])
        fits = benchmark.frame_in_clip + length <= clip_length[benchmark.clip_index]
        in_split = benchmark.frame_mask(split)
        starts = torch.nonzero(fits & in_split).squeeze(1)
        self.starts = starts[benchmark.frame_in_clip[starts] % stride == 0]
        self._setup_augmentation(benchmark, input, cameras, torch.nonzero(in_split).squeeze(1), virtual_cameras,
                                 flip, noise, joint_dropout, random_cameras, body_scale)

    def __len__(self) -> int:
        return len(self.starts) * len(self.camera_ids)

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """keypoints_2d (B,T,17,2) px, confidence (B,T,17), poses_3d (B,T,17,3) mm root-relative camera
        frame, root_3d (B,T,3) mm camera frame, focal (B,T,2), principal (B,T,2), radial (B,T,3),
        tangential (B,T,2) (the window's camera's, for every frame; a mirrored window's are its mirror
        image's), image_size (B,2), camera (B,) (:data:`RANDOM_CAMERA` for a random one), frame (B,T)."""
        position = self._pool_position(indices, generator)
        frame = self.starts[indices // len(self.camera_ids)][:, None] + torch.arange(self.length)
        rendered = self._render(frame, self.camera_pool[position], generator)
        intrinsics = {key: rendered[key][:, None].expand(-1, self.length, -1) for key in INTRINSIC_KEYS}
        return dict({key: rendered[key] for key in PER_FRAME_KEYS}, **intrinsics, image_size=rendered["image_size"],
                    camera=rendered["camera"])


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
