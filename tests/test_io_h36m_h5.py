"""Human3.6M / Martinez h5 files (written here in the Martinez layout; random numbers, not H36M data):
3D positions, cameras and Stacked-Hourglass detections."""

import h5py
import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io import load_keypoints_2d, load_poses_3d
from poselift.io.h36m_h5 import SH16_JOINT_NAMES, read_h36m_cameras_h5, read_h36m_positions_h5, read_sh_detections_h5


def test_h36m_positions_h5(tmp_path):
    positions = np.random.default_rng(4).normal(size=(96, 7)) * 1000
    path = tmp_path / "Walking 1.h5"
    with h5py.File(path, "w") as handle:
        handle["3D_positions"] = positions
    poses = load_poses_3d(path)
    assert poses.poses_3d.shape == (7, 32, 3) and poses.layout == "h36m32" and poses.fps == 50
    np.testing.assert_allclose(poses.poses_3d[3, 5], positions[15:18, 3], rtol=1e-6)  # joint 5 of frame 3


def test_h36m_cameras_h5_returns_world_to_camera_rotation(tmp_path):
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # world -> camera
    path = tmp_path / "cameras.h5"
    with h5py.File(path, "w") as handle:
        for subject in (1, 5):
            for camera, name in enumerate(["54138969", "55011271"], start=1):
                group = handle.create_group(f"subject{subject}/camera{camera}")
                group["R"] = rotation.T  # stored transposed, as in the baseline's file
                group["T"] = np.array([[1000.0], [2000.0], [1500.0]])
                group["f"] = np.array([[1145.0], [1144.0]])
                group["c"] = np.array([[512.5], [515.4]])
                group["k"] = np.array([[-0.2], [0.24], [-0.002]])
                group["p"] = np.array([[-0.001], [-0.0005]])
                group["Name"] = np.array([ord(char) for char in name], dtype=np.uint8)
    cameras = read_h36m_cameras_h5(path)
    assert list(cameras) == [(1, 1), (1, 2), (5, 1), (5, 2)]
    camera = cameras[(5, 1)]
    assert camera["name"] == "54138969" and (camera["width"], camera["height"]) == (1000, 1002)
    assert (camera["fx"], camera["fy"], camera["cx"], camera["cy"]) == (1145.0, 1144.0, 512.5, 515.4)
    np.testing.assert_array_equal(camera["R"], rotation)
    np.testing.assert_array_equal(camera["centre"], [1000, 2000, 1500])
    assert camera["k"].shape == (3,) and camera["p"].shape == (2,)


def test_stacked_hourglass_detections_h5(tmp_path):
    poses = np.random.default_rng(5).uniform(0, 1000, size=(4, 16, 2))
    path = tmp_path / "Walking_1.54138969.h5"
    with h5py.File(path, "w") as handle:
        handle["poses"] = poses
    track = load_keypoints_2d(path)
    assert track.layout == "sh16" and track.image_size == (1000, 1002) and len(SH16_JOINT_NAMES) == 16
    assert track.camera.name == "54138969" and track.camera.k[0] == pytest.approx(-0.2070989)   # its calibration
    np.testing.assert_allclose(track.keypoints_2d, poses, rtol=1e-6)
    with h5py.File(path, "w") as handle:
        handle["poses"] = poses[:, :15]
    with pytest.raises(FormatError, match=r"'poses' has shape \(4, 15, 2\), expected \(T, 16, 2\)"):
        read_sh_detections_h5(path)


def test_h36m_positions_h5_with_wrong_shape(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:
        handle["3D_positions"] = np.zeros((51, 3))
    with pytest.raises(FormatError, match=rf"^{path}: '3D_positions' has shape \(51, 3\), expected \(96, T\)"):
        read_h36m_positions_h5(path)
