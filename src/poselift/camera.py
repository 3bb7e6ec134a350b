"""Pinhole cameras with OpenCV lens distortion: projection, undistortion, rigs, virtual cameras.

Two layers:

- a functional core (:func:`distort_normalized`, :func:`project_points`,
  :func:`undistort_normalized`, :func:`undistort_pixels`) whose camera parameters are arrays that
  broadcast over the points' leading dims, so one batch may mix cameras (index the arrays of
  :func:`stack_intrinsics` with per-sample camera ids);
- :class:`Camera`, a frozen record of one calibrated camera with convenience methods built on
  that core, plus the Human3.6M rig (:func:`h36m_rig`) and virtual cameras rotated about the
  world Z axis (:func:`virtual_camera`, :func:`virtual_rig`).

Frames and units: world and camera coordinates in mm; the camera frame has +Z forward (optical
axis), +X right and +Y down in the image; pixels have their origin at the top-left of the image.
A world point X maps to the camera frame as ``x_cam = R (X - centre)`` (R world->camera).
Distortion follows OpenCV's model exactly as ``cv2.projectPoints`` with coefficients
``(k1, k2, p1, p2, k3)``. All functions take numpy arrays or torch tensors (any leading dims) and
return the input's type, dtype and device; the torch path is differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from poselift.errors import FormatError, ShapeError
from poselift.geometry import Array, array_kind, quaternion_to_matrix, rotation_about_z

__all__ = [
    "Camera",
    "distort_normalized",
    "project_points",
    "undistort_normalized",
    "undistort_pixels",
    "undistort_points",
    "unproject",
    "triangulate_dlt",
    "to_camera_frame",
    "to_world_frame",
    "stack_intrinsics",
    "h36m_rig",
    "virtual_camera",
    "virtual_rig",
    "camera_azimuth_deg",
    "angular_difference_deg",
]

# ----------------------------------------------------------------------------------------------
# functional core (tensors in, tensors out)
# ----------------------------------------------------------------------------------------------


def _check_param(name: str, value: torch.Tensor, size: int) -> None:
    if value.ndim < 1 or value.shape[-1] != size:
        raise ShapeError(f"{name}: expected shape (..., {size}), got {tuple(value.shape)}")


def _distort(xy: torch.Tensor, k: torch.Tensor | None, p: torch.Tensor | None) -> torch.Tensor:
    """OpenCV distortion of normalised coordinates; k (..., 3) and p (..., 2) broadcast with xy[..., 0]."""
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    if k is None:
        radial = torch.ones_like(r2)
    else:
        k1, k2, k3 = k[..., 0], k[..., 1], k[..., 2]
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    x_out, y_out = x * radial, y * radial
    if p is not None:
        p1, p2 = p[..., 0], p[..., 1]
        xy2 = 2 * x * y
        x_out = x_out + p1 * xy2 + p2 * (r2 + 2 * x * x)
        y_out = y_out + p1 * (r2 + 2 * y * y) + p2 * xy2
    return torch.stack([x_out, y_out], dim=-1)


def _undistort(xy_distorted: torch.Tensor, k: torch.Tensor | None, p: torch.Tensor | None,
               max_iterations: int) -> torch.Tensor:
    """Invert :func:`_distort` by Newton's method with the exact 2x2 Jacobian.

    Starts from the distorted coordinates and stops once the largest Newton step is at rounding
    level (quadratic convergence: 3-5 steps inside ordinary images) or after ``max_iterations``.
    """
    if (k is None and p is None) or xy_distorted.numel() == 0:
        return xy_distorted.clone()  # never hand the caller's own array back
    zeros = torch.zeros((), dtype=xy_distorted.dtype, device=xy_distorted.device)
    k1, k2, k3 = (zeros, zeros, zeros) if k is None else (k[..., 0], k[..., 1], k[..., 2])
    p1, p2 = (zeros, zeros) if p is None else (p[..., 0], p[..., 1])
    target_x, target_y = xy_distorted[..., 0], xy_distorted[..., 1]
    x, y = target_x, target_y
    tolerance = 8 * torch.finfo(xy_distorted.dtype).eps * max(1.0, float(xy_distorted.abs().amax()))
    for _ in range(max_iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        radial_slope = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
        residual_x = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - target_x
        residual_y = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - target_y
        jac_xx = radial + 2 * x * x * radial_slope + 2 * p1 * y + 6 * p2 * x
        jac_xy = 2 * x * y * radial_slope + 2 * p1 * x + 2 * p2 * y  # symmetric: jac_yx == jac_xy
        jac_yy = radial + 2 * y * y * radial_slope + 6 * p1 * y + 2 * p2 * x
        determinant = jac_xx * jac_yy - jac_xy * jac_xy
        step_x = (jac_yy * residual_x - jac_xy * residual_y) / determinant
        step_y = (jac_xx * residual_y - jac_xy * residual_x) / determinant
        x, y = x - step_x, y - step_y
        if float(torch.maximum(step_x.abs().amax(), step_y.abs().amax())) <= tolerance:
            break
    return torch.stack([x, y], dim=-1)


def _project(points_cam: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor,
             k: torch.Tensor | None, p: torch.Tensor | None) -> torch.Tensor:
    """Pinhole + distortion; parameter arrays already broadcast against points_cam[..., 0]."""
    normalised = points_cam[..., :2] / points_cam[..., 2:3]
    return _distort(normalised, k, p) * focal + centre


def _optional(kind, value, name: str, size: int, joint_axis: bool = False) -> torch.Tensor | None:
    """A camera parameter as a tensor (None stays None); ``joint_axis`` inserts the J axis."""
    if value is None:
        return None
    tensor = kind.tensor(value)
    _check_param(name, tensor, size)
    return tensor.unsqueeze(-2) if joint_axis else tensor


def distort_normalized(xy: Array, k: Array | None = None, p: Array | None = None) -> Array:
    """Apply OpenCV lens distortion to normalised image coordinates.

    ``r2 = x^2 + y^2``; ``x' = x (1 + k1 r2 + k2 r2^2 + k3 r2^3) + 2 p1 x y + p2 (r2 + 2 x^2)``;
    ``y' = y (1 + k1 r2 + k2 r2^2 + k3 r2^3) + p1 (r2 + 2 y^2) + 2 p2 x y``.

    Args:
        xy: (..., 2) undistorted normalised coordinates (X/Z, Y/Z).
        k: (..., 3) radial (k1, k2, k3), broadcast against xy's leading dims; None = no radial.
        p: (..., 2) tangential (p1, p2); None = no tangential.
    Returns:
        (..., 2) distorted normalised coordinates.
    """
    kind = array_kind(xy, params=(k, p))
    xy_t = kind.tensor(xy)
    _check_param("xy", xy_t, 2)
    return kind.output(_distort(xy_t, _optional(kind, k, "k", 3), _optional(kind, p, "p", 2)))


def undistort_normalized(xy_distorted: Array, k: Array | None = None, p: Array | None = None,
                         max_iterations: int = 20) -> Array:
    """Invert :func:`distort_normalized` (Newton's method, at most ``max_iterations`` steps).

    Converges to machine precision within the image for ordinary lenses (where the distortion map
    is one-to-one, e.g. the whole Human3.6M images); far outside that region the inverse is not
    defined.

    Args:
        xy_distorted: (..., 2) distorted normalised coordinates.
        k: (..., 3) radial coefficients; p: (..., 2) tangential; broadcast like xy's leading dims.
    Returns:
        (..., 2) undistorted normalised coordinates (X/Z, Y/Z).
    """
    kind = array_kind(xy_distorted, params=(k, p))
    xy_t = kind.tensor(xy_distorted)
    _check_param("xy_distorted", xy_t, 2)
    return kind.output(_undistort(xy_t, _optional(kind, k, "k", 3), _optional(kind, p, "p", 2), max_iterations))


def project_points(points_cam: Array, focal: Array, centre: Array, k: Array | None = None,
                   p: Array | None = None) -> Array:
    """Project camera-frame points to pixels (pinhole + OpenCV distortion, as cv2.projectPoints).

    Camera parameters carry the points' leading dims without J, so a batch can mix cameras:
    points (B, J, 3) with focal (B, 2) etc., or one camera for all with focal (2,).
    Points must lie in front of the camera (Z > 0); Z <= 0 gives meaningless or infinite pixels.

    Args:
        points_cam: (..., J, 3) mm, camera frame.
        focal: (..., 2) (fx, fy) px.
        centre: (..., 2) principal point (cx, cy) px.
        k: (..., 3) (k1, k2, k3) or None; p: (..., 2) (p1, p2) or None.
    Returns:
        (..., J, 2) px.
    """
    kind = array_kind(points_cam, params=(focal, centre, k, p))
    points = kind.tensor(points_cam)
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ShapeError(f"points_cam: expected shape (..., J, 3), got {tuple(points.shape)}")
    projected = _project(points, _optional(kind, focal, "focal", 2, True), _optional(kind, centre, "centre", 2, True),
                         _optional(kind, k, "k", 3, True), _optional(kind, p, "p", 2, True))
    return kind.output(projected)


def undistort_pixels(points_px: Array, focal: Array, centre: Array, k: Array | None = None,
                     p: Array | None = None, max_iterations: int = 20) -> Array:
    """Pixels to undistorted normalised image coordinates (inverse of :func:`project_points` up to depth).

    Args:
        points_px: (..., J, 2) px.
        focal, centre: (..., 2) px; k: (..., 3); p: (..., 2) (leading dims as in project_points).
    Returns:
        (..., J, 2) normalised coordinates (X/Z, Y/Z), camera frame.
    """
    kind = array_kind(points_px, params=(focal, centre, k, p))
    points = kind.tensor(points_px)
    if points.ndim < 2 or points.shape[-1] != 2:
        raise ShapeError(f"points_px: expected shape (..., J, 2), got {tuple(points.shape)}")
    distorted = ((points - _optional(kind, centre, "centre", 2, True))
                 / _optional(kind, focal, "focal", 2, True))
    normalised = _undistort(distorted, _optional(kind, k, "k", 3, True), _optional(kind, p, "p", 2, True),
                            max_iterations)
    return kind.output(normalised)


def _check_pose_params(kind, points, rotation, centre) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    points_t, rotation_t, centre_t = kind.tensor(points), kind.tensor(rotation), kind.tensor(centre)
    if points_t.ndim < 2 or points_t.shape[-1] != 3:
        raise ShapeError(f"points: expected shape (..., J, 3), got {tuple(points_t.shape)}")
    if rotation_t.ndim < 2 or rotation_t.shape[-2:] != (3, 3):
        raise ShapeError(f"rotation: expected shape (..., 3, 3), got {tuple(rotation_t.shape)}")
    _check_param("centre", centre_t, 3)
    return points_t, rotation_t, centre_t


def to_camera_frame(points_world: Array, rotation: Array, centre: Array) -> Array:
    """World points into camera frames, ``R (x - centre)``, with per-sample cameras allowed.

    Args:
        points_world: (..., J, 3) mm, world frame.
        rotation: (..., 3, 3) world->camera rotations; centre: (..., 3) camera centres, mm (leading
            dims broadcast against the points' leading dims without J, as in project_points).
    Returns:
        (..., J, 3) mm, camera frame.
    """
    kind = array_kind(points_world, params=(rotation, centre))
    points, rotation_t, centre_t = _check_pose_params(kind, points_world, rotation, centre)
    return kind.output((points - centre_t.unsqueeze(-2)) @ rotation_t.mT)


def to_world_frame(points_cam: Array, rotation: Array, centre: Array) -> Array:
    """Camera-frame points back to the world, ``R^T x + centre`` (inverse of :func:`to_camera_frame`).

    Args:
        points_cam: (..., J, 3) mm, camera frame.
        rotation: (..., 3, 3) world->camera rotations; centre: (..., 3) camera centres, mm.
    Returns:
        (..., J, 3) mm, world frame.
    """
    kind = array_kind(points_cam, params=(rotation, centre))
    points, rotation_t, centre_t = _check_pose_params(kind, points_cam, rotation, centre)
    return kind.output(points @ rotation_t + centre_t.unsqueeze(-2))


# ----------------------------------------------------------------------------------------------
# Camera
# ----------------------------------------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False, kw_only=True)
class Camera:
    """One calibrated camera: intrinsics (px), OpenCV distortion, pose in the world (mm).

    Fields (keyword-only):
        fx, fy: focal lengths, px.  cx, cy: principal point, px.
        k: radial (k1, k2, k3).  p: tangential (p1, p2).
        width, height: image size, px.
        R: (3, 3) float64 world->camera rotation: ``x_cam = R (x_world - centre)``.
        centre: (3,) float64 camera centre in the world, mm.
        name: identifier (e.g. the Human3.6M camera id "54138969").

    The arrays are stored read-only; equality compares every field.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    k: tuple[float, float, float] = (0.0, 0.0, 0.0)
    p: tuple[float, float] = (0.0, 0.0)
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    name: str = "camera"

    def __post_init__(self) -> None:
        label = f"camera {self.name!r}"
        for attribute in ("fx", "fy", "cx", "cy"):
            value = float(getattr(self, attribute))
            if not math.isfinite(value) or (attribute in ("fx", "fy") and value <= 0):
                raise ShapeError(f"{label}: {attribute} must be finite (and focal lengths > 0), got {value}")
            object.__setattr__(self, attribute, value)
        for attribute in ("width", "height"):
            value = getattr(self, attribute)
            if int(value) != value or int(value) <= 0:
                raise ShapeError(f"{label}: {attribute} must be a positive integer (px), got {value}")
            object.__setattr__(self, attribute, int(value))
        for attribute, size in (("k", 3), ("p", 2)):
            values = tuple(float(v) for v in np.asarray(getattr(self, attribute), dtype=np.float64).ravel())
            if len(values) != size or not all(math.isfinite(v) for v in values):
                raise ShapeError(f"{label}: {attribute} must be {size} finite numbers, got {getattr(self, attribute)}")
            object.__setattr__(self, attribute, values)
        rotation = np.asarray(self.R, dtype=np.float64)
        if rotation.shape != (3, 3) or not np.all(np.isfinite(rotation)):
            raise ShapeError(f"{label}: R must be a finite (3, 3) matrix, got shape {rotation.shape}")
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) <= 0:
            raise ShapeError(f"{label}: R must be a rotation matrix (orthonormal, det +1)")
        centre = np.asarray(self.centre, dtype=np.float64)
        if centre.shape != (3,) or not np.all(np.isfinite(centre)):
            raise ShapeError(f"{label}: centre must be 3 finite numbers (mm), got shape {centre.shape}")
        object.__setattr__(self, "R", _readonly(rotation))
        object.__setattr__(self, "centre", _readonly(centre))
        object.__setattr__(self, "name", str(self.name))

    # -- identity ---------------------------------------------------------------------------

    def _key(self) -> tuple:
        return (self.name, self.fx, self.fy, self.cx, self.cy, self.k, self.p, self.width, self.height,
                self.R.tobytes(), self.centre.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Camera) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # -- constructors and storage -----------------------------------------------------------

    @classmethod
    def from_quaternion(cls, fx: float, fy: float, cx: float, cy: float, k: Sequence[float], p: Sequence[float],
                        width: int, height: int, quat_wxyz_cam_to_world: Sequence[float],
                        centre_mm: Sequence[float], name: str) -> "Camera":
        """Camera from a camera-to-world orientation quaternion (w, x, y, z) and centre (mm).

        The world->camera rotation is the transpose of the quaternion's matrix (the quaternion
        is normalised first).
        """
        cam_to_world = quaternion_to_matrix(np.asarray(quat_wxyz_cam_to_world, dtype=np.float64))
        return cls(fx=fx, fy=fy, cx=cx, cy=cy, k=tuple(k), p=tuple(p), width=width, height=height,
                   R=cam_to_world.T, centre=np.asarray(centre_mm, dtype=np.float64), name=name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (floats, ints, lists, str); ``Camera.from_dict`` restores it exactly."""
        return {
            "name": self.name,
            "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
            "k": list(self.k), "p": list(self.p),
            "width": self.width, "height": self.height,
            "R": self.R.tolist(), "centre": self.centre.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "Camera":
        """Camera from :meth:`to_dict` output.

        Args:
            data: the dict. source: the file it came from, named in error messages.
        Raises:
            FormatError: a missing field or a value of the wrong kind.
        """
        where = source if source is not None else "<camera dict>"
        fields = ("name", "fx", "fy", "cx", "cy", "k", "p", "width", "height", "R", "centre")
        if not isinstance(data, Mapping):
            raise FormatError(where, f"camera: expected a mapping, got {type(data).__name__}")
        missing = [key for key in fields if key not in data]
        if missing:
            raise FormatError(where, f"camera {data.get('name', '?')!r}: missing field(s) {', '.join(missing)}")
        try:
            return cls(**{key: data[key] for key in fields})
        except (ShapeError, TypeError, ValueError) as error:
            raise FormatError(where, str(error)) from None

    # -- parameters ---------------------------------------------------------------------------

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the standard name of the intrinsic matrix
        """(3, 3) float64 intrinsic matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist_coeffs(self) -> np.ndarray:
        """(5,) float64 distortion in OpenCV order (k1, k2, p1, p2, k3)."""
        return np.array([self.k[0], self.k[1], self.p[0], self.p[1], self.k[2]])

    @property
    def rotation_world_to_camera(self) -> np.ndarray:
        """(3, 3) float64 R with ``x_cam = R (x_world - centre)``."""
        return self.R

    @property
    def translation(self) -> np.ndarray:
        """(3,) float64 t = -R centre, mm (OpenCV's tvec: ``x_cam = R x_world + t``)."""
        return -self.R @ self.centre

    @property
    def focal(self) -> np.ndarray:
        """(2,) float64 (fx, fy) px."""
        return np.array([self.fx, self.fy])

    @property
    def principal_point(self) -> np.ndarray:
        """(2,) float64 (cx, cy) px."""
        return np.array([self.cx, self.cy])

    # -- transforms ---------------------------------------------------------------------------

    def world_to_camera(self, points_world: Array) -> Array:
        """(..., 3) mm world frame -> (..., 3) mm camera frame: ``R (x - centre)``."""
        kind = array_kind(points_world)
        points = kind.tensor(points_world)
        _check_param("points_world", points, 3)
        return kind.output((points - kind.tensor(self.centre)) @ kind.tensor(self.R).mT)

    def camera_to_world(self, points_cam: Array) -> Array:
        """(..., 3) mm camera frame -> (..., 3) mm world frame: ``R^T x + centre``."""
        kind = array_kind(points_cam)
        points = kind.tensor(points_cam)
        _check_param("points_cam", points, 3)
        return kind.output(points @ kind.tensor(self.R) + kind.tensor(self.centre))

    def project(self, points_cam: Array) -> Array:
        """(..., 3) mm camera frame (Z > 0) -> (..., 2) px, with this camera's distortion."""
        kind = array_kind(points_cam)
        points = kind.tensor(points_cam)
        _check_param("points_cam", points, 3)
        return kind.output(_project(points, kind.tensor(self.focal), kind.tensor(self.principal_point),
                                    kind.tensor(self.k), kind.tensor(self.p)))

    def project_world(self, points_world: Array) -> Array:
        """(..., 3) mm world frame -> (..., 2) px."""
        return self.project(self.world_to_camera(points_world))

    def in_image(self, points_px: Array, margin_px: float = 0.0) -> Array:
        """(..., 2) px -> (...) bool: inside [margin, size - margin] on both axes (size = width, height)."""
        kind = array_kind(points_px)
        points = kind.tensor(points_px)
        _check_param("points_px", points, 2)
        inside = ((points[..., 0] >= margin_px) & (points[..., 0] <= self.width - margin_px)
                  & (points[..., 1] >= margin_px) & (points[..., 1] <= self.height - margin_px))
        return inside.numpy() if kind.numpy_out else inside


def undistort_points(points_px: Array, camera: Camera, max_iterations: int = 20) -> Array:
    """Pixels seen by ``camera`` -> undistorted normalised image coordinates.

    Args:
        points_px: (..., J, 2) px (any (..., 2) works).
        camera: the camera that took them.
    Returns:
        (..., 2) normalised coordinates (X/Z, Y/Z), camera frame.
    """
    kind = array_kind(points_px)
    points = kind.tensor(points_px)
    _check_param("points_px", points, 2)
    distorted = (points - kind.tensor(camera.principal_point)) / kind.tensor(camera.focal)
    return kind.output(_undistort(distorted, kind.tensor(camera.k), kind.tensor(camera.p), max_iterations))


def triangulate_dlt(points_2d_px: Array, cameras: Sequence[Camera], confidence: Array | None = None) -> Array:
    """Confidence-weighted linear (DLT) triangulation of 2D keypoints seen by calibrated cameras.

    Each view's pixels are undistorted with its camera model to normalised image coordinates;
    every view v adds two rows ``w_v (x_v P_v[2] - P_v[0])`` and ``w_v (y_v P_v[2] - P_v[1])`` to
    the linear system of its joint, with ``P_v = [R_v | -R_v c_v]`` (world coordinates shifted and
    scaled around the cameras for conditioning). All (..., J) systems are solved at once by one
    batched SVD in float64; the result is cast back to the input dtype.

    Args:
        points_2d_px: (V, ..., J, 2) px, one slice per camera.
        cameras: V :class:`~poselift.camera.Camera` objects (V >= 2).
        confidence: optional (V, ..., J) non-negative weights (default 1). A non-finite 2D point
            counts as weight 0.
    Returns:
        (..., J, 3) mm, world frame. A joint seen with weight > 0 in fewer than two views is NaN
        (by design: there is no triangulation for it; callers mask with ``isnan``).
    Raises:
        ShapeError: fewer than 2 cameras, mismatched shapes, or negative confidence.
    """
    kind = array_kind(points_2d_px, params=(confidence,))
    points = kind.tensor(points_2d_px, dtype=torch.float64)
    num_views = len(cameras)
    if num_views < 2:
        raise ShapeError(f"cameras: triangulation needs at least 2 views, got {num_views}")
    if points.ndim < 3 or points.shape[0] != num_views or points.shape[-1] != 2:
        raise ShapeError(f"points_2d_px: expected shape (V={num_views}, ..., J, 2), got {tuple(points.shape)}")
    if confidence is None:
        weights = torch.ones(points.shape[:-1], dtype=torch.float64, device=points.device)
    else:
        weights = kind.tensor(confidence, dtype=torch.float64)
        if weights.shape != points.shape[:-1]:
            raise ShapeError(f"confidence: expected shape {tuple(points.shape[:-1])}, got {tuple(weights.shape)}")
        if bool((weights < 0).any()):
            raise ShapeError("confidence: values must be >= 0")
    visible = torch.isfinite(points).all(dim=-1) & torch.isfinite(weights)
    weights = torch.where(visible, weights, torch.zeros_like(weights))
    points = torch.where(visible[..., None], points, torch.zeros_like(points))

    # Condition the system: world X = spread * X' + middle, with the cameras' own spread.
    centres = torch.as_tensor(np.stack([camera.centre for camera in cameras]), dtype=torch.float64,
                              device=points.device)
    middle = centres.mean(dim=0)
    spread = float(torch.sqrt(((centres - middle) ** 2).sum(-1).mean()).clamp_min(1.0))

    rows = []
    for view, camera in enumerate(cameras):
        rotation = torch.tensor(camera.R, dtype=torch.float64, device=points.device)
        offset = rotation @ (middle - centres[view]) / spread
        projection = torch.cat([rotation, offset[:, None]], dim=1)  # (3, 4), normalised coordinates
        normalised = undistort_points(points[view], camera)  # (..., J, 2)
        weight = weights[view][..., None]
        rows.append(weight * (normalised[..., 0:1] * projection[2] - projection[0]))
        rows.append(weight * (normalised[..., 1:2] * projection[2] - projection[1]))
    system = torch.stack(rows, dim=-2)  # (..., J, 2V, 4)
    _, _, vh = torch.linalg.svd(system, full_matrices=False)
    homogeneous = vh[..., -1, :]
    world = spread * homogeneous[..., :3] / homogeneous[..., 3:] + middle
    enough_views = (weights > 0).sum(dim=0) >= 2
    world = torch.where(enough_views[..., None], world, torch.full_like(world, math.nan))
    return kind.output(world.to(kind.dtype))


def unproject(points_px: Array, depth_mm: Array, camera: Camera) -> Array:
    """Pixels with known depth (camera Z, mm) -> 3D points in the camera frame.

    Args:
        points_px: (..., J, 2) px.
        depth_mm: (..., J) Z of each point in the camera frame, mm.
        camera: the camera that took them.
    Returns:
        (..., J, 3) mm, camera frame.
    """
    kind = array_kind(points_px, params=(depth_mm,))
    normalised = undistort_points(kind.tensor(points_px), camera)  # tensor in, tensor out
    depth = kind.tensor(depth_mm)
    if depth.shape != normalised.shape[:-1]:
        raise ShapeError(f"depth_mm: expected shape {tuple(normalised.shape[:-1])}, got {tuple(depth.shape)}")
    depth = depth[..., None]
    return kind.output(torch.cat([normalised * depth, depth], dim=-1))


def stack_intrinsics(cameras: Sequence[Camera]) -> dict[str, np.ndarray]:
    """Intrinsics of several cameras as arrays for :func:`project_points` / :func:`undistort_pixels`.

    Returns:
        ``{"focal": (V, 2), "centre": (V, 2), "k": (V, 3), "p": (V, 2)}`` float64; index them with
        per-sample camera ids to project a batch that mixes cameras:
        ``project_points(points_cam, **{key: value[camera_ids] for key, value in params.items()})``.
        The extrinsics for :func:`to_camera_frame` are ``np.stack([c.R for c in cameras])`` and
        ``np.stack([c.centre for c in cameras])``.
    """
    return {
        "focal": np.array([camera.focal for camera in cameras]).reshape(-1, 2),
        "centre": np.array([camera.principal_point for camera in cameras]).reshape(-1, 2),
        "k": np.array([camera.k for camera in cameras]).reshape(-1, 3),
        "p": np.array([camera.p for camera in cameras]).reshape(-1, 2),
    }


# ----------------------------------------------------------------------------------------------
# the Human3.6M rig (published calibration; subject S1's session for the extrinsics)
# ----------------------------------------------------------------------------------------------

# id, (fx, fy), (cx, cy), (k1, k2, k3), (p1, p2), (width, height), quaternion (w, x, y, z) cam->world, centre mm
_H36M_CAMERAS = (
    ("54138969", (1145.0494, 1143.7811), (512.5415, 515.4515), (-0.2070989, 0.2477752, -0.0030752),
     (-0.0009757, -0.0014245), (1000, 1002), (0.1407056, -0.1500702, -0.7552408, 0.6223280),
     (1841.107, 4955.285, 1563.445)),
    ("55011271", (1149.6757, 1147.5917), (508.8486, 508.0649), (-0.1942136, 0.2404085, 0.0068200),
     (-0.0016190, -0.0027409), (1000, 1000), (0.6157188, -0.7648363, -0.1483383, 0.1179474),
     (1761.279, -5078.007, 1606.265)),
    ("58860488", (1149.1407, 1148.7990), (519.8159, 501.4026), (-0.2083382, 0.2554880, -0.0024605),
     (0.0014844, -0.0007600), (1000, 1000), (0.1465147, -0.1464785, 0.7653024, -0.6094176),
     (-1846.778, 5215.046, 1491.972)),
    ("60457274", (1145.5114, 1144.7739), (514.9682, 501.8820), (-0.1983841, 0.2183237, -0.0089478),
     (-0.0005872, -0.0018134), (1000, 1002), (0.5834008, -0.7853162, 0.1454882, -0.1474959),
     (-1794.790, -3722.699, 1574.893)),
)


def h36m_rig() -> list[Camera]:
    """The four Human3.6M cameras (published calibration, S1 extrinsics), named by their ids.

    World frame: Z up, mm; the cameras look at the capture area around the world origin.
    Order: 54138969, 55011271, 58860488, 60457274 (cameras 0-3 of the benchmark).
    """
    return [
        Camera.from_quaternion(focal[0], focal[1], centre_px[0], centre_px[1], k, p, size[0], size[1],
                               quaternion, centre_mm, name)
        for name, focal, centre_px, k, p, size, quaternion, centre_mm in _H36M_CAMERAS
    ]


# ----------------------------------------------------------------------------------------------
# virtual cameras
# ----------------------------------------------------------------------------------------------


def _pivot_array(pivot: Iterable[float]) -> np.ndarray:
    pivot_mm = np.asarray(pivot, dtype=np.float64)
    if pivot_mm.shape != (3,):
        raise ShapeError(f"pivot: expected 3 numbers (mm, world frame), got shape {pivot_mm.shape}")
    return pivot_mm


def camera_azimuth_deg(camera: Camera, pivot: Iterable[float] = (0.0, 0.0, 0.0)) -> float:
    """Azimuth of the camera centre about the world Z axis through ``pivot``, degrees in (-180, 180].

    Measured from +X towards +Y (``atan2(dy, dx)``).
    """
    offset = camera.centre - _pivot_array(pivot)
    return float(math.degrees(math.atan2(offset[1], offset[0])))


def angular_difference_deg(first_deg: float, second_deg: float) -> float:
    """Smallest absolute difference between two angles, degrees in [0, 180]."""
    return abs((first_deg - second_deg + 180.0) % 360.0 - 180.0)


def virtual_camera(camera: Camera, angle_deg: float, pivot: Iterable[float] = (0.0, 0.0, 0.0)) -> Camera:
    """The camera moved rigidly around the world Z axis through ``pivot`` by ``angle_deg``.

    Height, distance to the pivot axis, tilt and intrinsics are unchanged; a point rotated the same
    way about the pivot projects to the same pixel. Positive angles turn counter-clockwise seen from
    +Z. The name is ``f"{camera.name}{angle_deg:+g}deg"`` (e.g. "54138969+15deg").
    """
    pivot_mm = _pivot_array(pivot)
    turn = rotation_about_z(math.radians(angle_deg))
    return Camera(
        fx=camera.fx, fy=camera.fy, cx=camera.cx, cy=camera.cy, k=camera.k, p=camera.p,
        width=camera.width, height=camera.height,
        R=camera.R @ turn.T,  # x_cam = R (turn^T (x' - pivot) + pivot - centre)
        centre=pivot_mm + turn @ (camera.centre - pivot_mm),
        name=f"{camera.name}{angle_deg:+g}deg",
    )


def virtual_rig(cameras: Sequence[Camera], step_deg: float = 15.0, exclude_near: Sequence[Camera] | None = None,
                min_separation_deg: float = 30.0, pivot: Iterable[float] = (0.0, 0.0, 0.0)) -> list[Camera]:
    """Virtual cameras every ``step_deg`` around the circle of each real camera.

    For each camera, angles ``step_deg, 2 step_deg, ...`` below 360 (the real camera itself,
    angle 0, is not repeated). Cameras whose azimuth about Z (through ``pivot``) is closer than
    ``min_separation_deg`` to any camera in ``exclude_near`` are left out (Protocol #3 keeps the
    held-out camera's neighbourhood unseen).

    Returns:
        list of cameras, grouped by source camera, in increasing angle.
    """
    if not step_deg > 0:
        raise ShapeError(f"step_deg: must be > 0, got {step_deg}")
    pivot_mm = _pivot_array(pivot)
    excluded_azimuths = [camera_azimuth_deg(camera, pivot_mm) for camera in (exclude_near or ())]
    steps = int(math.floor((360.0 - 1e-9) / step_deg))
    rig = []
    for camera in cameras:
        for index in range(1, steps + 1):
            candidate = virtual_camera(camera, index * step_deg, pivot_mm)
            azimuth = camera_azimuth_deg(candidate, pivot_mm)
            if all(angular_difference_deg(azimuth, other) >= min_separation_deg - 1e-9 for other in excluded_azimuths):
                rig.append(candidate)
    return rig
