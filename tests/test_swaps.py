"""Left/right swaps of a 2D detector: found from the 2D motion of each limb group and undone exactly."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from poselift.io.records import Keypoints2D
from poselift.skeleton import MEDIAPIPE33
from poselift.swaps import find_swaps, frame_ranges, limb_groups, swap_pairs, undo_swaps, viterbi

POSE2SIM_FIXTURE = Path(__file__).parent / "fixtures" / "pose2sim_mediapipe.npz"


def clip_tracks(benchmark, kind="gt"):
    """(clip number, camera, (T, 17, 2) px, (T, 17) confidence) of every clip and camera of a benchmark."""
    clips = benchmark.clip_index.numpy()
    points, confidence = benchmark.keypoints_2d[kind].numpy(), benchmark.confidence[kind].numpy()
    for clip in np.unique(clips):
        frames = np.flatnonzero(clips == clip)
        for camera in range(len(points)):
            yield clip, camera, points[camera, frames], confidence[camera, frames]


def swapped(points, confidence, layout, stretches):
    """The track with each group's pairs exchanged in the frames of ``stretches`` ({group: (T,) bool})."""
    groups = limb_groups(layout)
    for group, frames in stretches.items():
        points, confidence = swap_pairs(points, confidence, groups[group], frames)
    return points, confidence


def frames_between(total, *ranges):
    mask = np.zeros(total, bool)
    for first, last in ranges:
        mask[first:last + 1] = True
    return mask


def test_limb_groups_of_the_layouts():
    groups = limb_groups("mediapipe33")
    assert set(groups) == {"head", "arms", "legs"}
    names = {group: {MEDIAPIPE33.joint_names[left] for left, _ in pairs} for group, pairs in groups.items()}
    assert names["legs"] == {"left_hip", "left_knee", "left_ankle", "left_heel", "left_foot_index"}
    assert names["arms"] == {"left_shoulder", "left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"}
    assert "mouth_left" in names["head"] and "left_ear" in names["head"]
    assert set(limb_groups("h36m17")) == {"arms", "legs"}
    assert {len(pairs) for pairs in limb_groups("openpose25").values()} == {2, 3, 6}     # eyes+ears, arms, legs+feet


def test_viterbi_finds_the_cheapest_path():
    rng = np.random.default_rng(0)
    step_costs, first_costs = rng.uniform(0, 1, size=(6, 4, 4)), rng.uniform(0, 1, size=4)
    step_costs[3, 0, 2] = np.inf                                     # a forbidden step
    best = min(itertools.product(range(4), repeat=6),
               key=lambda path: first_costs[path[0]] + sum(step_costs[t, path[t - 1], path[t]] for t in range(1, 6)))
    assert tuple(viterbi(step_costs, first_costs)) == best


def test_a_swapped_stretch_is_found_and_undone_exactly(small_benchmark):
    """The exact 2D of real motion capture, the whole body swapped in frames 20-44 and one leg pair swapped
    in 60-69 (as OpenPose does): every camera of the first clips gives back the track to the bit."""
    checked = 0
    for clip, camera, points, confidence in clip_tracks(small_benchmark):
        if len(points) < 80 or clip > 4:
            continue
        body = frames_between(len(points), (20, 44))
        legs = body | frames_between(len(points), (60, 69))
        broken_points, broken_confidence = swapped(points, confidence, "h36m17", {"arms": body, "legs": legs})
        track = Keypoints2D(broken_points, broken_confidence, "h36m17", fps=50.0)
        fixed, report = undo_swaps(track, source="clip")
        np.testing.assert_array_equal(report.swapped["arms"], body)
        np.testing.assert_array_equal(report.swapped["legs"], legs)
        np.testing.assert_array_equal(fixed.keypoints_2d, points.astype(np.float32))
        assert report.frames_changed.sum() == 35
        assert fixed.notes[-1] == ("clip: the detector's left/right labels swapped back in 35 frames "
                                   "(legs 20-44, 60-69; arms 20-44; --no-swap-fix keeps them)")
        assert report.to_meta()["groups"] == {"legs": "20-44, 60-69", "arms": "20-44"}
        checked += 1
    assert checked >= 8


