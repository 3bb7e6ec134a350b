"""OpenPose per-frame JSON folders: reading the fixture folder, writing and reading back."""

from pathlib import Path

import numpy as np
import pytest

from poselift.errors import LayoutError
from poselift.io import load_keypoints_2d
from poselift.io.openpose_json import read_openpose_json, write_openpose_json
from poses import keypoint_track

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def test_openpose_folder_sorted_by_frame_number_with_missing_people():
    track = load_keypoints_2d(FIXTURES / "openpose", fps=30)
    assert track.layout == "openpose25" and track.num_frames == 3 and track.fps == 30
    # frame 1: keypoint 4 was 0, 0, 0 -> NaN
    np.testing.assert_array_equal(track.keypoints_2d[0, 3], [303, 403])
    assert np.isnan(track.keypoints_2d[0, 4]).all() and track.confidence[0, 4] == 0
    # frame 2: the person with the higher total confidence
    np.testing.assert_array_equal(track.keypoints_2d[1, 24], [334, 434])
    np.testing.assert_allclose(track.confidence[1], 0.9)
    # frame 10: nobody
    assert np.isnan(track.keypoints_2d[2]).all() and not track.confidence[2].any()


def test_openpose_write_then_read(tmp_path):
    track = keypoint_track("openpose25", image_size=None, fps=None)
    written = write_openpose_json(tmp_path / "out", track)
    assert [path.name for path in written] == [f"frame_{frame:012d}_keypoints.json" for frame in range(3)]
    assert read_openpose_json(tmp_path / "out") == track
    with pytest.raises(LayoutError, match="OpenPose files need layout 'openpose25'"):
        write_openpose_json(tmp_path / "other", keypoint_track("coco17"))
