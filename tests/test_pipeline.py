"""The pipeline after the 2D that lift and video share: frame rate, smoothing, every output."""

import json

import numpy as np
import pytest
import torch

import poselift
from poselift.errors import PoseliftError
from poselift.io import load_poses_3d
from poselift.io.records import Keypoints2D
from poselift.pipeline import ASSUMED_FPS, lift_track, resolve_fps, smooth_poses, smoothing_window


@pytest.fixture(scope="module")
def track(small_benchmark):
    """40 consecutive test frames of camera 1, gt 2D with confidences 1, as a file would give them."""
    frames = torch.nonzero(small_benchmark.frame_mask("test")).squeeze(1)[:40]
    camera = small_benchmark.cameras[1]
    keypoints = camera.project(camera.world_to_camera(small_benchmark.poses_3d_world[frames].double())).float().numpy()
    return Keypoints2D(keypoints, np.ones(keypoints.shape[:2], np.float32), "h36m17", image_size=(1000, 1000))


def test_the_frame_rate_comes_from_the_flag_then_the_file_then_the_video(track):
    with_rate = Keypoints2D(track.keypoints_2d, track.confidence, "h36m17", fps=50.0)
    assert resolve_fps(25.0, with_rate, 60.0) == (25.0, "--fps")
    assert resolve_fps(None, with_rate, 60.0) == (50.0, "the keypoint file")
    assert resolve_fps(None, track, 60.0) == (60.0, "the video")
    assert resolve_fps(None, track) == (None, "unknown")
    with pytest.raises(PoseliftError, match="--fps"):
        resolve_fps(-1.0, track)


def test_a_track_with_a_rate_is_smoothed_and_every_output_states_it(track, tmp_path):
    model = poselift.load_model("pose")
    smoothed = lift_track(track, model, "pose", tmp_path, source="track.json", fps=50.0, fps_source="--fps",
                          animation=False)
    names = sorted(path.name for path in smoothed.written)
    assert names == ["figure.png", "poses_3d.bvh", "poses_3d.c3d", "poses_3d.csv", "poses_3d.json", "poses_3d.npz",
                     "poses_3d.trc", "poses_3d_world.json", "viewer.html"]
    poses = load_poses_3d(tmp_path / "poses_3d.npz")
    assert poses.fps == 50.0 and poses.meta["smoothing"]["window_frames"] == smoothing_window(50.0) == 11
    assert smoothed.lines[0] == "track.json: no left/right swap found"
    assert "50 fps (from --fps), smoothed over 11 frames" in smoothed.lines[1]
    assert "Frame Time: 0.02" in (tmp_path / "poses_3d.bvh").read_text()
    (tmp_path / "raw").mkdir()
    raw = lift_track(track, model, "pose", tmp_path / "raw", source="track.json", fps=50.0, smoothing_s=0.0,
                     animation=False)
    assert raw.poses.meta["smoothing"] is None
    change = np.linalg.norm(smoothed.poses.poses_3d - raw.poses.poses_3d, axis=-1)
    assert 0 < change.mean() < 20                                          # mm: smoothing moves joints a little


def test_a_track_without_a_rate_is_not_smoothed_and_says_the_rate_it_assumed(track, tmp_path):
    result = lift_track(track, poselift.load_model("pose"), "pose", tmp_path, source="images.json", animation=False)
    data = json.loads((tmp_path / "poses_3d.json").read_text())
    assert data["fps"] == ASSUMED_FPS and "assumed" in data["meta"]["fps_source"]
    assert result.poses.meta["smoothing"] is None and "not smoothed (set --fps)" in result.lines[0]


def bone_lengths(poses_mm):
    """(T, 16) mm: every H36M-17 bone's length in every frame (bone to joint 1..16)."""
    from poselift.skeleton import H36M17

    parents = np.array(H36M17.parents)
    return np.linalg.norm(poses_mm[:, 1:] - poses_mm[:, parents[1:]], axis=-1)


