import numpy as np
import pytest
import torch

from poselift.data.benchmark import BenchmarkConfig, _cut_at_glitches, _resample, BuildReport, build_benchmark, load_benchmark
from poselift.errors import FormatError, PoseliftError
from poselift.skeleton import H36M17


def test_build_is_deterministic(shared_data, small_benchmark_path):
    """The builder makes exactly the committed small benchmark (tests/fixtures/benchmark_small.npz, what most
    tests train and evaluate on without ../shared): every integer, text and 3D array bit for bit, the
    floating-point 2D and confidences to the last bit of float32 (a CPU with other vector units may round
    torch's exp one unit differently)."""
    again, _ = build_benchmark(shared_data, BenchmarkConfig(max_clips_per_subject=1))
    with np.load(small_benchmark_path) as first:
        assert sorted(first.files) == sorted(again)
        for key in first.files:
            if key in ("keypoints_2d_noisy", "confidence_noisy"):
                np.testing.assert_allclose(first[key], again[key], rtol=2e-7, atol=1e-7, err_msg=key)
            else:
                np.testing.assert_array_equal(first[key], again[key], err_msg=key)


def test_version_2_takes_the_floor_from_the_body_and_a_confidence_blind_to_the_error(shared_data):
    """2.0: a CMU clip whose RL_BoneRoot anchor set 1.0's floor stands on its own toes; the noisy 2D's
    confidence follows each joint's expected error, not the realised one (gross errors keep theirs)."""
    from poselift.cli import build_parser
    from poselift.data.benchmark import BENCHMARK_VERSIONS, benchmark_config

    one, _ = build_benchmark(shared_data, BenchmarkConfig(max_clips_per_subject=1))
    two, _ = build_benchmark(shared_data, benchmark_config("2.0", max_clips_per_subject=1))
    assert str(two["version"]) == "mocap-h36m-rig/2.0" and str(one["version"]) == "mocap-h36m-rig/1.0"
    poses = {}
    for name, arrays in (("1.0", one), ("2.0", two)):      # the clip's first segment (the image cuts may differ)
        clip = int(np.flatnonzero(np.char.startswith(arrays["clip_name"], "cmu_002_01"))[0])
        start, length = int(arrays["clip_start"][clip]), int(arrays["clip_length"][clip])
        poses[name] = arrays["poses_3d_world"][start:start + length]
    frames = min(len(poses["1.0"]), len(poses["2.0"]))
    lowered = poses["1.0"][:frames] - poses["2.0"][:frames]
    np.testing.assert_allclose(lowered[..., 2], 59.7, atol=0.1)                # mm, every joint and frame
    # the same frames, horizontally re-centred on a segment of another length: a constant shift
    np.testing.assert_allclose(lowered[..., :2] - lowered[:1, :1, :2], 0.0, atol=1e-2)
    error = {name: np.linalg.norm(arrays["keypoints_2d_noisy"] - arrays["keypoints_2d_gt"], axis=-1)
             for name, arrays in (("1.0", one), ("2.0", two))}
    correlation = {name: np.corrcoef(arrays["confidence_noisy"].ravel(), error[name].ravel())[0, 1]
                   for name, arrays in (("1.0", one), ("2.0", two))}
    assert correlation["1.0"] < -0.85 and -0.5 < correlation["2.0"] < -0.2
    torso = [0, 1, 4, 7, 8, 11, 14]                                # joints of 3 px noise: 25 px is a throw or swap
    torso_confidence, torso_error = two["confidence_noisy"][..., torso], error["2.0"][..., torso]
    thrown = torso_error > 25.0
    assert thrown.sum() > 100 and abs(torso_confidence[thrown].mean() - torso_confidence.mean()) < 0.01
    assert abs(error["2.0"].mean() - error["1.0"].mean()) < 0.3
    parsed = build_parser().parse_args(["data", "build", "--out", "x.npz", "--benchmark-version", "2.0"])
    assert parsed.benchmark_version == "2.0" and set(BENCHMARK_VERSIONS) == {"1.0", "2.0"}   # the CLI's choices
    with pytest.raises(PoseliftError, match="unknown benchmark version '3.0'"):
        benchmark_config("3.0")


def test_split_is_by_person(small_benchmark):
    subjects = {split: {clip["subject"] for clip in small_benchmark.clips if clip["split"] == split}
                for split in ("train", "test")}
    assert subjects["test"] == {"mm", "cmu06", "cmu07"}
    assert subjects["train"] == {"bd", "bk", "dg", "cmu01", "cmu02", "cmu03", "cmu05"}
    assert small_benchmark.version.startswith("mocap-h36m-rig/")
    assert small_benchmark.fps == 50.0


def test_validation_people_divide_the_training_split(small_benchmark):
    from poselift.data.benchmark import VALIDATION_SUBJECTS

    masks = {split: small_benchmark.frame_mask(split) for split in ("train", "test", "fit", "val")}
    assert torch.equal(masks["fit"] | masks["val"], masks["train"]) and not (masks["fit"] & masks["val"]).any()
    assert not (masks["val"] & masks["test"]).any() and masks["val"].any() and masks["fit"].any()
    subjects = {small_benchmark.clips[i]["subject"] for i in small_benchmark.clip_index[masks["val"]].tolist()}
    assert subjects == set(VALIDATION_SUBJECTS)
    with pytest.raises(PoseliftError, match="unknown split 'dev'"):
        small_benchmark.frame_mask("dev")


