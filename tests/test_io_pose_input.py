"""load_pose_input: any 2D or 3D pose file as H36M-17 points, told apart by kind or detected."""

import json
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError, LayoutError, PoseliftError
from poselift.io.pose_input import load_pose_input
from poselift.io.poselift_format import write_poses_3d
from poselift.io.records import Poses3D
from poselift.io.videopose3d import write_videopose3d_3d
from poselift.skeleton import H36M17, get_layout

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def test_a_3d_file_is_read_as_3d_poses_and_h36m32_becomes_h36m17(tmp_path):
    poses_mm = np.random.default_rng(0).normal(size=(4, 17, 3)).astype(np.float32) * 300
    path = tmp_path / "poses.json"
    write_poses_3d(path, Poses3D(poses_mm, H36M17.joint_names, "world", layout="h36m17"))
    read = load_pose_input(path)
    assert (read.kind, read.path, read.confidence) == ("3d", str(path), None)
    np.testing.assert_array_equal(read.points, poses_mm)
    # 32 joints (VideoPose3D, metres): each H36M-17 joint is the H36M-32 joint of the same name, in mm
    names_32 = get_layout("h36m32").joint_names
    poses_32_m = np.random.default_rng(1).normal(size=(3, 32, 3)).astype(np.float32)
    path_32 = tmp_path / "data_3d.npz"
    write_videopose3d_3d(path_32, {"S1": {"Walk": Poses3D(poses_32_m * 1000, names_32, "world", layout="h36m32")}})
    read_32 = load_pose_input(path_32, kind="3d")
    expected = poses_32_m[:, [names_32.index(name) for name in H36M17.joint_names]] * 1000
    assert read_32.kind == "3d" and read_32.points.shape == (3, 17, 3) and read_32.points.dtype == np.float32
    np.testing.assert_allclose(read_32.points, expected, rtol=1e-6)


def test_a_coco_file_is_read_as_2d_keypoints_in_the_h36m17_layout():
    read = load_pose_input(FIXTURES / "coco_results.json")
    assert read.kind == "2d" and read.points.shape == (2, 17, 2) and read.confidence.shape == (2, 17)
    # image 1's chosen person has keypoint j at (10 + j, 20 + j), scores 0.8 (joint 3: 1.7, clipped to 1)
    pelvis, r_hip, l_hip, thorax, head = (H36M17.index(name) for name in ("pelvis", "r_hip", "l_hip", "thorax", "head"))
    np.testing.assert_allclose(read.points[0, r_hip], [22, 32])              # COCO right_hip = 12
    np.testing.assert_allclose(read.points[0, l_hip], [21, 31])              # COCO left_hip = 11
    np.testing.assert_allclose(read.points[0, pelvis], [21.5, 31.5])         # the hips' midpoint
    np.testing.assert_allclose(read.points[0, thorax], [15.5, 25.5])         # the shoulders' midpoint (5, 6)
    np.testing.assert_allclose(read.points[0, head], [12.5, 22.5])           # 0.75 (ears 3 + 4) - 0.5 thorax
    np.testing.assert_allclose(read.confidence[0, [pelvis, head]], [0.8, 0.8], rtol=1e-6)


def test_the_kind_decides_which_reader_and_its_error(tmp_path):
    coco = FIXTURES / "coco_results.json"
    with pytest.raises(FormatError, match=r"coco_results.json: unrecognised 3D pose file"):
        load_pose_input(coco, kind="3d")
    poses = tmp_path / "poses.npz"
    write_poses_3d(poses, Poses3D(np.zeros((1, 17, 3)), H36M17.joint_names, "camera", layout="h36m17"))
    assert load_pose_input(poses, kind="3d").kind == "3d"
    with pytest.raises(FormatError, match=r"poses.npz: 'format' is 'poselift.poses_3d', expected 'poselift.keypoints_2d'"):
        load_pose_input(poses, kind="2d")
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"hello": 1}))
    with pytest.raises(FormatError, match=r"notes.json: not a pose file \(as 3D poses: unrecognised 3D pose file.*; "
                                          r"as 2D keypoints: unrecognised 2D keypoint file"):
        load_pose_input(notes)
    with pytest.raises(FormatError, match="missing.json: no such file or folder"):
        load_pose_input(tmp_path / "missing.json")
    with pytest.raises(PoseliftError, match="pose kind must be one of auto, 2d, 3d, got '4d'"):
        load_pose_input(poses, kind="4d")


def test_3d_poses_need_a_known_layout(tmp_path):
    # named like H36M-17 but without a layout: taken as H36M-17
    unnamed = tmp_path / "unnamed.npz"
    write_poses_3d(unnamed, Poses3D(np.ones((2, 17, 3)), H36M17.joint_names, "world"))
    assert load_pose_input(unnamed).points.shape == (2, 17, 3)
    # 17 joints with other names follow no layout
    other = tmp_path / "other.npz"
    write_poses_3d(other, Poses3D(np.ones((2, 17, 3)), [f"marker{j}" for j in range(17)], "world"))
    with pytest.raises(LayoutError, match=r"other.npz: 3D poses with joints \['marker0'.*follow no known layout"):
        load_pose_input(other)
