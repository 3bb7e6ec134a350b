"""The in-memory records (poselift.io.records): Keypoints2D and Poses3D check their fields, and
readers name the file when a record built from it is bad."""

import numpy as np
import pytest
import torch

from poselift.errors import FormatError, LayoutError, ShapeError
from poselift.io.records import Keypoints2D, Poses3D, naming_file
from poselift.skeleton import get_layout


def test_keypoints_record_converts_to_float32_and_derives_confidence_from_nan():
    keypoints = torch.zeros(2, 17, 2, dtype=torch.float64)
    keypoints[0, 5] = float("nan")
    track = Keypoints2D(keypoints, None, "h36m17", image_size=[640, 480])
    assert track.keypoints_2d.dtype == np.float32 and track.confidence.dtype == np.float32
    assert track.confidence[0, 5] == 0 and track.confidence.sum() == 2 * 17 - 1
    assert track.image_size == (640, 480) and (track.num_frames, track.num_joints) == (2, 17)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"keypoints_2d": np.zeros((2, 17, 3))}, ShapeError,
         r"Keypoints2D.keypoints_2d: expected shape \(T, J, 2\), got \(2, 17, 3\)"),
        ({"confidence": np.ones((2, 16))}, ShapeError, r"Keypoints2D.confidence: expected shape \(2, 17\)"),
        ({"confidence": np.full((2, 17), 1.5)}, ShapeError, r"confidence: values must be finite and in \[0, 1\]"),
        ({"keypoints_2d": np.full((2, 17, 2), np.nan)}, ShapeError, "NaN keypoint.*needs confidence 0"),
        ({"layout": "body99"}, LayoutError, "unknown keypoint layout 'body99'"),
        ({"layout": "coco17", "keypoints_2d": np.zeros((2, 25, 2)), "confidence": None}, ShapeError,
         "'coco17' has 17 joints"),
    ],
)
def test_keypoints_record_rejects_bad_fields(change, error, message):
    fields = {"keypoints_2d": np.zeros((2, 17, 2)), "confidence": np.ones((2, 17)), "layout": "h36m17"}
    fields.update(change)
    with pytest.raises(error, match=message):
        Keypoints2D(**fields)


def test_poses_record_checks_names_layout_frame_and_infinity():
    poses = Poses3D(np.zeros((4, 17, 3)), get_layout("h36m17").joint_names, "camera", layout="h36m17")
    assert poses.poses_3d.dtype == np.float32 and poses.meta == {}
    with pytest.raises(ShapeError, match=r"Poses3D.joint_names: 2 names for poses_3d of shape \(4, 17, 3\)"):
        Poses3D(np.zeros((4, 17, 3)), ("a", "b"), "camera")
    with pytest.raises(ShapeError, match=r"Poses3D.poses_3d: contains infinite values \(first: frame 0, joint 1\)"):
        Poses3D(np.array([[[0, 0, 0], [0, np.inf, 0]]]), ("a", "b"), "world")
    assert np.isnan(Poses3D(np.full((1, 2, 3), np.nan), ("a", "b"), "world").poses_3d).all()  # NaN = not estimated
    with pytest.raises(Exception, match="Poses3D.frame: expected one of camera, world, canonical, got 'image'"):
        Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "image")


def test_a_world_frame_states_its_up_axis_and_only_a_world_frame_has_one():
    assert Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "world").up == "z"         # motion capture's, the default
    assert Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "world", up="y").up == "y"
    assert Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "camera").up is None
    with pytest.raises(Exception, match="Poses3D.up: a world frame's up axis is 'y' or 'z', got 'x'"):
        Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "world", up="x")
    with pytest.raises(Exception, match="only a 'world' frame has an up axis \\(this frame is 'camera'\\)"):
        Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "camera", up="y")
    assert Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "world", up="y") != Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "world")


def test_records_compare_by_value_with_nan_equal_to_nan():
    keypoints = np.arange(2 * 17 * 2, dtype=np.float64).reshape(2, 17, 2)
    keypoints[1, 3] = np.nan
    track = Keypoints2D(keypoints, None, "h36m17", fps=25)
    assert track == Keypoints2D(keypoints.copy(), None, "h36m17", fps=25.0)     # NaN where NaN: equal
    assert track != Keypoints2D(keypoints, None, "h36m17", fps=50)
    moved = keypoints.copy()
    moved[0, 0, 0] += 1
    assert track != Keypoints2D(moved, None, "h36m17", fps=25)
    names = get_layout("h36m17").joint_names
    poses = Poses3D(np.zeros((1, 17, 3)), names, "world", meta={"source": "a"})
    assert poses == Poses3D(np.zeros((1, 17, 3)), names, "world", meta={"source": "a"})
    assert poses != Poses3D(np.zeros((1, 17, 3)), names, "world", meta={"source": "b"})
    assert poses != Poses3D(np.zeros((1, 17, 3)), names, "camera", meta={"source": "a"})
    with pytest.raises(ShapeError, match=r"Keypoints2D.fps: expected a positive number or None, got 0.0"):
        Keypoints2D(keypoints, None, "h36m17", fps=0)


def test_naming_file_puts_the_file_in_front_of_a_record_error_once():
    with pytest.raises(ShapeError, match=r"^clip.json: Keypoints2D.keypoints_2d: expected shape \(T, J, 2\)"):
        with naming_file("clip.json"):
            Keypoints2D(np.zeros((2, 17, 3)), None, "h36m17")
    with pytest.raises(LayoutError, match=r"^clip.json: unknown keypoint layout 'body99'"):
        with naming_file("clip.json"):
            Keypoints2D(np.zeros((2, 17, 2)), None, "body99")
    # a FormatError already starts with its file, as does a message that names this one: unchanged
    with pytest.raises(FormatError, match=r"^other.json: truncated$"):
        with naming_file("clip.json"):
            raise FormatError("other.json", "truncated")
    with pytest.raises(ShapeError, match=r"^clip.json: bad$"):
        with naming_file("clip.json"):
            raise ShapeError("clip.json: bad")
    with pytest.raises(ValueError, match=r"^not ours$"):                      # only poselift errors are renamed
        with naming_file("clip.json"):
            raise ValueError("not ours")
