"""The root's position from one view: exact for exact 2D through a real (distorted) camera, robust to
missing joints, NaN where it cannot be solved."""

import numpy as np
import pytest
import torch

from poselift.camera import h36m_rig, project_points
from poselift.errors import ShapeError
from poselift.intrinsics import Intrinsics
from poselift.root_position import estimate_root_positions


@pytest.fixture(scope="module")
def scene(small_benchmark):
    """Real poses (root-relative, camera 0's frame), where the root really is, and their exact 2D."""
    camera = h36m_rig()[0]
    world = small_benchmark.poses_3d_world[:200:10].double()
    cam = torch.as_tensor(camera.world_to_camera(world.numpy()), dtype=torch.float64)
    root = cam[:, :1]
    keypoints = project_points(cam, torch.tensor(camera.focal, dtype=torch.float64),
                               torch.tensor(camera.principal_point, dtype=torch.float64),
                               torch.tensor(camera.k, dtype=torch.float64), torch.tensor(camera.p, dtype=torch.float64))
    return (cam - root).numpy(), root[:, 0].numpy(), keypoints.numpy(), Intrinsics.from_camera(camera)


def test_exact_2d_gives_the_root_back(scene):
    poses, root, keypoints, intrinsics = scene
    estimate = estimate_root_positions(poses, keypoints, np.ones(poses.shape[:2]), intrinsics)
    np.testing.assert_allclose(estimate, root, atol=0.5)                  # mm, 4-6 m from the camera
    assert 3000 < root[:, 2].min() and root[:, 2].max() < 7000


def test_missing_joints_are_left_out_and_too_few_give_nan(scene):
    poses, root, keypoints, intrinsics = scene
    keypoints, confidence = keypoints.copy(), np.ones(poses.shape[:2])
    keypoints[0, :10] = np.nan                                           # frame 0: 7 joints left
    confidence[1, 3:] = 0.0                                              # frame 1: 3 joints, still enough
    confidence[2, 2:] = 0.0                                              # frame 2: 2 joints, too few
    estimate = estimate_root_positions(poses, keypoints, confidence, intrinsics)
    np.testing.assert_allclose(estimate[:2], root[:2], atol=0.5)
    assert np.isnan(estimate[2]).all() and np.isfinite(estimate[3:]).all()
    # a 2D pose far too large for the 3D one would need the person behind the camera's plane: NaN
    mirrored = keypoints.copy()
    centre = intrinsics.principal.numpy()
    mirrored[5] = centre - 50.0 * (keypoints[5] - centre)
    assert np.isnan(estimate_root_positions(poses, mirrored, np.ones(poses.shape[:2]), intrinsics)[5]).all()
    with pytest.raises(ShapeError, match="root positions"):
        estimate_root_positions(poses, keypoints[:, :5], confidence, intrinsics)