def test_every_output_of_a_sequence_plays_one_symmetric_skeleton(track, tmp_path):
    """The npz holds the poses on the clip's skeleton (constant bones, left = right, as the metadata
    says), and the BVH read back gives the same joints (< 0.5 mm) as the npz in the export frame."""
    from poselift.export import bvh_h36m_positions, skeleton_bone_lengths, world_positions
    from poselift.io.bvh import read_bvh
    from poselift.skeleton import H36M17

    result = lift_track(track, poselift.load_model("pose"), "pose", tmp_path, source="track.json", fps=50.0,
                        animation=False)
    poses = load_poses_3d(tmp_path / "poses_3d.npz")
    skeleton = poses.meta["skeleton"]
    assert skeleton["poses_fitted"] is True
    recorded = np.array([skeleton["bone_lengths_mm"][name] for name in H36M17.joint_names[1:]])
    lengths = bone_lengths(poses.poses_3d.astype(np.float64))
    np.testing.assert_allclose(lengths, np.broadcast_to(recorded, lengths.shape), atol=0.01)     # mm
    by_name = skeleton["bone_lengths_mm"]
    for left, right in H36M17.left_right:
        assert by_name[H36M17.joint_names[left]] == by_name[H36M17.joint_names[right]]
    np.testing.assert_allclose(skeleton_bone_lengths(poses.poses_3d)[1:], recorded, atol=0.01)
    assert any(line.startswith("one skeleton: every bone at the clip's median length") for line in result.lines)

    played = bvh_h36m_positions(read_bvh(tmp_path / "poses_3d.bvh")) * 1000.0                   # metres -> mm
    expected = world_positions(poses.poses_3d, poses.frame, "y")
    relative = lambda joints: joints - joints[:, :1]  # noqa: E731  (the BVH also moves along the root's path)
    assert np.linalg.norm(relative(played) - relative(expected), axis=-1).max() < 0.5            # mm
    csv = np.genfromtxt(tmp_path / "poses_3d.csv", delimiter=",", names=True)
    markers = np.stack([np.stack([csv[f"{name}_{axis}_mm"] for axis in "xyz"], -1) for name in H36M17.joint_names], 1)
    assert np.linalg.norm(played - markers, axis=-1).max() < 0.5                                # the same joints
    world = load_poses_3d(tmp_path / "poses_3d_world.json")                  # the world JSON: the CSV's joints
    assert (world.frame, world.up, world.fps) == ("world", "y", 50.0)
    np.testing.assert_allclose(world.poses_3d, markers, atol=0.006)          # the CSV has 0.01 mm
    assert np.ptp(played[:, 0], axis=0).max() > 50.0                    # the root's estimated path, not in place


def test_the_root_path_from_one_calibrated_view_is_where_the_person_walked(small_benchmark, tmp_path):
    """With the camera that filmed the track, the exports' root path is the true one, up to the lifted
    skeleton's size (the estimate's depth scales with it)."""
    from dataclasses import replace

    camera = small_benchmark.cameras[1]
    frames = np.arange(0, 400, 2)
    world = small_benchmark.poses_3d_world[frames].double()
    truth = camera.world_to_camera(world).numpy()[:, 0]                             # (T, 3) mm, the pelvis
    keypoints = camera.project(camera.world_to_camera(world)).float().numpy()
    track = Keypoints2D(keypoints, np.ones(keypoints.shape[:2], np.float32), "h36m17", image_size=(1000, 1000))
    result = lift_track(replace(track, camera=camera), poselift.load_model("pose"), "pose", tmp_path,
                        source="track.json", fps=50.0, animation=False)
    meta = load_poses_3d(tmp_path / "poses_3d.npz").meta["root_trajectory"]
    assert meta["estimated"] and meta["camera"].startswith(f"focal {camera.fx:.0f} x {camera.fy:.0f} px")
    assert abs(meta["median_distance_mm"] / np.median(truth[:, 2]) - 1) < 0.1
    assert any(line.startswith("the exports move the root along its path") for line in result.lines)


def test_free_bones_keep_the_lifted_lengths_and_the_bvh_the_same_skeleton(track, tmp_path):
    from poselift.export import skeleton_bone_lengths
    from poselift.io.bvh import read_bvh
    from poselift.skeleton import H36M17

    lift_track(track, poselift.load_model("pose"), "pose", tmp_path, source="track.json", fps=50.0, animation=False,
               fixed_bones=False)
    poses = load_poses_3d(tmp_path / "poses_3d.npz")
    assert poses.meta["skeleton"]["poses_fitted"] is False
    assert bone_lengths(poses.poses_3d.astype(np.float64)).std(0).max() > 1.0                  # mm: they vary
    motion = read_bvh(tmp_path / "poses_3d.bvh")
    bones = [number for number, name in enumerate(motion.joint_names) if not name.endswith(("_toes_End", "_hand_End"))]
    lengths = np.linalg.norm(motion.offsets[bones], axis=-1)                     # the toes and hands are extra
    bvh_lengths = sorted(np.round(lengths[lengths > 0] * 1000.0, 2))
    expected = skeleton_bone_lengths(poses.poses_3d)
    expected = sorted(np.round(expected[[H36M17.index(name) for name in H36M17.joint_names[1:]]], 2))
    np.testing.assert_allclose(bvh_lengths, expected, atol=0.02)


