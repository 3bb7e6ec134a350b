"""Format detection of poselift.io (load_keypoints_2d / load_poses_3d): unknown content lists the supported formats."""

import json

import pytest

from poselift.errors import FormatError
from poselift.io import load_keypoints_2d, load_poses_3d


def test_unknown_content_lists_supported_formats(tmp_path):
    path = tmp_path / "something.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(FormatError, match=rf"^{path}: unrecognised 2D keypoint file; supported formats: poselift"):
        load_keypoints_2d(path)
    with pytest.raises(FormatError, match="unrecognised 3D pose file; supported formats: poselift"):
        load_poses_3d(path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"frames": [\n  1,\n')
    with pytest.raises(FormatError, match=rf"^{broken}: line 3: invalid JSON"):
        load_keypoints_2d(broken)
