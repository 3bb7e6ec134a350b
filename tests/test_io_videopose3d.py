"""VideoPose3D data_2d / data_3d npz files: picking subject, action and camera, metres to mm, write and read back."""

import numpy as np
import pytest

from poselift.errors import FormatError, ShapeError
from poselift.io import load_keypoints_2d, load_poses_3d
from poselift.io.videopose3d import (
    list_videopose3d,
    read_videopose3d_2d,
    read_videopose3d_3d,
    write_videopose3d_2d,
    write_videopose3d_3d,
)
from poses import keypoint_track


def test_videopose3d_2d_file_as_videopose_writes_it(tmp_path):
    rng = np.random.default_rng(2)
    cameras = [rng.uniform(0, 1000, size=(6, 17, 2)).astype(np.float32) for _ in range(4)]
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S1": {"Walking": cameras}}, metadata=metadata)
    track = load_keypoints_2d(path, subject="S1", action="Walking", camera=2)
    assert track.layout == "h36m17"
    assert track.camera.name == "58860488" and track.camera.fx == pytest.approx(1149.1407)   # Human3.6M's third
    np.testing.assert_array_equal(track.keypoints_2d, cameras[2])
    assert (track.confidence == 1).all()
    with pytest.raises(FormatError, match=rf"^{path}: no subject 'S9' \(available: S1\)"):
        read_videopose3d_2d(path, subject="S9")
    with pytest.raises(FormatError, match="no camera 4 \\(4 cameras\\)"):
        read_videopose3d_2d(path, camera=4)


def test_videopose3d_2d_write_then_read(tmp_path):
    tracks = {"clip": {"custom": [keypoint_track("coco17", image_size=(1920, 1080), fps=None)]}}
    path = tmp_path / "data_2d_custom.npz"
    write_videopose3d_2d(path, tracks)
    assert list_videopose3d(path) == {"clip": ["custom"]}
    again, original = read_videopose3d_2d(path), tracks["clip"]["custom"][0]
    np.testing.assert_array_equal(again.keypoints_2d, original.keypoints_2d)
    np.testing.assert_array_equal(again.confidence, original.confidence > 0)  # no confidence in the format
    assert (again.layout, again.image_size) == ("coco17", (1920, 1080))
    assert again.camera is None                                      # not a Human3.6M file: no known camera
    metadata = np.load(path, allow_pickle=True)["metadata"].item()
    assert metadata["layout_name"] == "coco" and metadata["keypoints_symmetry"][0][0] == 1


def test_videopose3d_3d_metres_to_millimetres(tmp_path):
    poses_m = np.random.default_rng(3).normal(size=(5, 32, 3)).astype(np.float32)
    path = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(path, positions_3d={"S1": {"Walking": poses_m, "Eating": poses_m[:2]}})
    poses = load_poses_3d(path, subject="S1", action="Walking")
    assert poses.layout == "h36m32" and poses.frame == "world" and poses.joint_names[0] == "pelvis"
    np.testing.assert_allclose(poses.poses_3d, poses_m * 1000, rtol=1e-6)
    out = tmp_path / "again.npz"
    write_videopose3d_3d(out, {"S1": {"Walking": poses}})
    np.testing.assert_allclose(read_videopose3d_3d(out).poses_3d, poses.poses_3d, rtol=1e-6)
    with pytest.raises(FormatError, match="the file has 2 actions; choose one with action="):
        read_videopose3d_3d(path, subject="S1")


def test_videopose3d_with_wrong_shape_names_file(tmp_path):
    path = tmp_path / "data_2d_bad.npz"
    np.savez(path, positions_2d={"S1": {"Walking": [np.zeros((5, 17, 3))]}}, metadata={"layout_name": "h36m"})
    with pytest.raises(ShapeError, match=rf"^{path}: Keypoints2D.keypoints_2d: expected shape \(T, J, 2\)"):
        read_videopose3d_2d(path)