def test_a_swapped_stretch_is_undone_before_lifting_and_reported(track, tmp_path):
    from poselift.swaps import limb_groups, swap_pairs

    model = poselift.load_model("pose")
    points, confidence = track.keypoints_2d, track.confidence
    stretch = np.zeros(track.num_frames, bool)
    stretch[10:25] = True
    for pairs in limb_groups("h36m17").values():
        points, confidence = swap_pairs(points, confidence, pairs, stretch)
    broken = Keypoints2D(points, confidence, "h36m17", image_size=(1000, 1000))
    (tmp_path / "clean").mkdir(), (tmp_path / "fixed").mkdir(), (tmp_path / "kept").mkdir()
    clean = lift_track(track, model, "pose", tmp_path / "clean", source="clean.json", fps=50.0, animation=False)
    fixed = lift_track(broken, model, "pose", tmp_path / "fixed", source="broken.json", fps=50.0, animation=False)
    assert fixed.swaps.frames_changed.sum() == 15
    assert fixed.lines[0] == ("note: broken.json: the detector's left/right labels swapped back in 15 frames "
                              "(legs 10-24; arms 10-24; --no-swap-fix keeps them)")
    assert fixed.poses.meta["left_right_swaps"]["frames_changed"] == 15
    np.testing.assert_array_equal(fixed.poses.poses_3d, clean.poses.poses_3d)
    assert clean.lines[0] == "clean.json: no left/right swap found"

    kept = lift_track(broken, model, "pose", tmp_path / "kept", source="broken.json", fps=50.0, animation=False,
                      swap_fix=False)
    assert kept.swaps is None and kept.poses.meta["left_right_swaps"] is None
    assert np.abs(kept.poses.poses_3d - clean.poses.poses_3d).max() > 100.0                 # mm: the swap lifted


def test_the_lift_command_turns_both_steps_off(track, tmp_path, capsys):
    from dataclasses import replace

    from poselift.cli import main
    from poselift.io.poselift_format import write_keypoints_2d

    write_keypoints_2d(tmp_path / "track.json", replace(track, fps=50.0))
    assert main(["lift", str(tmp_path / "track.json"), "--out", str(tmp_path / "on"), "--no-animation"]) == 0
    assert main(["lift", str(tmp_path / "track.json"), "--out", str(tmp_path / "off"), "--no-animation",
                 "--no-swap-fix", "--free-bones"]) == 0
    on, off = load_poses_3d(tmp_path / "on" / "poses_3d.npz"), load_poses_3d(tmp_path / "off" / "poses_3d.npz")
    assert on.meta["skeleton"]["poses_fitted"] and on.meta["left_right_swaps"]["frames_changed"] == 0
    assert not off.meta["skeleton"]["poses_fitted"] and off.meta["left_right_swaps"] is None
    assert "track.json: no left/right swap found" in capsys.readouterr().out


def test_a_track_without_a_rate_gets_neither_the_swap_fix_nor_one_skeleton(track, tmp_path):
    result = lift_track(track, poselift.load_model("pose"), "pose", tmp_path, source="images.json", animation=False)
    assert result.swaps is None and result.poses.meta["left_right_swaps"] is None
    assert result.poses.meta["skeleton"]["poses_fitted"] is False


def test_a_track_without_a_pelvis_anywhere_is_refused(track, tmp_path):
    keypoints = track.keypoints_2d.copy()
    keypoints[:, [0, 1, 4]] = np.nan
    blind = Keypoints2D(keypoints, np.where(np.isnan(keypoints).any(-1), 0.0, 1.0).astype(np.float32), "h36m17")
    with pytest.raises(PoseliftError, match="no frame can be lifted"):
        lift_track(blind, poselift.load_model("pose"), "pose", tmp_path, source="blind.json", animation=False)


def test_smoothing_window():
    assert smoothing_window(60.0) == 13      # 0.2 s
    assert smoothing_window(25.0) == 5
    assert smoothing_window(60.0, 0.0) == 1


def test_smoothing_keeps_a_quadratic_and_removes_noise():
    times = np.arange(40) / 30.0
    quadratic = np.zeros((40, 17, 3))
    quadratic[..., 0] = (300.0 * times**2 - 100.0 * times)[:, None]
    np.testing.assert_allclose(smooth_poses(quadratic, 7), quadratic, atol=1e-3)

    rng = np.random.default_rng(0)
    motion = np.zeros((200, 17, 3))
    motion[..., 1] = 200.0 * np.sin(2 * np.pi * np.arange(200) / 60.0)[:, None]
    noisy = motion + rng.normal(scale=10.0, size=motion.shape)
    error_before = np.abs(noisy - motion).mean()
    error_after = np.abs(smooth_poses(noisy, 13) - motion).mean()
    assert error_after < 0.5 * error_before


def test_smoothing_leaves_missing_frames_and_splits_runs():
    poses = np.zeros((12, 17, 3))
    poses[:, 0, 0] = [0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0]
    poses[5] = np.nan                                  # the spike's frame is missing
    smoothed = smooth_poses(poses, 5)
    assert np.isnan(smoothed[5]).all()
    np.testing.assert_allclose(smoothed[np.arange(12) != 5], 0.0, atol=1e-4)
    short = np.arange(6, dtype=float)[:, None, None] * np.ones((6, 2, 3))
    short[2] = np.nan                                  # runs of 2 and 3 frames: too short for 5, kept or fitted
    np.testing.assert_allclose(smooth_poses(short, 5)[[0, 1, 3, 4, 5]], short[[0, 1, 3, 4, 5]], atol=1e-4)
