"""Random virtual cameras: they look where they should, see the whole person, stay in their ranges, put the
person anywhere in the image, and are drawn batched and reproducibly."""

import math

import pytest
import torch

from poselift.camera import project_points, to_camera_frame
from poselift.data.random_cameras import RandomCameraConfig, draw_cameras, look_at, turn_axis_to
from poselift.errors import PoseliftError
from poselift.intrinsics import FILM_DIAGONAL_MM


@pytest.fixture(scope="module")
def poses(small_benchmark):
    """Every 3rd pose of the small benchmark, world frame, mm (walking, jumping, sitting, ...)."""
    return small_benchmark.poses_3d_world[::3]


@pytest.fixture(scope="module")
def cameras(poses):
    return draw_cameras(poses, torch.Generator().manual_seed(0))


def test_look_at_puts_the_target_on_the_axis_with_the_horizon_level_then_rolls():
    position = torch.tensor([[3000.0, -2000.0, 1600.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 500.0, 900.0]], dtype=torch.float64)
    rotation = look_at(position, target, torch.zeros(1, dtype=torch.float64))
    in_camera = to_camera_frame(target[:, None], rotation, position)[0, 0]
    torch.testing.assert_close(in_camera[:2], torch.zeros(2, dtype=torch.float64))
    assert in_camera[2] == pytest.approx(float((target - position).norm()))
    assert rotation[0, 0, 2] == pytest.approx(0.0, abs=1e-12)            # image x is horizontal in the world
    assert rotation[0, 1, 2] < 0                                         # image y points down, world z up
    torch.testing.assert_close(rotation @ rotation.mT, torch.eye(3, dtype=torch.float64)[None])
    rolled = look_at(position, target, torch.tensor([math.radians(30.0)], dtype=torch.float64))
    level_x = rolled[0] @ rotation[0, 0]                                # where the level image x went
    assert math.degrees(math.atan2(level_x[1], level_x[0])) == pytest.approx(30.0)     # clockwise on screen


def test_turn_axis_to_takes_the_optical_axis_to_the_direction():
    direction = torch.nn.functional.normalize(torch.tensor([[0.3, -0.2, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64),
                                              dim=-1)
    rotation = turn_axis_to(direction)
    torch.testing.assert_close(rotation @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), direction)
    torch.testing.assert_close(rotation @ rotation.mT, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(2, dtype=torch.float64))


def test_every_drawn_camera_sees_the_whole_person_inside_its_image(poses, cameras):
    config = RandomCameraConfig()
    assert {key: tuple(value.shape) for key, value in cameras.items()} == {
        "rotation": (len(poses), 3, 3), "position": (len(poses), 3), "focal": (len(poses), 2),
        "principal": (len(poses), 2), "radial": (len(poses), 3), "tangential": (len(poses), 2),
        "image_size": (len(poses), 2)}
    poses_cam = to_camera_frame(poses, cameras["rotation"], cameras["position"])
    pixels = project_points(poses_cam, cameras["focal"], cameras["principal"])
    size = cameras["image_size"][:, None]
    assert (poses_cam[..., 2] > 100).all()
    assert (pixels >= config.margin_px - 1e-3).all() and (pixels <= size - config.margin_px + 1e-3).all()
    # ... anywhere in it: the pelvis lands from the left edge to the right one, the top to the bottom
    where = pixels[:, 0] / cameras["image_size"]
    assert (where.amin(0) < 0.15).all() and (where.amax(0) > 0.85).all()


def test_drawn_cameras_stay_in_the_configured_ranges(poses, cameras):
    config = RandomCameraConfig()
    distance = (cameras["position"][:, :2] - poses[:, 0, :2]).norm(dim=-1)
    assert config.distance_mm[0] - 1 < distance.min() and distance.max() < config.distance_mm[1] + 1
    height = cameras["position"][:, 2]
    assert config.height_mm[0] <= height.min() and height.max() <= config.height_mm[1]
    focal_35mm = cameras["focal"][:, 0] / cameras["image_size"].norm(dim=-1) * FILM_DIAGONAL_MM
    assert config.focal_35mm[0] - 1e-3 < focal_35mm.min() and focal_35mm.max() < config.focal_35mm[1] + 1e-3
    assert focal_35mm.max() > 80 and distance.max() - distance.min() > 4000           # the ranges are used
    assert torch.equal(cameras["focal"][:, 0], cameras["focal"][:, 1])
    torch.testing.assert_close(cameras["principal"], cameras["image_size"] / 2)
    sizes = {tuple(size) for size in cameras["image_size"].int().tolist()}
    assert sizes == {tuple(size) for size in config.image_sizes}
    assert (cameras["radial"] == 0).all() and (cameras["tangential"] == 0).all()
    forward = cameras["rotation"][:, 2]                                  # the optical axis in the world
    tilt = torch.rad2deg(torch.asin(forward[:, 2]))
    assert tilt.min() < -20 and tilt.max() > 10                          # looking down and up


def test_narrow_ranges_are_kept(poses):
    config = RandomCameraConfig(distance_mm=(5000.0, 5000.0), focal_35mm=(50.0, 50.0), height_mm=(1500.0, 1500.0),
                                image_sizes=((1280, 720),))
    cameras = draw_cameras(poses[:50], torch.Generator().manual_seed(1), config)
    distance = (cameras["position"][:, :2] - poses[:50, 0, :2]).norm(dim=-1)
    torch.testing.assert_close(distance, torch.full((50,), 5000.0))
    expected_focal = 50.0 / FILM_DIAGONAL_MM * math.hypot(1280, 720)
    torch.testing.assert_close(cameras["focal"][:, 0], torch.full((50,), expected_focal))


def test_draws_are_reproducible_with_a_seeded_generator_and_differ_between_seeds(poses, cameras):
    again = draw_cameras(poses, torch.Generator().manual_seed(0))
    assert all(torch.equal(again[key], cameras[key]) for key in cameras)
    other = draw_cameras(poses, torch.Generator().manual_seed(1))
    assert not torch.equal(other["position"], cameras["position"])


def test_bad_configurations_are_refused():
    with pytest.raises(PoseliftError, match=r"random cameras: distance_mm must be \(low, high\) with low <= high"):
        RandomCameraConfig(distance_mm=(8000.0, 2000.0))
    with pytest.raises(PoseliftError, match=r"fraction must be in \[0, 1\]"):
        RandomCameraConfig(fraction=1.5)
    with pytest.raises(PoseliftError, match="image_sizes"):
        RandomCameraConfig(image_sizes=((15, 15),))
