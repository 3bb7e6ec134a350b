"""Random virtual cameras for training: a new camera drawn for every sample, looking at the person.

The benchmark films everybody with the four Human3.6M cameras (about 4-5 m away, 1.5 m high, a
1000 px image with a 48 degree diagonal field of view, the person near the image centre). Real
videos come from phones on tripods and in hands, webcams and telephoto lenses, near and far, with
the person anywhere in the image. :func:`draw_cameras` films each training pose with a camera drawn
from :class:`RandomCameraConfig`'s ranges (batched: every sample of a batch at once):

1. **Where**: at a horizontal distance ``distance_mm`` from the pose's pelvis (uniform), in a uniform
   direction (azimuth 0-360 degrees), the camera centre ``height_mm`` above the floor (uniform; the
   benchmark's floor is Z = 0). The elevation of the line of sight follows: with the defaults and a
   standing person (pelvis about 1 m high) from 19 degrees below the horizontal to 37 above.
2. **Lens and image**: an image size from ``image_sizes`` (landscape and portrait video, 4:3, the
   benchmark's square), the focal length log-uniform in ``focal_35mm`` (35 mm-film equivalent, phone
   wide to telephoto: ``focal_px = focal_35mm / 43.27 * image diagonal``), the principal point at the
   image centre, no lens distortion.
3. **Aim**: the camera looks at the pelvis, rolled about its optical axis by ``roll_deg`` (uniform),
   then turned so the pelvis lands on a uniformly drawn pixel of those where the person's box (as
   seen looking straight at them) fits in the image: the person appears anywhere they fit, with the
   rays (and the perspective) of that place, not a shifted copy of a centred view.
4. **Whole person**: a draw that leaves a joint outside the image (``margin_px`` inside its border)
   or closer than 100 mm to the camera is drawn again, up to ``attempts`` times; then the pelvis is
   put at the image centre with a fresh draw, and a sample that still does not fit is filmed from
   the farthest distance with the widest lens (which fits any human pose). So every camera sees the
   whole person, and the distances and focal lengths stay in their ranges; the draw favours the
   combinations where the person fits (a telephoto lens from nearby shows only a crouching person).

Reproducible: everything is drawn from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from poselift.camera import project_points, to_camera_frame
from poselift.errors import PoseliftError, ShapeError
from poselift.geometry import rotation_between
from poselift.intrinsics import FILM_DIAGONAL_MM
from poselift.skeleton import H36M17

MIN_DEPTH_MM = 100.0        # every joint at least this far in front of the camera
CAMERA_KEYS = ("rotation", "position", "focal", "principal", "radial", "tangential", "image_size")


@dataclass(frozen=True)
class RandomCameraConfig:
    """Ranges of the random cameras (see the module docstring); ``(low, high)`` pairs are inclusive.

    fraction: share of the training samples filmed by a random camera (the others keep their camera).
    distance_mm: horizontal distance from the pelvis to the camera centre.
    height_mm: camera centre above the floor.
    roll_deg: rotation about the optical axis.
    focal_35mm: focal length in 35 mm-film terms (log-uniform): 20 is a phone's ultra-wide-ish main
        camera, 26 a phone's main camera, 135 a telephoto.
    image_sizes: ``(width, height)`` px, drawn uniformly.
    margin_px: every joint at least this far inside the image border.
    attempts: draws before the pelvis is centred (see the module docstring).
    """

    fraction: float = 0.5
    distance_mm: tuple[float, float] = (2000.0, 8000.0)
    height_mm: tuple[float, float] = (300.0, 2500.0)
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    focal_35mm: tuple[float, float] = (20.0, 135.0)
    image_sizes: tuple[tuple[int, int], ...] = ((1920, 1080), (1080, 1920), (1440, 1080), (1000, 1000))
    margin_px: float = 10.0
    attempts: int = 8

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise PoseliftError(f"random cameras: fraction must be in [0, 1], got {self.fraction}")
        for name in ("distance_mm", "height_mm", "roll_deg", "focal_35mm"):
            low, high = getattr(self, name)
            if not low <= high:
                raise PoseliftError(f"random cameras: {name} must be (low, high) with low <= high, got {(low, high)}")
        if self.distance_mm[0] <= 0 or self.focal_35mm[0] <= 0:
            raise PoseliftError("random cameras: distances and focal lengths must be > 0")
        if not self.image_sizes or any(len(size) != 2 or min(size) <= 2 * self.margin_px for size in self.image_sizes):
            raise PoseliftError(f"random cameras: image_sizes must be (width, height) pairs larger than twice the "
                                f"margin, got {self.image_sizes}")
        if self.attempts < 1:
            raise PoseliftError(f"random cameras: attempts must be >= 1, got {self.attempts}")


def _uniform(count: int, bounds: tuple[float, float], generator: torch.Generator | None) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)


def look_at(position: Tensor, target: Tensor, roll_rad: Tensor) -> Tensor:
    """World->camera rotations ``(B, 3, 3)`` of cameras at ``position (B, 3)`` looking at ``target (B, 3)``
    (world frame, Z up, mm), image x to the right and y down (the horizon level), then rolled by
    ``roll_rad (B,)`` about the optical axis (the picture turns by that angle, clockwise on screen for a
    positive one). The line of sight must not be vertical."""
    forward = torch.nn.functional.normalize(target - position, dim=-1)
    up = forward.new_tensor([0.0, 0.0, 1.0]).expand_as(forward)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, up), dim=-1)
    down = torch.linalg.cross(forward, right)
    rotation = torch.stack([right, down, forward], dim=-2)
    cos, sin, zero, one = roll_rad.cos(), roll_rad.sin(), torch.zeros_like(roll_rad), torch.ones_like(roll_rad)
    roll = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1),
                        torch.stack([zero, zero, one], -1)], dim=-2)
    return roll @ rotation


def turn_axis_to(direction: Tensor) -> Tensor:
    """Rotations ``(B, 3, 3)`` taking the optical axis (0, 0, 1) to the unit vectors ``direction (B, 3)``
    (z > 0) by the smallest angle (:func:`poselift.geometry.rotation_between`)."""
    rotation = rotation_between(np.array([0.0, 0.0, 1.0]), direction.detach().cpu().double().numpy())
    return torch.from_numpy(rotation).to(direction)


def _draw(poses: Tensor, config: RandomCameraConfig, generator: torch.Generator | None, root_index: int,
          centred: bool = False, far_and_wide: bool = False) -> dict[str, Tensor]:
    """One draw of cameras for poses ``(B, J, 3)`` mm world (float64): the keys of :data:`CAMERA_KEYS`.

    The pelvis lands on a uniform pixel of the range where the person's box, as the camera sees them when
    looking straight at the pelvis, fits inside the image (the image centre when ``centred``; the box
    changes a little off the axis, which :func:`draw_cameras` checks)."""
    count, pelvis = poses.shape[0], poses[:, root_index]
    azimuth = 2 * math.pi * torch.rand(count, generator=generator, dtype=torch.float64)
    distance = _uniform(count, config.distance_mm, generator)
    height = _uniform(count, config.height_mm, generator)
    roll = torch.deg2rad(_uniform(count, config.roll_deg, generator))
    sizes = torch.tensor(config.image_sizes, dtype=torch.float64)
    image_size = sizes[torch.randint(len(sizes), (count,), generator=generator)]
    log_focal = _uniform(count, (math.log(config.focal_35mm[0]), math.log(config.focal_35mm[1])), generator)
    aim = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    if far_and_wide:
        distance = torch.full_like(distance, config.distance_mm[1])
        log_focal = torch.full_like(log_focal, math.log(config.focal_35mm[0]))
    if centred or far_and_wide:
        aim = torch.full_like(aim, 0.5)
    focal = log_focal.exp() / FILM_DIAGONAL_MM * image_size.norm(dim=-1)
    principal = image_size / 2
    position = torch.stack([pelvis[:, 0] + distance * azimuth.cos(), pelvis[:, 1] + distance * azimuth.sin(),
                            height], dim=-1)
    towards_pelvis = look_at(position, pelvis, roll)
    poses_cam = to_camera_frame(poses, towards_pelvis, position)
    offset_px = poses_cam[..., :2] / poses_cam[..., 2:].clamp(min=MIN_DEPTH_MM) * focal[:, None, None]
    lowest = config.margin_px - offset_px.amin(dim=1)                       # pelvis pixel range that fits the box
    highest = image_size - config.margin_px - offset_px.amax(dim=1)
    free = (highest - lowest).clamp(min=0)
    start = torch.where(highest >= lowest, lowest, principal)
    target_px = torch.where(torch.full_like(aim, centred or far_and_wide, dtype=torch.bool), principal,
                            start + aim * free)
    ray = torch.cat([(target_px - principal) / focal[:, None], torch.ones(count, 1, dtype=torch.float64)], dim=-1)
    rotation = turn_axis_to(torch.nn.functional.normalize(ray, dim=-1)) @ towards_pelvis
    return dict(rotation=rotation, position=position, focal=torch.stack([focal, focal], dim=-1), principal=principal,
                radial=torch.zeros(count, 3, dtype=torch.float64),
                tangential=torch.zeros(count, 2, dtype=torch.float64), image_size=image_size)


def sees_whole_person(poses_world: Tensor, cameras: dict[str, Tensor], margin_px: float) -> Tensor:
    """``(B,)`` bool: every joint of ``poses_world (B, J, 3)`` mm at least :data:`MIN_DEPTH_MM` in front of
    its camera and ``margin_px`` inside its image (``cameras``: the keys of :data:`CAMERA_KEYS`, (B, ...))."""
    poses_cam = to_camera_frame(poses_world, cameras["rotation"], cameras["position"])
    pixels = project_points(poses_cam, cameras["focal"], cameras["principal"], cameras["radial"],
                            cameras["tangential"])
    size = cameras["image_size"][:, None, :]
    inside = ((pixels >= margin_px) & (pixels <= size - margin_px)).all(dim=-1)
    return (inside & (poses_cam[..., 2] >= MIN_DEPTH_MM)).all(dim=-1)


def draw_cameras(poses_world: Tensor, generator: torch.Generator | None = None,
                 config: RandomCameraConfig = RandomCameraConfig(),
                 root_index: int = H36M17.root_index) -> dict[str, Tensor]:
    """A random camera per pose that sees the whole person (see the module docstring).

    Args:
        poses_world: ``(B, J, 3)`` mm, world frame (Z up, floor at Z = 0).
        generator: the random source (seed it to reproduce the cameras).
        config: the ranges.

    Returns:
        float32 tensors, the camera parameters of :func:`poselift.data.datasets.camera_tensors` per pose:
        ``rotation (B, 3, 3)`` world->camera, ``position (B, 3)`` mm camera centre, ``focal (B, 2)`` px,
        ``principal (B, 2)`` px, ``radial (B, 3)`` and ``tangential (B, 2)`` (zeros), ``image_size (B, 2)`` px.
    """
    if poses_world.ndim != 3 or poses_world.shape[-1] != 3:
        raise ShapeError(f"poses_world: expected shape (B, J, 3), got {tuple(poses_world.shape)}")
    poses = poses_world.to(torch.float64)
    cameras = _draw(poses, config, generator, root_index)
    pending = ~sees_whole_person(poses, cameras, config.margin_px)
    stages = [{}] * (config.attempts - 1) + [{"centred": True}, {"far_and_wide": True}]
    for stage in stages:                             # a loop over attempts; each redraws every pending sample at once
        if not bool(pending.any()):
            break
        redrawn = _draw(poses[pending], config, generator, root_index, **stage)
        fits = sees_whole_person(poses[pending], redrawn, config.margin_px)
        rows = torch.nonzero(pending).squeeze(1)[fits]
        for key in CAMERA_KEYS:
            cameras[key][rows] = redrawn[key][fits]
        pending[rows] = False
    if bool(pending.any()):
        raise ShapeError(f"{int(pending.sum())} poses fit no random camera even from {config.distance_mm[1]:g} mm "
                         f"with a {config.focal_35mm[0]:g} mm lens: are they in mm?")
    return {key: value.float() for key, value in cameras.items()}
