"""In-memory records that every reader returns and every writer takes.

- :class:`Keypoints2D`: a 2D keypoint track of one person, pixels.
- :class:`Poses3D`: a 3D pose sequence, millimetres.

Both hold numpy arrays (float32) and check their shapes and values when built; a bad field
raises :class:`~poselift.errors.ShapeError` (or :class:`~poselift.errors.LayoutError` for an
unknown layout) naming the field and the shape. Readers re-raise these with the file name
(see :func:`naming_file`).

Missing keypoints: a keypoint that a detector did not find is NaN in ``keypoints_2d`` and must
have confidence 0. Readers set confidence 0 wherever they produce a NaN keypoint; building a
record with a NaN keypoint whose confidence is above 0 is an error, never a silent NaN.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from poselift.errors import FormatError, LayoutError, PoseliftError, ShapeError

if TYPE_CHECKING:
    from poselift.camera import Camera

FRAMES = ("camera", "world", "canonical")   # canonical: V-VIPE's body-aligned frame
WORLD_UP_AXES = ("z", "y")


def layout_num_joints(layout: str) -> int:
    """Number of joints of the layout called ``layout``; LayoutError listing known ones if unknown.

    Known: the layouts of :mod:`poselift.skeleton`.
    """
    from poselift.skeleton import get_layout

    return get_layout(layout).num_joints


def layout_joint_names(layout: str) -> tuple[str, ...]:
    """Joint names of the layout called ``layout`` (same layouts as :func:`layout_num_joints`)."""
    from poselift.skeleton import get_layout

    return get_layout(layout).joint_names


def _as_float32(value: Any, field_name: str) -> np.ndarray:
    try:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    except (TypeError, ValueError) as error:
        raise ShapeError(f"{field_name}: not an array ({error})") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ShapeError(f"{field_name}: expected numbers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_fps(fps: Any, owner: str) -> float | None:
    if fps is None:
        return None
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ShapeError(f"{owner}.fps: expected a positive number or None, got {fps}")
    return fps


@dataclass(frozen=True, eq=False)
class Keypoints2D:
    """A 2D keypoint track of one person.

    keypoints_2d: (T, J, 2) float32 pixels (x right, y down, origin at the top-left image corner);
        NaN where a keypoint is missing.
    confidence: (T, J) float32 in [0, 1]; 0 wherever a keypoint is NaN. ``None`` when building
        means 1 for every finite keypoint and 0 for every NaN one.
    layout: keypoint layout name (``poselift.skeleton.LAYOUT_NAMES`` or ``"sh16"``); J must match it.
    image_size: (width, height) pixels, or None when unknown.
    fps: frames per second, or None when unknown.
    notes: what was assumed or changed on the way in (e.g. normalised coordinates scaled to
        pixels), for the user to read; not stored in files.
    camera: the :class:`~poselift.camera.Camera` that took the keypoints when the file says which
        (e.g. a Human3.6M camera id), else None. Its intrinsics serve a model that reads the camera
        (:func:`poselift.intrinsics.intrinsics_for_track`); its pose in the world may be a placeholder.
    """

    keypoints_2d: np.ndarray
    confidence: np.ndarray | None
    layout: str
    image_size: tuple[int, int] | None = None
    fps: float | None = None
    notes: tuple[str, ...] = ()
    camera: Camera | None = None

    def __post_init__(self) -> None:
        keypoints_2d = _as_float32(self.keypoints_2d, "Keypoints2D.keypoints_2d")
        if keypoints_2d.ndim != 3 or keypoints_2d.shape[2] != 2:
            raise ShapeError(f"Keypoints2D.keypoints_2d: expected shape (T, J, 2), got {keypoints_2d.shape}")
        missing = np.isnan(keypoints_2d).any(axis=2)
        if np.isinf(keypoints_2d).any():
            raise ShapeError("Keypoints2D.keypoints_2d: contains infinite values")
        if self.confidence is None:
            confidence = (~missing).astype(np.float32)
        else:
            confidence = _as_float32(self.confidence, "Keypoints2D.confidence")
        if confidence.shape != keypoints_2d.shape[:2]:
            raise ShapeError(
                f"Keypoints2D.confidence: expected shape {keypoints_2d.shape[:2]} (T, J), got {confidence.shape}"
            )
        if not np.isfinite(confidence).all() or (confidence < 0).any() or (confidence > 1).any():
            raise ShapeError("Keypoints2D.confidence: values must be finite and in [0, 1]")
        bad = missing & (confidence > 0)
        if bad.any():
            frame, joint = np.argwhere(bad)[0]
            raise ShapeError(
                f"Keypoints2D.keypoints_2d: {int(bad.sum())} NaN keypoint(s) with confidence > 0 "
                f"(first: frame {frame}, joint {joint}); a missing keypoint needs confidence 0"
            )
        if not isinstance(self.layout, str):
            raise LayoutError(f"Keypoints2D.layout: expected a layout name, got {self.layout!r}")
        expected_joints = layout_num_joints(self.layout)
        if keypoints_2d.shape[1] != expected_joints:
            raise ShapeError(
                f"Keypoints2D.keypoints_2d: layout {self.layout!r} has {expected_joints} joints, "
                f"got shape {keypoints_2d.shape}"
            )
        image_size = None
        if self.image_size is not None:
            image_size = tuple(int(value) for value in self.image_size)
            if len(image_size) != 2 or min(image_size) <= 0:
                raise ShapeError(f"Keypoints2D.image_size: expected (width, height) > 0, got {self.image_size}")
        object.__setattr__(self, "keypoints_2d", keypoints_2d)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "image_size", image_size)
        object.__setattr__(self, "fps", _check_fps(self.fps, "Keypoints2D"))

    @property
    def num_frames(self) -> int:
        return self.keypoints_2d.shape[0]

    @property
    def num_joints(self) -> int:
        return self.keypoints_2d.shape[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keypoints2D):
            return NotImplemented
        return (
            self.layout == other.layout
            and self.image_size == other.image_size
            and self.fps == other.fps
            and self.camera == other.camera
            and np.array_equal(self.keypoints_2d, other.keypoints_2d, equal_nan=True)
            and np.array_equal(self.confidence, other.confidence)
        )


@dataclass(frozen=True, eq=False)
class Poses3D:
    """A 3D pose sequence.

    poses_3d: (T, J, 3) float32 millimetres, in the camera frame (x right, y down, z forward) or
        a world frame, as ``frame`` says. NaN marks a joint or frame that could not be
        estimated (e.g. a frame the lifter skipped); infinite values are rejected.
    joint_names: J names.
    frame: ``"camera"``, ``"world"`` or ``"canonical"`` (a body-aligned frame, e.g. a V-VIPE model's output).
    fps: frames per second, or None.
    layout: layout name when the joints follow one (J and names must match it), else None.
    meta: free-form JSON-serialisable information (source file, subject, model, ...).
    up: the up axis of a ``"world"`` frame, ``"z"`` (the default: motion capture, calibrations,
        triangulation) or ``"y"``; None for the other frames.
    """

    poses_3d: np.ndarray
    joint_names: tuple[str, ...]
    frame: str
    fps: float | None = None
    layout: str | None = None
    meta: dict = field(default_factory=dict)
    up: str | None = None

    def __post_init__(self) -> None:
        poses_3d = _as_float32(self.poses_3d, "Poses3D.poses_3d")
        if poses_3d.ndim != 3 or poses_3d.shape[2] != 3:
            raise ShapeError(f"Poses3D.poses_3d: expected shape (T, J, 3), got {poses_3d.shape}")
        if np.isinf(poses_3d).any():
            bad = np.argwhere(np.isinf(poses_3d).any(axis=2))[0]
            raise ShapeError(f"Poses3D.poses_3d: contains infinite values (first: frame {bad[0]}, joint {bad[1]})")
        joint_names = tuple(str(name) for name in self.joint_names)
        if len(joint_names) != poses_3d.shape[1]:
            raise ShapeError(
                f"Poses3D.joint_names: {len(joint_names)} names for poses_3d of shape {poses_3d.shape}"
            )
        if self.frame not in FRAMES:
            raise PoseliftError(f"Poses3D.frame: expected one of {', '.join(FRAMES)}, got {self.frame!r}")
        up = (self.up or "z") if self.frame == "world" else self.up
        if self.frame == "world" and up not in WORLD_UP_AXES:
            raise PoseliftError(f"Poses3D.up: a world frame's up axis is 'y' or 'z', got {self.up!r}")
        if self.frame != "world" and up is not None:
            raise PoseliftError(f"Poses3D.up: only a 'world' frame has an up axis (this frame is {self.frame!r})")
        if self.layout is not None:
            expected_names = layout_joint_names(self.layout)
            if joint_names != expected_names:
                raise ShapeError(
                    f"Poses3D.joint_names: do not match layout {self.layout!r} "
                    f"({len(joint_names)} names, layout has {len(expected_names)})"
                )
        if not isinstance(self.meta, dict):
            raise ShapeError(f"Poses3D.meta: expected a dict, got {type(self.meta).__name__}")
        object.__setattr__(self, "poses_3d", poses_3d)
        object.__setattr__(self, "joint_names", joint_names)
        object.__setattr__(self, "fps", _check_fps(self.fps, "Poses3D"))
        object.__setattr__(self, "up", up)

    @property
    def num_frames(self) -> int:
        return self.poses_3d.shape[0]

    @property
    def num_joints(self) -> int:
        return self.poses_3d.shape[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Poses3D):
            return NotImplemented
        return (
            self.joint_names == other.joint_names
            and self.frame == other.frame
            and self.up == other.up
            and self.fps == other.fps
            and self.layout == other.layout
            and self.meta == other.meta
            and np.array_equal(self.poses_3d, other.poses_3d, equal_nan=True)
        )


@contextlib.contextmanager
def naming_file(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise a PoseliftError (other than FormatError) from the block with ``path`` in front.

    Readers build records inside it so that a bad shape in a file names the file.
    """
    try:
        yield
    except PoseliftError as error:
        if isinstance(error, FormatError) or str(error).startswith(str(path)):
            raise
        raise type(error)(f"{path}: {error}") from None
