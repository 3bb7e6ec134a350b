"""poselift's own 2D and 3D files (.npz / .json): identical read-back, JSON numbers, errors naming the file."""

import json
from dataclasses import replace

import numpy as np
import pytest

from poselift.errors import LayoutError, ShapeError
from poselift.io import load_keypoints_2d, load_poses_3d
from poselift.io.poselift_format import (
    json_array_chunks,
    read_keypoints_2d,
    read_poses_3d,
    write_keypoints_2d,
    write_poses_3d,
)
from poselift.io.records import Poses3D
from poselift.skeleton import get_layout
from poses import keypoint_track


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_poselift_2d_files_read_back_identical(tmp_path, suffix):
    track = keypoint_track()
    path = tmp_path / f"track{suffix}"
    write_keypoints_2d(path, track)
    assert read_keypoints_2d(path) == track
    assert load_keypoints_2d(path) == track
    if suffix == ".json":
        assert json.loads(path.read_text())["keypoints_2d"][1][2] == [None, None]  # NaN -> null
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_poselift_3d_files_read_back_identical(tmp_path, suffix):
    poses_mm = np.random.default_rng(1).normal(size=(5, 17, 3)) * 500
    poses_mm[2] = np.nan  # a frame the lifter could not estimate
    poses = Poses3D(
        poses_mm,
        get_layout("h36m17").joint_names,
        "world",
        fps=60.0,
        layout="h36m17",
        meta={"model": "baseline", "subject": "bd", "clip": [1, 2]},
    )
    path = tmp_path / f"poses{suffix}"
    write_poses_3d(path, poses)
    assert read_poses_3d(path) == poses
    assert load_poses_3d(path) == poses
    y_up = replace(poses, up="y")
    write_poses_3d(path, y_up)
    assert read_poses_3d(path) == y_up and read_poses_3d(path).up == "y"


def test_a_world_file_without_an_up_axis_is_z_up(tmp_path):
    path = tmp_path / "old.json"
    write_poses_3d(path, Poses3D(np.zeros((2, 17, 3)), get_layout("h36m17").joint_names, "world"))
    fields = json.loads(path.read_text())
    assert fields.pop("up") == "z"
    path.write_text(json.dumps(fields))                       # as written before the field existed
    assert read_poses_3d(path).up == "z"


def test_poselift_json_numbers_have_nine_digits_and_null_for_nan():
    values = np.array([[1.5, np.nan], [0.1, -2.0], [123.456, 3e-7]], np.float32)
    text = "".join(json_array_chunks(values, frames_per_chunk=2))     # two pieces
    assert text == "[[1.5, null], [0.100000001, -2], [123.456001, 3.00000011e-07]]"
    assert "".join(json_array_chunks(np.zeros((0, 17, 3), np.float32))) == "[]"


def test_poselift_json_reads_back_every_float32_exactly(tmp_path):
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, size=40_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([1.0, 2.0, 1000.0, 0.001, 1e-4, 1e9, 65536.0, 0.1, 3.4e38, 1e-38], np.float32)
    values = np.concatenate([bits[np.isfinite(bits)], edges, np.nextafter(edges, np.float32(np.inf)),
                             np.nextafter(edges, np.float32(0)), [0.0, -0.0, np.nan]]).astype(np.float32)
    poses_mm = np.resize(values, (len(values) // 51 + 1) * 51).reshape(-1, 17, 3)
    poses = Poses3D(poses_mm, get_layout("h36m17").joint_names, "camera", fps=50.0)
    write_poses_3d(tmp_path / "poses.json", poses)
    back = read_poses_3d(tmp_path / "poses.json")
    assert back == poses                                 # every value exactly (-0.0 comes back as 0.0, equal to it)
    assert np.array_equal(back.poses_3d, poses_mm, equal_nan=True)
    document = json.loads((tmp_path / "poses.json").read_text())
    assert list(document) == ["format", "version", "joint_names", "frame", "fps", "meta", "poses_3d"]


def test_poselift_npz_with_wrong_shape_names_file_and_field(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, format="poselift.keypoints_2d", version=1, keypoints_2d=np.zeros((3, 17, 3), np.float32),
             confidence=np.ones((3, 17), np.float32), layout="h36m17")
    message = rf"^{path}: Keypoints2D.keypoints_2d: expected shape \(T, J, 2\), got \(3, 17, 3\)"
    with pytest.raises(ShapeError, match=message):
        read_keypoints_2d(path)


def test_poselift_json_with_nan_and_confidence_names_file(tmp_path):
    track = keypoint_track()
    document = json.loads(json.dumps({"format": "poselift.keypoints_2d", "version": 1, "layout": "h36m17",
                                      "keypoints_2d": np.nan_to_num(track.keypoints_2d).tolist(),
                                      "confidence": np.ones((3, 17)).tolist()}))
    document["keypoints_2d"][0][4] = [None, 3.0]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(document))
    message = rf"^{path}: .*1 NaN keypoint\(s\) with confidence > 0 \(first: frame 0, joint 4\)"
    with pytest.raises(ShapeError, match=message):
        read_keypoints_2d(path)


def test_poselift_file_with_unknown_layout_names_file(tmp_path):
    path = tmp_path / "layout.json"
    path.write_text(json.dumps({"format": "poselift.keypoints_2d", "version": 1, "layout": "body99",
                                "keypoints_2d": [[[1, 2]]], "confidence": [[1]]}))
    with pytest.raises(LayoutError, match=rf"^{path}: unknown keypoint layout 'body99'"):
        load_keypoints_2d(path)