def test_tracks_without_swaps_are_untouched(small_benchmark):
    """The exact 2D of every clip and camera of the small benchmark: no frame changed."""
    for _, _, points, confidence in clip_tracks(small_benchmark):
        track = Keypoints2D(points, confidence, "h36m17", fps=50.0)
        fixed, report = undo_swaps(track)
        assert not report.frames_changed.any() and fixed is track
        assert report.summary() == "the track: no left/right swap found"


def test_a_swap_across_missing_frames(small_benchmark):
    """Frames without the person (NaN, confidence 0) inside and before the swapped stretch stay missing;
    the stretch is still undone exactly."""
    _, _, points, confidence = next(clip_tracks(small_benchmark))
    points, confidence = points[:60].copy(), confidence[:60].copy()
    body = frames_between(60, (25, 39))
    broken_points, broken_confidence = swapped(points, confidence, "h36m17", {"arms": body, "legs": body})
    for frames in (slice(0, 3), slice(30, 33)):
        broken_points[frames], broken_confidence[frames] = np.nan, 0.0
    fixed, report = undo_swaps(Keypoints2D(broken_points, broken_confidence, "h36m17", fps=50.0))
    seen = np.isfinite(broken_points).all(axis=(1, 2))
    np.testing.assert_array_equal(report.swapped["arms"][seen], body[seen])
    np.testing.assert_array_equal(fixed.keypoints_2d[seen], points[seen].astype(np.float32))
    assert np.isnan(fixed.keypoints_2d[~seen]).all() and (fixed.confidence[~seen] == 0).all()


def test_noisy_detections_with_simulated_swaps(small_benchmark):
    """The benchmark's noisy 2D swaps an arm or a leg for single frames (its detector model): most are
    found, and no frame is swapped that was not."""
    found = missed = false = 0
    groups = limb_groups("h36m17")
    exact = {(clip, camera): points for clip, camera, points, _ in clip_tracks(small_benchmark)}
    for clip, camera, points, confidence in clip_tracks(small_benchmark, "noisy"):
        flags = find_swaps(points, confidence, "h36m17")
        for group, pairs in groups.items():
            left, right = np.array(pairs).T
            truth_2d = exact[clip, camera]
            kept = np.linalg.norm(points[:, np.r_[left, right]] - truth_2d[:, np.r_[left, right]], axis=-1).mean(1)
            exchanged = np.linalg.norm(points[:, np.r_[left, right]] - truth_2d[:, np.r_[right, left]], axis=-1).mean(1)
            truth = exchanged < kept
            found += int((truth & flags[group]).sum())
            missed += int((truth & ~flags[group]).sum())
            false += int((~truth & flags[group]).sum())
    assert found + missed > 50 and found >= 0.9 * (found + missed) and false == 0


@pytest.fixture(scope="module")
def pose2sim():
    """MediaPipe on Pose2Sim's four views, 100 frames (tests/fixtures/make_pose2sim_mediapipe.py)."""
    data = np.load(POSE2SIM_FIXTURE)
    return data


def test_mediapipes_swap_in_pose2sim_cam02_is_undone_and_the_other_views_are_kept(pose2sim):
    """Real MediaPipe: cam02 swaps the athlete's left and right in frames 41-70 (with a few frames back
    near the end); the other views never do. Frames counted from the video's first."""
    first = int(pose2sim["first_frame"])
    for camera, points, confidence in zip(pose2sim["cameras"], pose2sim["keypoints_2d"], pose2sim["confidence"]):
        flags = find_swaps(points, confidence, "mediapipe33")
        ranges = {group: frame_ranges(np.r_[np.zeros(first, bool), frames]) for group, frames in flags.items()}
        if camera == "cam02":
            assert ranges["arms"] == "41-62, 65, 67-68, 70"
            assert ranges["legs"] == "41-59, 61-62, 65, 67-70"
        else:
            assert not any(frames.any() for frames in flags.values()), camera
