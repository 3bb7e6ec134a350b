"""Qualisys calibration files: the fixture by hand and the real Pose2Sim calibration."""

from pathlib import Path

import numpy as np
import pytest

from poselift.io.qca import read_qca

FIXTURES = Path(__file__).parent / "fixtures" / "io"
POSE2SIM_CALIBRATION = Path(__file__).parents[2] / "shared" / "data" / "pose2sim" / "Calib.qca.txt"


def test_qca_camera_converts_to_opencv_convention():
    (camera,) = read_qca(FIXTURES / "one_camera.qca.txt")
    assert camera["name"] == "front" and (camera["width"], camera["height"]) == (1000, 1200)
    assert (camera["fx"], camera["fy"], camera["cx"], camera["cy"]) == (1000.0, 1001.0, 500.0, 600.0)
    np.testing.assert_array_equal(camera["k"], [-0.05, 0.1, 0.0])
    np.testing.assert_array_equal(camera["p"], [0.001, -0.002])
    # camera at (0, -3 m, 1 m) looking along +Y (Z up): a point 0.5 m above eye level, 3 m ahead
    point_cam = camera["R"] @ (np.array([0.0, 0.0, 1500.0]) - camera["centre"])
    np.testing.assert_allclose(point_cam, [0, -500, 3000])  # above the centre = negative image y


@pytest.mark.skipif(not POSE2SIM_CALIBRATION.exists(), reason=f"real Pose2Sim data not found at {POSE2SIM_CALIBRATION}")
def test_real_pose2sim_cameras_are_metres_apart_and_look_at_the_origin():
    cameras = read_qca(POSE2SIM_CALIBRATION)
    assert [camera["name"] for camera in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    centres = np.array([camera["centre"] for camera in cameras])
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    assert distances[~np.eye(4, dtype=bool)].min() > 2000
    for camera in cameras:
        assert np.allclose(camera["R"] @ camera["R"].T, np.eye(3), atol=1e-6)
        forward = camera["R"][2]
        assert forward @ (-camera["centre"] / np.linalg.norm(camera["centre"])) > 0.9
        assert -camera["R"][1] @ np.array([0.0, 0.0, 1.0]) > 0.8  # image up is world up (Z-up world)
        assert (camera["width"], camera["height"]) == (1088, 1920)
        assert 1600 < camera["fx"] < 1750 and abs(camera["cx"] - 1088 / 2) < 50  # 107600 / 64 = 1681 px
