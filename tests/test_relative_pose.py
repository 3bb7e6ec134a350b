"""Uncalibrated mode: relative camera pose from 2D joints on the benchmark rig."""

import numpy as np
import pytest
import torch

from poselift.errors import PoseliftError
from poselift.models.selfsup import relative_transform
from poselift.relative_pose import relative_pose, rotation_error_deg


def true_relative(camera_1, camera_2):
    rotation, translation = relative_transform(*(torch.tensor(np.array(value)) for value in
                                                 (camera_1.R, camera_1.centre, camera_2.R, camera_2.centre)))
    return rotation.numpy(), translation.numpy()


@pytest.mark.parametrize("pair", [(0, 1), (0, 2), (1, 3), (3, 2)])
def test_rotation_within_one_degree_from_gt_2d(small_benchmark, pair):
    first, second = pair
    cameras = small_benchmark.cameras
    frames = torch.arange(0, small_benchmark.num_frames, 7)
    keypoints = small_benchmark.keypoints_2d["gt"][:, frames]
    distance_mm = float(np.linalg.norm(cameras[first].centre - cameras[second].centre))
    estimate = relative_pose(keypoints[first], keypoints[second], cameras[first], cameras[second], distance_mm)
    rotation, translation = true_relative(cameras[first], cameras[second])
    assert rotation_error_deg(estimate.rotation, rotation) < 1.0
    assert np.linalg.norm(estimate.translation_mm) == pytest.approx(distance_mm)
    cosine = estimate.translation_mm @ translation / distance_mm ** 2
    assert np.degrees(np.arccos(min(cosine, 1.0))) < 2.0
    assert estimate.inliers > 0.9 * estimate.correspondences
    # the cameras built from it map camera-1 points to camera 2 like the true rig
    camera_1, camera_2 = estimate.cameras(cameras[first], cameras[second])
    point_cam_1 = cameras[first].world_to_camera(np.array([100.0, -200.0, 900.0]))
    expected = cameras[second].world_to_camera(np.array([100.0, -200.0, 900.0]))
    assert np.linalg.norm(camera_2.world_to_camera(camera_1.camera_to_world(point_cam_1)) - expected) < 100.0


def test_noisy_and_missing_joints_are_tolerated(small_benchmark):
    cameras = small_benchmark.cameras
    frames = torch.arange(0, small_benchmark.num_frames, 7)
    keypoints = small_benchmark.keypoints_2d["noisy"][:, frames]
    confidence = small_benchmark.confidence["noisy"][:, frames]
    estimate = relative_pose(keypoints[0], keypoints[1], cameras[0], cameras[1], 1.0, confidence[0], confidence[1],
                             threshold_px=3.0)
    rotation, _ = true_relative(cameras[0], cameras[1])
    assert rotation_error_deg(estimate.rotation, rotation) < 5.0


def test_too_few_correspondences_and_bad_shapes(small_benchmark):
    camera = small_benchmark.cameras[0]
    points = np.random.default_rng(0).uniform(0, 1000, size=(1, 5, 2))
    with pytest.raises(PoseliftError, match="need at least 8"):
        relative_pose(points, points, camera, camera, 1000.0)
    with pytest.raises(PoseliftError, match="distance_mm"):
        relative_pose(points, points, camera, camera, 0.0)
    with pytest.raises(Exception, match="same shape"):
        relative_pose(points, points[:, :4], camera, camera, 1000.0)


def test_rotation_error_by_hand():
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert rotation_error_deg(quarter, np.eye(3)) == pytest.approx(90.0)
    assert rotation_error_deg(quarter, quarter) == pytest.approx(0.0, abs=1e-6)


def test_a_whole_rig_from_its_views_triangulates_like_the_calibration(small_benchmark):
    from poselift.camera import triangulate_dlt
    from poselift.relative_pose import rig_from_views

    cameras = small_benchmark.cameras
    frames = torch.arange(0, small_benchmark.num_frames, 7)
    keypoints = small_benchmark.keypoints_2d["gt"][:, frames]
    distances = [float(np.linalg.norm(camera.centre - cameras[0].centre)) for camera in cameras[1:]]
    rig = rig_from_views(keypoints, cameras, distances)
    assert np.allclose(rig[0].R, np.eye(3)) and np.allclose(rig[0].centre, 0.0)
    for camera, estimate in zip(cameras[1:], rig[1:]):
        assert rotation_error_deg(estimate.R, camera.R @ cameras[0].R.T) < 1.0
    # a pose triangulated with the recovered rig is the true pose in camera 0's frame
    frame = int(frames[len(frames) // 2])
    truth = cameras[0].world_to_camera(small_benchmark.poses_3d_world[frame].numpy().astype(np.float64))
    recovered = np.asarray(triangulate_dlt(small_benchmark.keypoints_2d["gt"][:, frame].double(), rig))
    assert np.abs(recovered - truth).max() < 1.0
    with pytest.raises(Exception, match="distances_mm"):
        rig_from_views(keypoints, cameras, distances[:2])