def test_poses_stand_on_the_floor_centred_and_human_sized(small_benchmark):
    poses = small_benchmark.poses_3d_world
    for clip in small_benchmark.clips:
        segment = poses[clip["start"]:clip["start"] + clip["length"]]
        assert segment[:, 0, :2].mean(0).abs().max() < 1e-2          # mean pelvis at the origin
        assert segment[..., 2].min() > -1.0                        # nothing below the floor
    head_above_ankles = poses[:, H36M17.index("head"), 2] - poses[:, [3, 6], 2].min(1).values
    assert 1200 < head_above_ankles.median() < 1900                # mm
    thigh = (poses[:, 2] - poses[:, 1]).norm(dim=-1)
    assert 350 < thigh.median() < 550


def test_every_pose_inside_every_image_and_derived_joints(small_benchmark):
    for camera_index, camera in enumerate(small_benchmark.cameras):
        keypoints = small_benchmark.keypoints_2d["gt"][camera_index]
        assert keypoints[..., 0].min() >= 10 and keypoints[..., 0].max() <= camera.width - 10
        assert keypoints[..., 1].min() >= 10 and keypoints[..., 1].max() <= camera.height - 10
        pelvis_offset = keypoints[:, 0] - torch.tensor([camera.cx, camera.cy])
        # the rig's optical axes meet ~0.4 m above the floor, so a standing pelvis sits ~130 px above centre
        assert pelvis_offset.norm(dim=-1).median() < 250
    poses = small_benchmark.poses_3d_world
    torch.testing.assert_close(poses[:, 0], (poses[:, 1] + poses[:, 4]) / 2)
    torch.testing.assert_close(poses[:, 8], (poses[:, 11] + poses[:, 14]) / 2)
    torch.testing.assert_close(poses[:, 7], (poses[:, 0] + poses[:, 8]) / 2)
    torch.testing.assert_close(poses[:, 9], (poses[:, 8] + poses[:, 10]) / 2)


def test_gt_2d_is_the_camera_projection(small_benchmark):
    frames = slice(0, 50)
    for camera_index, camera in enumerate(small_benchmark.cameras):
        projected = camera.project_world(small_benchmark.poses_3d_world[frames].double())
        torch.testing.assert_close(small_benchmark.keypoints_2d["gt"][camera_index, frames].double(), projected,
                                   atol=1e-3, rtol=0)


def test_noisy_2d_matches_the_documented_detector(small_benchmark):
    error = (small_benchmark.keypoints_2d["noisy"] - small_benchmark.keypoints_2d["gt"]).norm(dim=-1)
    wrists_ankles = error[..., [3, 6, 13, 16]].median()
    hips_shoulders = error[..., [1, 4, 11, 14]].median()
    assert 2.0 < hips_shoulders < 5.0 and 6.0 < wrists_ankles < 12.0     # about 3 and 8 px std
    confidence = small_benchmark.confidence["noisy"]
    assert confidence.min() >= 0 and confidence.max() <= 1
    assert confidence[error > 30].mean() < 0.3 < 0.8 < confidence[error < 5].mean()
    residual = small_benchmark.keypoints_2d["noisy"] - small_benchmark.keypoints_2d["gt"]
    small = (error < 20)
    lag1 = (residual[:, 1:] * residual[:, :-1]).sum(-1)[small[:, 1:] & small[:, :-1]].mean()
    variance = (residual ** 2).sum(-1)[small].mean()
    assert 0.55 < lag1 / variance < 0.85                           # AR(1) ~ 0.7 within clips


def test_glitches_cut_the_clip_and_short_pieces_are_dropped():
    poses = np.zeros((100, 17, 3))
    poses[:, :, 0] = np.arange(100)[:, None] * 10.0               # 1.2 m/s at 120 Hz
    poses[60:] += 500.0                                            # a pop: 60 m/s
    report = BuildReport()
    pieces = _cut_at_glitches(poses, 120.0, BenchmarkConfig(), report)
    assert [len(piece) for piece in pieces] == [60, 40] and report.glitch_cuts == 1
    poses[95:] += 500.0                                            # a second pop leaves 5 frames (< 0.2 s)
    report = BuildReport()
    pieces = _cut_at_glitches(poses, 120.0, BenchmarkConfig(), report)
    assert [len(piece) for piece in pieces] == [60, 35] and report.dropped_short_pieces_s == pytest.approx(5 / 120)


def test_resampling_keeps_a_smooth_motion():
    times = np.arange(121) / 120.0
    poses = np.sin(times)[:, None, None] * np.ones((1, 17, 3)) * 1000
    resampled = _resample(poses, 120.0, 50.0)
    assert resampled.shape == (51, 17, 3)
    np.testing.assert_allclose(resampled[:, 0, 0], np.sin(np.arange(51) / 50.0) * 1000, atol=1e-3)


def test_loading_a_bad_file_names_it(tmp_path):
    with pytest.raises(PoseliftError, match="no such benchmark"):
        load_benchmark(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros(3))
    with pytest.raises(FormatError, match="bad.npz: missing fields"):
        load_benchmark(bad)

