"""COCO keypoint JSON (results lists and dataset files) on the fixtures in tests/fixtures/io."""

import json
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io import load_keypoints_2d
from poselift.io.coco_json import read_coco_keypoints

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def test_coco_results_pick_best_scoring_person_ordered_by_image_id():
    track = read_coco_keypoints(FIXTURES / "coco_results.json", fps=25)
    assert track.layout == "coco17" and track.num_frames == 2 and track.fps == 25
    np.testing.assert_array_equal(track.keypoints_2d[0, 5], [15, 25])  # image 1, score 0.9 person
    np.testing.assert_array_equal(track.keypoints_2d[1, 16], [116, 216])  # image 2
    assert track.confidence[0, 3] == 1.0  # score 1.7 clipped
    np.testing.assert_allclose(track.confidence[0, 4], 0.8)


def test_coco_dataset_orders_by_file_name_and_marks_unlabelled_joints():
    track = load_keypoints_2d(FIXTURES / "coco_dataset.json")
    assert track.image_size == (640, 480) and track.num_frames == 3
    # frame_2.jpg: joint 0 has v = 0
    assert np.isnan(track.keypoints_2d[0, 0]).all() and track.confidence[0, 0] == 0
    np.testing.assert_array_equal(track.keypoints_2d[0, 1], [61, 70])
    # frame_3.jpg has no person
    assert np.isnan(track.keypoints_2d[1]).all() and not track.confidence[1].any()
    # frame_10.jpg: the larger of two boxes; v = 1 and v = 2 both give confidence 1
    np.testing.assert_array_equal(track.keypoints_2d[2, 3], [33, 40])
    assert (track.confidence[2] == 1).all()


def test_coco_person_with_short_keypoints_names_file_image_and_field(tmp_path):
    results = json.loads((FIXTURES / "coco_results.json").read_text())
    results[0]["keypoints"] = results[0]["keypoints"][:-3]
    path = tmp_path / "short.json"
    path.write_text(json.dumps(results))
    with pytest.raises(FormatError, match=rf"^{path}: image 2: 'keypoints' has 48 values, expected 51"):
        load_keypoints_2d(path)
    del results[0]["keypoints"]
    path.write_text(json.dumps(results))
    with pytest.raises(FormatError, match=rf"^{path}: image 2: person has no 'keypoints' field"):
        read_coco_keypoints(path)
