"""Camera intrinsics as a lifter reads them: the ray through each 2D keypoint.

:class:`Intrinsics` holds tensors whose leading dims broadcast against the keypoints' leading dims
without J (as the parameters of :func:`poselift.camera.project_points`): one camera for a whole
track is ``focal (2,)``, a batch that mixes cameras ``focal (B, 2)``, a batch of windows
``focal (B, 1, 2)``:

- ``focal`` ``(..., 2)`` px (fx, fy); ``principal`` ``(..., 2)`` px (cx, cy);
- ``radial`` ``(..., 3)`` (k1, k2, k3) and ``tangential`` ``(..., 2)`` (p1, p2), OpenCV's distortion,
  or None for a lens without distortion.

:meth:`Intrinsics.rays` turns pixels into undistorted normalised camera coordinates,
``((u - cx) / fx, (v - cy) / fy)`` with the lens distortion undone
(:func:`poselift.camera.undistort_pixels`): ``(X / Z, Y / Z)`` of the point in the camera frame, the
tangents of its ray's angles off the optical axis; unit-free, independent of the image's resolution.

Where a lifter's intrinsics come from (:func:`intrinsics_for_track` at inference):

1. ``--focal PX``: that focal length (both axes), the principal point at the image centre, no distortion;
2. a calibrated camera (``poselift video --calibration``, or a 2D file whose format names its camera,
   ``Keypoints2D.camera``): :meth:`Intrinsics.from_camera`;
3. otherwise the default from the image size, :meth:`Intrinsics.for_image_size`: the principal point at
   the image centre, no distortion and ``f = DEFAULT_FOCAL_PER_DIAGONAL x`` the image diagonal
   (0.75: a 67 degree diagonal field of view, 32 mm in 35 mm-film terms). The four calibrated cameras
   of Pose2Sim's demo (1088 x 1920 px video) have 0.758-0.762; a phone's main camera (26 mm
   equivalent) filming 16:9 video comes to about 0.65, and nearer 0.75 with the crop of video
   stabilisation; the photographer's "normal lens" (f = the diagonal, 53 degrees) is narrower than
   all of them. The track's notes say which rule was used.

Training batches carry the keys ``focal``, ``principal``, ``radial`` and ``tangential`` of the camera
that filmed each sample (:meth:`Intrinsics.from_batch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from poselift.camera import Camera, undistort_pixels
from poselift.errors import PoseliftError, ShapeError

# f = this times the image diagonal when only the image size is known (see the module docstring).
DEFAULT_FOCAL_PER_DIAGONAL = 0.75
FILM_DIAGONAL_MM = 43.27          # a 35 mm film frame's diagonal: focal_px = focal_35mm / 43.27 * diagonal_px
BATCH_KEYS = ("focal", "principal", "radial", "tangential")


def diagonal_fov_deg(focal_px: float, image_size: tuple[float, float]) -> float:
    """Diagonal field of view (degrees) of a pinhole of ``focal_px`` over an image of ``(width, height)`` px."""
    return math.degrees(2 * math.atan(math.hypot(*image_size) / (2 * focal_px)))


@dataclass(frozen=True)
class Intrinsics:
    """Focal length, principal point and distortion of the camera(s) that took some keypoints (see the
    module docstring for the shapes); tensors. Shapes are checked always, values (finite, focal > 0)
    on the CPU: a training batch on a GPU is not stopped to be looked at (its cameras were checked
    when they were made)."""

    focal: Tensor
    principal: Tensor
    radial: Tensor | None = None
    tangential: Tensor | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            size = 3 if item.name == "radial" else 2
            value = torch.as_tensor(value)
            if value.ndim < 1 or value.shape[-1] != size:
                raise ShapeError(f"intrinsics {item.name}: expected shape (..., {size}), got {tuple(value.shape)}")
            if value.device.type == "cpu" and not bool(torch.isfinite(value).all()):
                raise ShapeError(f"intrinsics {item.name}: holds non-finite values")
            object.__setattr__(self, item.name, value)
        if self.focal.device.type == "cpu" and bool((self.focal <= 0).any()):
            raise ShapeError(f"intrinsics focal: must be > 0 px, got a minimum of {float(self.focal.min()):g}")

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_camera(cls, camera: Camera) -> "Intrinsics":
        """One calibrated camera's intrinsics, ``(2,)`` / ``(3,)`` float32; a lens without distortion
        gets None."""
        as_tensor = lambda values: torch.tensor(values, dtype=torch.float32)  # noqa: E731
        distorted = any(camera.k) or any(camera.p)
        return cls(as_tensor(camera.focal), as_tensor(camera.principal_point),
                   as_tensor(camera.k) if distorted else None, as_tensor(camera.p) if distorted else None)

    @classmethod
    def for_image_size(cls, image_size: tuple[int, int]) -> "Intrinsics":
        """The default camera of an image of ``(width, height)`` px: focal ``DEFAULT_FOCAL_PER_DIAGONAL``
        times the diagonal (both axes), principal point at the centre, no distortion."""
        width, height = (float(value) for value in image_size)
        if not (width > 0 and height > 0):
            raise ShapeError(f"image size: expected (width, height) > 0 px, got {tuple(image_size)}")
        focal = DEFAULT_FOCAL_PER_DIAGONAL * math.hypot(width, height)
        return cls(torch.tensor([focal, focal]), torch.tensor([width / 2, height / 2]))

    @classmethod
    def from_batch(cls, batch: dict[str, Tensor], suffix: str = "") -> "Intrinsics | None":
        """The intrinsics in a training batch (keys :data:`BATCH_KEYS` + ``suffix``), or None when it has
        no ``focal``/``principal`` (e.g. a hand-made batch)."""
        if f"focal{suffix}" not in batch or f"principal{suffix}" not in batch:
            return None
        return cls(*(batch.get(f"{key}{suffix}") for key in BATCH_KEYS))

    # -- use ----------------------------------------------------------------------------------

    def map(self, function) -> "Intrinsics":
        """A copy with ``function`` applied to every tensor (e.g. ``lambda t: t[:, None]`` or ``.to(device)``)."""
        return Intrinsics(*(None if value is None else function(value)
                            for value in (self.focal, self.principal, self.radial, self.tangential)))

    def rays(self, keypoints_px: Tensor) -> Tensor:
        """``(..., J, 2)`` px -> ``(..., J, 2)`` undistorted normalised camera coordinates (X/Z, Y/Z).

        The intrinsics' leading dims broadcast against the keypoints' without J; computed in the
        keypoints' dtype, on their device.
        """
        like = lambda value: None if value is None else value.to(keypoints_px)  # noqa: E731
        return undistort_pixels(keypoints_px, like(self.focal), like(self.principal), like(self.radial),
                                like(self.tangential))

    def describe(self) -> str:
        """One line for notes: the focal length and principal point (of a single camera)."""
        focal, principal = self.focal.reshape(-1, 2)[0].tolist(), self.principal.reshape(-1, 2)[0].tolist()
        focal_text = f"{focal[0]:.0f} px" if abs(focal[0] - focal[1]) < 0.5 else f"{focal[0]:.0f} x {focal[1]:.0f} px"
        return f"focal {focal_text}, principal point ({principal[0]:.0f}, {principal[1]:.0f}) px"


def intrinsics_for_track(image_size: tuple[int, int] | None, focal_px: float | None = None,
                         camera: Camera | None = None, source: str = "keypoints") -> tuple[Intrinsics, str]:
    """The intrinsics of a 2D track at inference and a note saying where they came from.

    Args:
        image_size: ``(width, height)`` px of the track's images, or None when unknown.
        focal_px: ``--focal``: the focal length in px, which wins over ``camera`` (its principal
            point is then the image centre, without distortion).
        camera: the calibrated camera of the track (``--calibration``, or the file's own), or None.
        source: the track's name, for the error.

    Returns:
        ``(intrinsics with (2,) focal and principal, note)``.

    Raises:
        PoseliftError: neither a camera nor the image size is known (the principal point is then unknown).
    """
    if focal_px is not None:
        if not (focal_px > 0 and math.isfinite(focal_px)):
            raise PoseliftError(f"--focal must be a positive number of pixels, got {focal_px}")
        size = image_size
        if size is None and camera is not None:
            size = (camera.width, camera.height)
        if size is None:
            raise PoseliftError(f"{source}: --focal needs the image size for the principal point (the image "
                                "centre): give --image-size WIDTH HEIGHT")
        width, height = size
        intrinsics = Intrinsics(torch.tensor([focal_px, focal_px], dtype=torch.float32),
                                torch.tensor([width / 2, height / 2], dtype=torch.float32))
        ignored = f"; the camera {camera.name!r} of the input not used" if camera is not None else ""
        return intrinsics, (f"camera: --focal {focal_px:g} px (a {diagonal_fov_deg(focal_px, size):.0f} degree "
                            f"diagonal field of view), principal point at the image centre{ignored}")
    if camera is not None:
        intrinsics = Intrinsics.from_camera(camera)
        distortion = ", with its lens distortion" if intrinsics.radial is not None else ""
        return intrinsics, f"camera: the calibration of {camera.name!r}: {intrinsics.describe()}{distortion}"
    if image_size is None:
        raise PoseliftError(f"{source}: this model reads the camera rays of the keypoints and needs the camera: "
                            "give the image size (--image-size WIDTH HEIGHT; the focal length is then assumed), "
                            "and --focal PX if you know it")
    intrinsics = Intrinsics.for_image_size(image_size)
    return intrinsics, (f"camera: assumed from the image size {image_size[0]} x {image_size[1]} px: "
                        f"{intrinsics.describe()} ({DEFAULT_FOCAL_PER_DIAGONAL:g} x the diagonal, a "
                        f"{diagonal_fov_deg(float(intrinsics.focal[0]), image_size):.0f} degree diagonal field "
                        "of view), no lens distortion; give --focal PX or a calibration when known")
