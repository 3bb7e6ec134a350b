"""Reading and writing every file format poselift supports; one module per format.

Entry points that detect the format themselves:

- :func:`load_keypoints_2d` -> :class:`~poselift.io.records.Keypoints2D`
- :func:`load_poses_3d` -> :class:`~poselift.io.records.Poses3D`

Format modules: ``bvh``, ``asf_amc`` (motion capture), ``poselift_format`` (poselift's own npz /
json), ``coco_json``, ``openpose_json``, ``mediapipe_json``, ``videopose3d``, ``h36m_h5``, ``qca``.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from poselift.errors import FormatError
from poselift.io.records import Keypoints2D, Poses3D

SUPPORTED_2D = (
    "poselift keypoints (.npz / .json)",
    "COCO keypoints JSON (results list or dataset with 'annotations')",
    "OpenPose JSON (a folder of *_keypoints.json files, or one such file)",
    "MediaPipe landmarks JSON (object with 'image_size' and 'frames')",
    "VideoPose3D data_2d_*.npz (positions_2d; subject=, action=, camera=)",
    "Stacked-Hourglass detections .h5 (dataset 'poses')",
)
SUPPORTED_3D = (
    "poselift poses (.npz / .json)",
    "VideoPose3D data_3d_*.npz (positions_3d; subject=, action=)",
    "Human3.6M / Martinez 3D_positions .h5",
)

__all__ = ["Keypoints2D", "Poses3D", "load_keypoints_2d", "load_poses_3d", "SUPPORTED_2D", "SUPPORTED_3D"]


def _unknown(path: Path, what: str, supported: tuple[str, ...]) -> FormatError:
    return FormatError(path, f"unrecognised {what}; supported formats: " + "; ".join(supported))


def _npz_keys(path: Path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return list(npz.files)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise FormatError(path, f"cannot read .npz file ({error})") from None


def _h5_keys(path: Path) -> list[str]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return list(handle.keys())
    except (OSError, ValueError) as error:
        raise FormatError(path, f"cannot open HDF5 file ({error})") from None


def load_keypoints_2d(path: str | os.PathLike, **options) -> Keypoints2D:
    """Read 2D keypoints from any supported format, detected from the path and its contents.

    ``options`` go to the format's reader (e.g. ``fps=``, ``subject=``/``action=``/``camera=``
    for VideoPose3D, ``layout=`` for COCO, ``person=`` for the multi-person COCO and OpenPose
    files). Raises FormatError listing the supported formats when the content is not recognised,
    and naming the option when the format's reader has no such option.
    """
    try:
        return _read_keypoints_2d(Path(path), **options)
    except TypeError as error:
        option = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if option is None:
            raise
        raise FormatError(Path(path), f"the option {option.group(1)!r} does not apply to this kind of file "
                                      "(--person: COCO and OpenPose files; --subject/--action/--camera: "
                                      "VideoPose3D files)") from None


def _read_keypoints_2d(path: Path, **options) -> Keypoints2D:
    from poselift.io import coco_json, h36m_h5, mediapipe_json, openpose_json, poselift_format, videopose3d
    from poselift.io._common import read_json

    path = Path(path)
    if path.is_dir():
        if openpose_json.openpose_frame_files(path):
            return openpose_json.read_openpose_json(path, **options)
        raise _unknown(path, "2D keypoint folder (no *_keypoints.json files in it)", SUPPORTED_2D)
    if not path.exists():
        raise FormatError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        keys = _npz_keys(path)
        if "format" in keys or "keypoints_2d" in keys:
            return poselift_format.read_keypoints_2d(path, **options)
        if "positions_2d" in keys:
            return videopose3d.read_videopose3d_2d(path, **options)
    elif suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and (data.get("format") == poselift_format.FORMAT_2D
                                       or ("format" not in data and "keypoints_2d" in data)):
            return poselift_format.read_keypoints_2d(path, **options)
        if openpose_json.is_openpose_frame_data(data):
            return openpose_json.read_openpose_json(path, **options)
        if mediapipe_json.is_mediapipe_data(data):
            return mediapipe_json.mediapipe_from_data(path, data, **options)
        if coco_json.is_coco_keypoints_data(data):
            return coco_json.coco_keypoints_from_data(path, data, **options)
        if data == [] or (isinstance(data, dict) and data.get("annotations") == []):
            raise FormatError(path, "holds no detection (an empty COCO keypoint list): the detector found "
                                    "nobody in these images, so there is nothing to lift")
    elif suffix in (".h5", ".hdf5") and "poses" in _h5_keys(path):
        return h36m_h5.read_sh_detections_h5(path, **options)
    raise _unknown(path, "2D keypoint file", SUPPORTED_2D)


def load_poses_3d(path: str | os.PathLike, **options) -> Poses3D:
    """Read 3D poses from any supported format, detected from the path and its contents.

    ``options`` go to the format's reader (``subject=``, ``action=`` for VideoPose3D files,
    ``fps=``). Raises FormatError listing the supported formats for anything else.
    """
    from poselift.io import h36m_h5, poselift_format, videopose3d
    from poselift.io._common import read_json

    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        keys = _npz_keys(path)
        if "format" in keys or "poses_3d" in keys:
            return poselift_format.read_poses_3d(path, **options)
        if "positions_3d" in keys:
            return videopose3d.read_videopose3d_3d(path, **options)
    elif suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and (data.get("format") == poselift_format.FORMAT_3D
                                       or ("format" not in data and "poses_3d" in data)):
            return poselift_format.read_poses_3d(path, **options)
    elif suffix in (".h5", ".hdf5") and "3D_positions" in _h5_keys(path):
        return h36m_h5.read_h36m_positions_h5(path, **options)
    raise _unknown(path, "3D pose file", SUPPORTED_3D)
