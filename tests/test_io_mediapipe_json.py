"""MediaPipe landmarks JSON: normalised coordinates to pixels, write and read back, errors naming the frame."""

import json
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io import load_keypoints_2d
from poselift.io.mediapipe_json import read_mediapipe_json, write_mediapipe_json
from poses import keypoint_track

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def test_mediapipe_landmarks_become_pixels_with_visibility_as_confidence():
    track = load_keypoints_2d(FIXTURES / "mediapipe_landmarks.json")
    assert track.layout == "mediapipe33" and track.image_size == (640, 480) and track.fps == 30
    np.testing.assert_allclose(track.keypoints_2d[0, 20], [20 / 40 * 640, 20 / 50 * 480], rtol=1e-6)
    np.testing.assert_allclose(track.keypoints_2d[2, 0], [0.1 * 640, 0.1 * 480], rtol=1e-6)
    assert track.confidence[0, 0] == 1.0 and track.confidence[2, 7] == 0.5
    assert np.isnan(track.keypoints_2d[1]).all() and not track.confidence[1].any()


def test_mediapipe_write_then_read(tmp_path):
    track = keypoint_track("mediapipe33", image_size=(1080, 1920), fps=60.0)
    write_mediapipe_json(tmp_path / "mp.json", track)
    again = read_mediapipe_json(tmp_path / "mp.json")
    np.testing.assert_allclose(again.keypoints_2d, track.keypoints_2d, rtol=1e-6)
    np.testing.assert_array_equal(again.confidence, track.confidence)
    assert (again.image_size, again.fps, again.layout) == (track.image_size, track.fps, track.layout)


def test_mediapipe_frame_with_wrong_landmark_count_names_file_and_frame(tmp_path):
    document = json.loads((FIXTURES / "mediapipe_landmarks.json").read_text())
    document["frames"][2]["landmarks"].pop()
    path = tmp_path / "mp.json"
    path.write_text(json.dumps(document))
    with pytest.raises(FormatError, match=rf"^{path}: frames\[2\].landmarks has 32 entries, expected 33"):
        read_mediapipe_json(path)
