"""Each plausible mistake in 2D keypoints is handled exactly or refused with one line, never lifted wrong."""

import json

import numpy as np
import pytest
import torch

import poselift
from poselift.cli import main
from poselift.conventions import as_h36m17, check_upright, first_joints_spread, pixels_from_normalised
from poselift.errors import LayoutError, PoseliftError
from poselift.io import load_keypoints_2d, load_poses_3d
from poselift.io.poselift_format import write_keypoints_2d
from poselift.io.records import Keypoints2D
from poselift.skeleton import COCO17, H36M17

# H36M-17 index of each COCO-17 joint that H36M-17 has (the face only maps to the head, at the nose)
COCO_FROM_H36M = {"left_shoulder": "l_shoulder", "right_shoulder": "r_shoulder", "left_elbow": "l_elbow",
                  "right_elbow": "r_elbow", "left_wrist": "l_wrist", "right_wrist": "r_wrist", "left_hip": "l_hip",
                  "right_hip": "r_hip", "left_knee": "l_knee", "right_knee": "r_knee", "left_ankle": "l_ankle",
                  "right_ankle": "r_ankle"}


@pytest.fixture(scope="module")
def track(small_benchmark):
    """60 consecutive test frames of camera 0: (H36M-17 px (60, 17, 2), COCO-17 px (60, 17, 2), mm (60, 17, 3))."""
    frames = torch.nonzero(small_benchmark.frame_mask("test")).squeeze(1)[:60]
    camera = small_benchmark.cameras[0]
    poses_cam = camera.world_to_camera(small_benchmark.poses_3d_world[frames].double())
    keypoints = camera.project(poses_cam).float().numpy()
    head = keypoints[:, H36M17.index("head")]
    coco = np.zeros((len(keypoints), 17, 2), np.float32)
    for index, name in enumerate(COCO17.joint_names):       # a face a few px around the head, as detectors give
        coco[:, index] = keypoints[:, H36M17.index(COCO_FROM_H36M[name])] if name in COCO_FROM_H36M else head
    coco[:, 1:5] += np.array([[-6, -4], [6, -4], [-12, 0], [12, 0]], np.float32)
    return keypoints, coco, (poses_cam - poses_cam[:, :1]).numpy()


def test_normalised_coordinates_are_scaled_with_a_known_image_size_and_refused_without(track):
    keypoints = track[0] / 1000.0                              # the benchmark's images are 1000 px wide
    known = Keypoints2D(keypoints, None, "h36m17", image_size=(1000, 1002))
    scaled = pixels_from_normalised(known, "k.json")
    np.testing.assert_allclose(scaled.keypoints_2d, keypoints * np.array([1000, 1002]), rtol=1e-6)
    assert "scaled to pixels with the image size 1000 x 1002" in scaled.notes[0]
    with pytest.raises(PoseliftError, match=r"k\.json: every coordinate lies in \[0\.\d\d, 0\.\d\d\].*image size"):
        pixels_from_normalised(Keypoints2D(keypoints, None, "h36m17"), "k.json")
    in_pixels = Keypoints2D(track[0], None, "h36m17")
    assert pixels_from_normalised(in_pixels, "k.json") is in_pixels                 # pixels pass untouched


def test_a_y_up_track_is_refused_or_flipped_as_told(track):
    height = 1002
    y_up = track[0].copy()
    y_up[..., 1] = height - y_up[..., 1]
    keypoints = Keypoints2D(y_up, None, "h36m17", image_size=(1000, height))
    with pytest.raises(PoseliftError, match="head is below the feet in 100% of the 60 frames.*--orientation y-up"):
        check_upright(keypoints, "auto", "k.json")
    flipped = check_upright(keypoints, "y-up", "k.json")
    np.testing.assert_allclose(flipped.keypoints_2d, track[0], atol=1e-3)
    assert "flipped about the image height 1002 px" in flipped.notes[0]
    assert check_upright(keypoints, "y-down", "k.json") is keypoints               # a real handstand: trusted
    upright = Keypoints2D(track[0], None, "h36m17")
    assert check_upright(upright, "auto", "k.json") is upright


def test_the_api_takes_a_layout_and_refuses_coco_order_given_as_h36m17(track):
    model = poselift.load_model("pose")
    h36m, coco, _ = track
    assert first_joints_spread(h36m, None) > 0.3 and first_joints_spread(coco, None) < 0.15
    with pytest.raises(LayoutError, match="declared h36m17.*cluster like a face.*layout='coco17'"):
        model.lift(coco)
    from_coco = model.lift(coco, layout="coco17")
    converted, confidence = as_h36m17(coco, None, "coco17")
    np.testing.assert_allclose(from_coco, model.lift(converted, confidence), atol=1e-4)
    as_tensor = model.lift(torch.from_numpy(coco), layout="coco17")
    assert isinstance(as_tensor, torch.Tensor) and np.allclose(as_tensor.numpy(), from_coco, atol=1e-4)
    with pytest.raises(LayoutError, match="declared coco17.*spread over"):
        model.lift(h36m, layout="coco17")


def test_lift_command_says_what_it_did_and_refuses_what_it_cannot_know(track, tmp_path, capsys):
    normalised = tmp_path / "normalised.npz"
    write_keypoints_2d(normalised, Keypoints2D(track[0] / 1000.0, None, "h36m17"))
    assert main(["lift", str(normalised), "--out", str(tmp_path / "refused"), "--no-animation"]) == 2
    assert "normalised image coordinates" in capsys.readouterr().err
    assert main(["lift", str(normalised), "--out", str(tmp_path / "scaled"), "--no-animation",
                 "--image-size", "1000", "1000"]) == 0
    out = capsys.readouterr().out
    assert "note: coordinates were in [0, 1]: scaled to pixels with the image size 1000 x 1000" in out
    poses = load_poses_3d(tmp_path / "scaled" / "poses_3d.npz")
    assert "scaled to pixels" in poses.meta["notes"][0]
    coco_file = tmp_path / "coco_as_h36m.npz"
    write_keypoints_2d(coco_file, Keypoints2D(track[1], None, "h36m17"))
    assert main(["lift", str(coco_file), "--out", str(tmp_path / "coco"), "--no-animation"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "COCO-17 order?" in err


def test_a_mediapipe_file_written_in_pixels_is_read_as_pixels(tmp_path):
    landmarks = np.random.default_rng(0).uniform(100, 900, (3, 33, 2))
    frames = [{"landmarks": [{"x": float(x), "y": float(y), "visibility": 0.9} for x, y in frame]}
              for frame in landmarks]
    path = tmp_path / "pixels.json"
    path.write_text(json.dumps({"image_size": [1080, 1920], "frames": frames}))
    keypoints = load_keypoints_2d(path)
    np.testing.assert_allclose(keypoints.keypoints_2d, landmarks, rtol=1e-6)
    assert "already in pixels" in keypoints.notes[0]
    normalised = tmp_path / "normalised.json"
    normalised.write_text(json.dumps({"image_size": [1080, 1920], "frames": [
        {"landmarks": [{"x": float(x) / 1080, "y": float(y) / 1920, "visibility": 0.9} for x, y in frame]}
        for frame in landmarks]}))
    read = load_keypoints_2d(normalised)
    np.testing.assert_allclose(read.keypoints_2d, landmarks, rtol=1e-5)
    assert read.notes == ()
