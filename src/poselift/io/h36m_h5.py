"""The HDF5 files of the Human3.6M baseline of Martinez et al. (3d-pose-baseline): read.

Human3.6M itself cannot be shipped; these readers serve users who have the files.

- 3D positions, ``S<subject>/MyPoses/3D_positions/<action>.h5``: dataset ``3D_positions`` of
  shape (96, T) = 32 joints x (x, y, z), millimetres, world frame -> Poses3D layout "h36m32".
- Cameras, ``cameras.h5``: groups ``subject<S>/camera<C>/`` (C = 1..4) with datasets ``R`` (3, 3),
  ``T`` (3, 1) camera centre in mm, ``f`` (2, 1), ``c`` (2, 1), ``k`` (3, 1), ``p`` (2, 1) and
  ``Name`` (character codes of the camera id, e.g. "54138969"). The stored ``R`` is the transpose
  of the world-to-camera rotation (the baseline code transposes it on load); the reader returns
  the world-to-camera rotation, so ``x_cam = R @ (x_world - centre)``.
- Stacked-Hourglass detections, ``S<subject>/StackedHourglass/<action>.<camera>.h5``: dataset
  ``poses`` of shape (T, 16, 2) pixels (a flat (T, 32) of x, y pairs is read too) in the MPII
  joint order below -> Keypoints2D layout "sh16". Converting to h36m17 is not done here. The
  camera id in the file name gives the record its camera (:func:`h36m_camera`: the published
  intrinsics and distortion).

SH16 joint order (MPII; the name in parentheses is the H36M joint the baseline maps it to):
0 r_ankle, 1 r_knee, 2 r_hip, 3 l_hip, 4 l_knee, 5 l_ankle, 6 pelvis, 7 thorax (H36M spine),
8 upper_neck (H36M thorax), 9 head_top (H36M head), 10 r_wrist, 11 r_elbow, 12 r_shoulder,
13 l_shoulder, 14 l_elbow, 15 l_wrist. There is no counterpart of the H36M neck/nose joint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from poselift.errors import FormatError
from poselift.skeleton import SH16

SH16_JOINT_NAMES = SH16.joint_names  # the MPII order; the layout lives in poselift.skeleton

#: Image size (width, height) of the four Human3.6M video cameras, by camera id.
H36M_IMAGE_SIZES = {
    "54138969": (1000, 1002),
    "55011271": (1000, 1000),
    "58860488": (1000, 1000),
    "60457274": (1000, 1002),
}


def h36m_camera(camera_id: str):
    """The Human3.6M camera of that id (:func:`poselift.camera.h36m_rig`: the published intrinsics and
    distortion; subject S1's pose in the world), or None for an id that is not one of the four."""
    from poselift.camera import h36m_rig

    return next((camera for camera in h36m_rig() if camera.name == camera_id), None)


def _open(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise FormatError(path, f"cannot open HDF5 file ({error})") from None


def _dataset(path: Path, handle, name: str) -> np.ndarray:
    if name not in handle:
        raise FormatError(path, f"missing dataset {name!r} (found: {', '.join(handle.keys()) or 'none'})")
    return np.asarray(handle[name][()])


def read_h36m_positions_h5(path: str | os.PathLike, *, fps: float | None = 50.0):
    """Read a Martinez ``3D_positions`` h5 file -> Poses3D (T, 32, 3) mm, world frame, "h36m32".

    ``fps`` defaults to 50, the frame rate of the Human3.6M mocap files.
    """
    from poselift.io.records import Poses3D, layout_joint_names, naming_file

    path = Path(path)
    with _open(path) as handle:
        positions = _dataset(path, handle, "3D_positions")
    if positions.ndim != 2 or positions.shape[0] != 96:
        raise FormatError(path, f"'3D_positions' has shape {positions.shape}, expected (96, T): 32 joints x 3")
    poses_3d_mm = positions.T.reshape(-1, 32, 3)
    with naming_file(path):
        return Poses3D(
            poses_3d=poses_3d_mm,
            joint_names=layout_joint_names("h36m32"),
            frame="world",
            fps=fps,
            layout="h36m32",
            meta={"source": "h36m_h5", "file": path.name},
        )


def read_h36m_cameras_h5(path: str | os.PathLike) -> dict[tuple[int, int], dict]:
    """Read a Martinez ``cameras.h5`` -> {(subject, camera): camera dict}.

    Each camera dict holds plain values: ``name`` (str), ``fx``, ``fy``, ``cx``, ``cy`` (pixels),
    ``k`` (3,) radial, ``p`` (2,) tangential distortion, ``R`` (3, 3) world-to-camera rotation,
    ``centre`` (3,) camera centre in mm, world frame, ``width``, ``height`` (pixels, from the
    camera id; None for an unknown id).
    """
    path = Path(path)
    cameras: dict[tuple[int, int], dict] = {}
    with _open(path) as handle:
        for subject_key in handle.keys():
            subject_match = re.fullmatch(r"subject(\d+)", subject_key)
            if not subject_match:
                continue
            for camera_key in handle[subject_key].keys():
                camera_match = re.fullmatch(r"camera(\d+)", camera_key)
                if not camera_match:
                    continue
                group = handle[subject_key][camera_key]
                where = f"{subject_key}/{camera_key}"
                values = {}
                for name, size in (("R", 9), ("T", 3), ("f", 2), ("c", 2), ("k", 3), ("p", 2)):
                    if name not in group:
                        raise FormatError(path, f"{where}: missing dataset {name!r}")
                    array = np.asarray(group[name][()], dtype=np.float64)
                    if array.size != size:
                        raise FormatError(path, f"{where}/{name} has shape {array.shape}, expected {size} values")
                    values[name] = array
                name = _camera_name(group["Name"][()]) if "Name" in group else camera_key
                width, height = H36M_IMAGE_SIZES.get(name, (None, None))
                cameras[(int(subject_match.group(1)), int(camera_match.group(1)))] = {
                    "name": name,
                    "fx": float(values["f"].ravel()[0]),
                    "fy": float(values["f"].ravel()[1]),
                    "cx": float(values["c"].ravel()[0]),
                    "cy": float(values["c"].ravel()[1]),
                    "k": values["k"].ravel(),
                    "p": values["p"].ravel(),
                    "R": values["R"].reshape(3, 3).T.copy(),
                    "centre": values["T"].ravel(),
                    "width": width,
                    "height": height,
                }
    if not cameras:
        raise FormatError(path, "no 'subject<S>/camera<C>' groups (not a Human3.6M cameras.h5?)")
    return dict(sorted(cameras.items()))


def _camera_name(value) -> str:
    """The camera id from a ``Name`` dataset: character codes, bytes or a string."""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        return "".join(item.decode() if isinstance(item, bytes) else str(item) for item in array.ravel())
    return "".join(chr(int(code)) for code in array.ravel())


def read_sh_detections_h5(
    path: str | os.PathLike, *, fps: float | None = 50.0, image_size: tuple[int, int] | None = None
):
    """Read Stacked-Hourglass detections (dataset ``poses``) -> Keypoints2D layout "sh16", pixels.

    The file has no confidence: every finite keypoint gets confidence 1. The camera id in the file
    name (``<action>.<camera id>.h5``) gives the record its Human3.6M camera and, when not given,
    the image size.
    """
    from poselift.io.records import Keypoints2D, naming_file

    path = Path(path)
    with _open(path) as handle:
        poses = _dataset(path, handle, "poses").astype(np.float32)
    if poses.ndim == 2 and poses.shape[1] == 32:
        poses = poses.reshape(-1, 16, 2)
    if poses.ndim != 3 or poses.shape[1:] != (16, 2):
        raise FormatError(path, f"'poses' has shape {poses.shape}, expected (T, 16, 2) or (T, 32)")
    camera_id = path.name.split(".")[-2] if path.name.count(".") >= 2 else ""
    if image_size is None:
        image_size = H36M_IMAGE_SIZES.get(camera_id)
    with naming_file(path):
        return Keypoints2D(poses, None, "sh16", image_size=image_size, fps=fps, camera=h36m_camera(camera_id))
