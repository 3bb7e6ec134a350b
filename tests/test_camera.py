"""Tests of poselift.camera against OpenCV and hand-computed answers."""

import json
import math

import cv2
import numpy as np
import pytest
import torch

from poselift.camera import (
    Camera,
    angular_difference_deg,
    camera_azimuth_deg,
    distort_normalized,
    h36m_rig,
    project_points,
    stack_intrinsics,
    to_camera_frame,
    to_world_frame,
    triangulate_dlt,
    undistort_normalized,
    undistort_pixels,
    undistort_points,
    unproject,
    virtual_camera,
    virtual_rig,
)
from poselift.errors import FormatError, ShapeError
from poselift.geometry import rotation_about_z

from poses import standing_pose_mm, varied_poses

RIG = h36m_rig()


def random_world_points(seed: int, count: int) -> np.ndarray:
    """Points in the capture volume the rig looks at (|x|, |y| < 1 m, 0 < z < 2 m), mm."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-1000, -1000, 0], [1000, 1000, 2000], size=(count, 3))


def simple_camera(**overrides) -> Camera:
    """Identity pose at the origin, f = 1000 px, principal point (500, 400), no distortion."""
    values = dict(fx=1000.0, fy=1000.0, cx=500.0, cy=400.0, width=1000, height=800, name="simple")
    values.update(overrides)
    return Camera(**values)


@pytest.mark.parametrize("camera", RIG, ids=[camera.name for camera in RIG])
def test_projection_matches_opencv(camera):
    points_world = random_world_points(0, 500)
    rvec, _ = cv2.Rodrigues(camera.R)
    expected, _ = cv2.projectPoints(points_world, rvec, camera.translation, camera.K, camera.dist_coeffs)
    projected = camera.project_world(points_world)
    assert projected.shape == (500, 2)
    np.testing.assert_allclose(projected, expected[:, 0, :], atol=1e-3, rtol=0)
    # the functional core on camera-frame points gives the same pixels
    functional = project_points(camera.world_to_camera(points_world)[None], camera.focal, camera.principal_point,
                                np.array(camera.k), np.array(camera.p))[0]
    np.testing.assert_allclose(functional, projected, atol=1e-9, rtol=0)


def test_batch_mixing_cameras_matches_each_camera():
    points_world = random_world_points(1, 6 * 17).reshape(6, 17, 3)
    camera_ids = np.array([0, 3, 1, 2, 2, 0])
    points_cam = np.stack([RIG[c].world_to_camera(points_world[i]) for i, c in enumerate(camera_ids)])
    rotations = np.stack([camera.R for camera in RIG])[camera_ids]
    centres = np.stack([camera.centre for camera in RIG])[camera_ids]
    np.testing.assert_allclose(to_camera_frame(points_world, rotations, centres), points_cam, atol=1e-9)
    np.testing.assert_allclose(to_world_frame(points_cam, rotations, centres), points_world, atol=1e-9)
    params = stack_intrinsics(RIG)
    batched = project_points(points_cam, **{key: value[camera_ids] for key, value in params.items()})
    for i, c in enumerate(camera_ids):
        np.testing.assert_allclose(batched[i], RIG[c].project(points_cam[i]), atol=1e-9, rtol=0)


def test_pinhole_known_pixels_and_rotated_pose():
    camera = simple_camera()
    # f X / Z + c by hand: (100, -50, 2000) -> (500 + 50, 400 - 25)
    np.testing.assert_allclose(camera.project(np.array([[100.0, -50.0, 2000.0]])), [[550.0, 375.0]])
    # a pose turned 90 degrees about the optical axis: (100, 0, 2000) -> (0, 100, 2000) -> (500, 450)
    pose = np.array([[0.0, 0.0, 2000.0], [100.0, 0.0, 2000.0], [0.0, 0.0, 2500.0]])
    turned = pose @ rotation_about_z(math.pi / 2).T
    np.testing.assert_allclose(camera.project(turned), [[500.0, 400.0], [500.0, 450.0], [500.0, 400.0]], atol=1e-9)
    # a camera at (0, 0, -2000) looking along +Z sees the origin at the principal point
    shifted = simple_camera(centre=np.array([0.0, 0.0, -2000.0]))
    np.testing.assert_allclose(shifted.project_world(np.zeros((1, 3))), [[500.0, 400.0]], atol=1e-12)


def test_distortion_formula_by_hand():
    # x = 0.1, y = 0.2: r2 = 0.05; radial = 1 + 0.1*0.05 + 0.01*0.0025 + 0 = 1.005025
    # x' = 0.1*1.005025 + 2*0.001*0.02 + 0.002*(0.05 + 0.02) = 0.1005025 + 0.00004 + 0.00014 = 0.1006825
    # y' = 0.2*1.005025 + 0.001*(0.05 + 0.08) + 2*0.002*0.02 = 0.201005 + 0.00013 + 0.00008 = 0.201215
    distorted = distort_normalized(np.array([0.1, 0.2]), np.array([0.1, 0.01, 0.0]), np.array([0.001, 0.002]))
    np.testing.assert_allclose(distorted, [0.1006825, 0.201215], atol=1e-12)


def test_world_camera_round_trip():
    camera = RIG[2]
    points = random_world_points(2, 50).reshape(5, 10, 3)
    back = camera.camera_to_world(camera.world_to_camera(points))
    np.testing.assert_allclose(back, points, atol=1e-9)
    # x_cam = R (x - centre): the camera centre maps to the origin
    np.testing.assert_allclose(camera.world_to_camera(camera.centre), np.zeros(3), atol=1e-9)


@pytest.mark.parametrize("camera", RIG, ids=[camera.name for camera in RIG])
def test_undistort_inverts_distortion_in_image(camera):
    u, v = np.meshgrid(np.linspace(0, camera.width, 41), np.linspace(0, camera.height, 41))
    pixels = np.stack([u, v], axis=-1).reshape(-1, 2)
    normalised = undistort_points(pixels, camera)
    rays = np.concatenate([normalised, np.ones((len(pixels), 1))], axis=-1)
    np.testing.assert_allclose(camera.project(rays), pixels, atol=1e-6, rtol=0)
    # and the normalised core round trips too
    xy = normalised
    again = undistort_normalized(distort_normalized(xy, np.array(camera.k), np.array(camera.p)),
                                 np.array(camera.k), np.array(camera.p))
    np.testing.assert_allclose(again, xy, atol=1e-9, rtol=0)
    # OpenCV's own iterative undistortion agrees
    opencv = cv2.undistortPoints(pixels[:, None, :], camera.K, camera.dist_coeffs, None, None, None,
                                     (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))[:, 0, :]
    np.testing.assert_allclose(normalised, opencv, atol=1e-6, rtol=0)


def test_undistort_pixels_batched_matches_per_camera():
    params = stack_intrinsics(RIG)
    pixels = np.random.default_rng(3).uniform(0, 1000, size=(4, 17, 2))
    batched = undistort_pixels(pixels, **params)
    for view, camera in enumerate(RIG):
        np.testing.assert_allclose(batched[view], undistort_points(pixels[view], camera), atol=1e-12)


def test_unproject_inverts_projection():
    camera = RIG[1]
    points_cam = camera.world_to_camera(random_world_points(4, 34)).reshape(2, 17, 3)
    pixels = camera.project(points_cam)
    np.testing.assert_allclose(unproject(pixels, points_cam[..., 2], camera), points_cam, atol=1e-6)
    with pytest.raises(ShapeError, match="depth_mm"):
        unproject(pixels, points_cam[..., :5, 2], camera)


def test_torch_and_numpy_agree_and_keep_types():
    camera = RIG[0]
    points_world = random_world_points(5, 17 * 3).reshape(3, 17, 3)
    numpy_px = camera.project_world(points_world)
    for dtype, tolerance in ((torch.float64, 1e-9), (torch.float32, 2e-3)):
        tensor_px = camera.project_world(torch.as_tensor(points_world, dtype=dtype))
        assert isinstance(tensor_px, torch.Tensor) and tensor_px.dtype == dtype and tensor_px.shape == (3, 17, 2)
        np.testing.assert_allclose(tensor_px.double().numpy(), numpy_px, atol=tolerance, rtol=0)
    float32_px = camera.project_world(points_world.astype(np.float32))
    assert isinstance(float32_px, np.ndarray) and float32_px.dtype == np.float32
    # the data's dtype wins over the (float64) camera parameters
    params = stack_intrinsics([camera])
    functional_px = project_points(camera.world_to_camera(points_world).astype(np.float32), **params)
    assert functional_px.dtype == np.float32
    np.testing.assert_allclose(functional_px, numpy_px, atol=2e-3, rtol=0)
    normalised = undistort_points(torch.as_tensor(numpy_px), camera)
    assert isinstance(normalised, torch.Tensor)
    np.testing.assert_allclose(normalised.numpy(), undistort_points(numpy_px, camera), atol=1e-12)
    in_front = camera.world_to_camera(torch.as_tensor(points_world))
    np.testing.assert_allclose(in_front.numpy(), camera.world_to_camera(points_world), atol=1e-9)


def test_projection_is_differentiable():
    params = {key: torch.as_tensor(value) for key, value in stack_intrinsics(RIG[:2]).items()}
    points = torch.tensor([[[100.0, 50.0, 4000.0]], [[0.0, 0.0, 5000.0]]], dtype=torch.float64, requires_grad=True)
    projected = project_points(points, **params)
    projected.sum().backward()
    assert torch.isfinite(points.grad).all() and points.grad.abs().sum() > 0
    # d u / d X at the optical axis is fx / Z (distortion has zero slope there)
    assert points.grad[1, 0, 0].item() == pytest.approx((params["focal"][1, 0] / 5000).item(), rel=1e-9)


def test_intrinsic_properties():
    camera = RIG[0]
    np.testing.assert_array_equal(camera.K, [[1145.0494, 0, 512.5415], [0, 1143.7811, 515.4515], [0, 0, 1]])
    np.testing.assert_array_equal(camera.dist_coeffs, [-0.2070989, 0.2477752, -0.0009757, -0.0014245, -0.0030752])
    assert camera.rotation_world_to_camera is camera.R
    np.testing.assert_allclose(camera.translation, -camera.R @ camera.centre)


def test_dict_round_trip_is_exact_and_json_safe():
    for camera in RIG + [virtual_camera(RIG[0], 15)]:
        text = json.dumps(camera.to_dict())
        assert Camera.from_dict(json.loads(text)) == camera
    broken = RIG[0].to_dict()
    del broken["fx"]
    with pytest.raises(FormatError, match="cams.json.*fx"):
        Camera.from_dict(broken, source="cams.json")
    bad_rotation = RIG[0].to_dict()
    bad_rotation["R"] = [[2, 0, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(FormatError, match="rotation"):
        Camera.from_dict(bad_rotation)


def test_invalid_camera_raises():
    with pytest.raises(ShapeError, match="fx"):
        simple_camera(fx=-1.0)
    with pytest.raises(ShapeError, match="det"):
        simple_camera(R=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ShapeError, match="k"):
        simple_camera(k=(0.1, 0.2))
    with pytest.raises(ShapeError, match="points_cam"):
        project_points(np.zeros((17, 2)), np.ones(2), np.zeros(2))


def test_h36m_rig_sees_the_capture_area():
    names = [camera.name for camera in RIG]
    assert names == ["54138969", "55011271", "58860488", "60457274"]
    assert [(c.width, c.height) for c in RIG] == [(1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002)]
    pose = standing_pose_mm()
    for camera in RIG:
        pelvis_px = camera.project_world(np.array([0.0, 0.0, 900.0]))
        assert np.linalg.norm(pelvis_px - [camera.width / 2, camera.height / 2]) < 200, camera.name
        assert camera.in_image(camera.project_world(pose), margin_px=10).all(), camera.name
        # the camera looks towards the origin: it is in front, 4-6 m away
        assert 4000 < camera.world_to_camera(np.zeros(3))[2] < 6000
        np.testing.assert_allclose(camera.R @ camera.R.T, np.eye(3), atol=1e-12)


def test_virtual_camera_quarter_turn():
    camera = RIG[0]
    turned = virtual_camera(camera, 90)
    assert turned.name == "54138969+90deg"
    x, y, z = camera.centre
    np.testing.assert_allclose(turned.centre, [-y, x, z], atol=1e-9)
    assert np.hypot(*turned.centre[:2]) == pytest.approx(np.hypot(*camera.centre[:2]))
    assert camera_azimuth_deg(turned) == pytest.approx(camera_azimuth_deg(camera) + 90)
    assert (turned.fx, turned.cy, turned.k, turned.p) == (camera.fx, camera.cy, camera.k, camera.p)
    # a pose turned with the camera projects to the same pixels
    pose = standing_pose_mm()
    np.testing.assert_allclose(turned.project_world(pose @ rotation_about_z(math.pi / 2).T),
                               camera.project_world(pose), atol=1e-6)
    # a pose at the origin still projects near the image centre
    pelvis_px = turned.project_world(np.array([0.0, 0.0, 900.0]))
    assert np.linalg.norm(pelvis_px - [turned.width / 2, turned.height / 2]) < 200
    assert turned.in_image(turned.project_world(pose)).all()
    assert virtual_camera(camera, -30).name == "54138969-30deg"


def test_virtual_camera_about_a_pivot():
    camera = simple_camera(centre=np.array([1000.0, 0.0, 0.0]),
                           R=np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]))
    turned = virtual_camera(camera, 180, pivot=(500.0, 0.0, 0.0))
    np.testing.assert_allclose(turned.centre, [0.0, 0.0, 0.0], atol=1e-9)
    # the pivot point is seen where it was
    np.testing.assert_allclose(turned.project_world(np.array([500.0, 0.0, 0.0])),
                               camera.project_world(np.array([500.0, 0.0, 0.0])), atol=1e-9)


def test_virtual_rig_spacing_and_exclusion():
    rig = virtual_rig(RIG[:1], step_deg=15)
    assert len(rig) == 23
    assert [camera.name for camera in rig[:2]] == ["54138969+15deg", "54138969+30deg"]
    held_out = RIG[3]
    training = virtual_rig(RIG[:3], step_deg=15, exclude_near=[held_out], min_separation_deg=30)
    held_azimuth = camera_azimuth_deg(held_out)
    separations = [angular_difference_deg(camera_azimuth_deg(c), held_azimuth) for c in training]
    assert min(separations) >= 30
    # each source camera loses the virtual cameras within +-30 degrees of the held-out one:
    # 23 candidates minus those whose separation is below 30 (4 or 5 of them, by hand from azimuths)
    for source in RIG[:3]:
        candidates = [(camera_azimuth_deg(source) + 15 * i) for i in range(1, 24)]
        kept = [a for a in candidates if angular_difference_deg(a, held_azimuth) >= 30]
        assert sum(c.name.startswith(source.name + "+") for c in training) == len(kept)
        assert 23 - len(kept) in (4, 5)


def test_angular_difference():
    assert angular_difference_deg(170, -170) == pytest.approx(20)
    assert angular_difference_deg(10, 350) == pytest.approx(20)
    assert angular_difference_deg(0, 180) == pytest.approx(180)


# ---------------------------------------------------------------------------------------------- triangulation


def test_triangulation_of_exact_projections():
    rig = h36m_rig()
    poses_world = varied_poses(6, 14)
    poses_world -= poses_world.mean(axis=(0, 1)) - np.array([0.0, 0.0, 900.0])  # in the capture volume
    pixels = np.stack([camera.project_world(poses_world) for camera in rig])  # (4, 6, 17, 2)
    triangulated = triangulate_dlt(pixels, rig)
    assert triangulated.shape == (6, 17, 3)
    np.testing.assert_allclose(triangulated, poses_world, atol=1e-3, rtol=0)
    triangulated_t = triangulate_dlt(torch.as_tensor(pixels, dtype=torch.float32), rig)
    assert triangulated_t.dtype == torch.float32
    np.testing.assert_allclose(triangulated_t.double().numpy(), poses_world, atol=0.5, rtol=0)


def test_triangulation_confidence_and_missing_views():
    rig = h36m_rig()
    pose = standing_pose_mm()
    pixels = np.stack([camera.project_world(pose) for camera in rig])  # (4, 17, 2)
    confidence = np.ones((4, 17))
    pixels[2, 3] += 80.0  # a bad detection in view 2 ...
    confidence[2, 3] = 0.0  # ... switched off
    confidence[1:, 7] = 0.0  # joint 7 seen in one view only -> NaN
    pixels[:, 9] = np.nan  # joint 9 missing everywhere -> NaN
    result = triangulate_dlt(pixels, rig, confidence)
    assert np.isnan(result[7]).all() and np.isnan(result[9]).all()
    keep = [j for j in range(17) if j not in (7, 9)]
    np.testing.assert_allclose(result[keep], pose[keep], atol=1e-3)
    with pytest.raises(ShapeError, match="2 views"):
        triangulate_dlt(pixels[:1], rig[:1])
    with pytest.raises(ShapeError, match="confidence"):
        triangulate_dlt(pixels, rig, confidence[:, :5])
