"""poselift video --people all on real footage: the athlete and the bystander of Pose2Sim's cam01, each with a
stable id."""

from pathlib import Path

import numpy as np
import pytest

from poselift.io.people import match_to_tracks

CAM01 = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim" / "videos" / "cam01.mp4"


def test_people_are_matched_to_the_nearest_track_and_far_ones_start_their_own():
    tracks = [np.array([100.0, 100, 200, 400]), np.array([500.0, 100, 600, 400])]
    boxes = [np.array([510.0, 110, 610, 410]), np.array([105.0, 90, 205, 395]), np.array([900.0, 100, 1000, 400])]
    assert match_to_tracks(boxes, tracks, [0, 0]) == {0: 1, 1: 0}          # the third is nobody's: a new person
    assert match_to_tracks([], tracks, [0, 0]) == {} and match_to_tracks(boxes, [], []) == {}


def test_the_bystander_of_cam01_is_a_person_of_their_own(tmp_path):
    pytest.importorskip("mediapipe", reason='the video extra is not installed (pip install "poselift[video]")')
    if not CAM01.is_file():
        pytest.skip(f"real data not found at {CAM01}")
    from poselift.cli import main
    from poselift.io import load_keypoints_2d

    assert main(["video", str(CAM01), "--people", "all", "--out", str(tmp_path / "out"), "--max-frames", "12",
                 "--no-animation", "--quiet"]) == 0
    folders = sorted(path.name for path in (tmp_path / "out").iterdir() if path.is_dir())
    assert folders == ["person_0", "person_1"] and (tmp_path / "out" / "people.png").stat().st_size > 10_000
    tracks = [load_keypoints_2d(tmp_path / "out" / name / "keypoints_2d.json") for name in folders]
    centres = [np.nanmean(track.keypoints_2d, axis=1) for track in tracks]         # (12, 2) each
    for centre in centres:
        assert np.isfinite(centre).all()                                          # seen in every frame
        assert np.abs(np.diff(centre, axis=0)).max() < 60                         # px a frame: never a jump
    bystander, athlete = centres                                                  # ids by first appearance, left first
    assert (bystander[:, 0] < athlete[:, 0] - 200).all()
    assert (tmp_path / "out" / "person_1" / "poses_3d.npz").is_file()
