"""PoseNormalizer: resolution-independent 2D encoding, 3D z-scoring, statistics, missing joints; the camera-aware
encoding ("camera") against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from _ddp_worker import SyntheticPoseSource, make_frames, random_poses_3d
from poselift.camera import project_points
from poselift.encoding import PoseNormalizer, insert_root, normalize_pose_3d, pose_scale, scale_normalize_2d, split_root
from poselift.errors import PoseliftError, ShapeError
from poselift.intrinsics import Intrinsics
from poselift.skeleton import H36M17
from poses import random_rotations

LEFT_HIP, RIGHT_HIP, SPINE, THORAX = (H36M17.index(name) for name in ("l_hip", "r_hip", "spine", "thorax"))


@pytest.fixture(scope="module")
def frames():
    return {key: torch.from_numpy(value) for key, value in make_frames(600, seed=3).items()}


@pytest.fixture(scope="module")
def normalizer(frames):
    return PoseNormalizer().fit(frames["keypoints_2d"], frames["confidence"], frames["poses_3d"])


def test_scale_normalize_hand_computed():
    # root (10, 10); joint 1 at distance 5 along (3, 4); joint 2 at distance 5 straight down
    keypoints = torch.tensor([[[10.0, 10.0], [13.0, 14.0], [10.0, 15.0]]])
    normalized, valid_joint, frame_valid = scale_normalize_2d(keypoints, None, root_index=0)
    assert torch.allclose(normalized, torch.tensor([[[0.0, 0.0], [0.6, 0.8], [0.0, 1.0]]]))
    assert valid_joint.all() and frame_valid.all()
    # RMS of distances 5 and 10 = sqrt(62.5); a missing third joint does not count
    keypoints = torch.tensor([[[0.0, 0.0], [5.0, 0.0], [0.0, 10.0], [float("nan"), 1.0]]])
    normalized, valid_joint, _ = scale_normalize_2d(keypoints, None, root_index=0)
    scale = 62.5**0.5
    assert torch.allclose(normalized[0, 1], torch.tensor([5 / scale, 0.0]))
    assert torch.allclose(normalized[0, 2], torch.tensor([0.0, 10 / scale]))
    assert valid_joint.tolist() == [[True, True, True, False]]
    assert normalized[0, 3].tolist() == [0.0, 0.0]


def test_encoding_independent_of_image_size_focal_and_position(normalizer):
    poses = random_poses_3d(50, seed=11)
    small = make_frames(50, seed=4, camera=0, poses_3d=poses)  # 1000x1000 px, f = 1145
    large = make_frames(50, seed=4, camera=1, poses_3d=poses)  # 1920x1080 px, f = 1500
    assert not np.allclose(small["keypoints_2d"], large["keypoints_2d"], atol=10)
    encoded_small, valid_small = normalizer.encode_2d(torch.from_numpy(small["keypoints_2d"]))
    encoded_large, valid_large = normalizer.encode_2d(torch.from_numpy(large["keypoints_2d"]))
    assert valid_small.all() and valid_large.all()
    assert torch.allclose(encoded_small, encoded_large, atol=1e-4)
    # an arbitrary pixel scale and shift of the keypoints changes nothing either
    shifted = torch.from_numpy(small["keypoints_2d"]) * 3.7 + torch.tensor([-250.0, 80.0])
    assert torch.allclose(normalizer.encode_2d(shifted)[0], encoded_small, atol=1e-4)


def test_fit_gives_training_statistics(frames, normalizer):
    relative = frames["poses_3d"] - frames["poses_3d"][:, :1]
    flat_3d = relative[:, 1:].reshape(len(relative), -1).double()
    assert torch.allclose(normalizer.mean_3d.double(), flat_3d.mean(0), atol=1e-3)
    assert torch.allclose(normalizer.std_3d.double(), flat_3d.std(0, unbiased=False), atol=1e-3)
    assert normalizer.is_fitted and int(normalizer.root_index) == 0
    # encoded training data is z-scored: mean 0, std 1 per coordinate (the root's stays 0)
    encoded_2d, _ = normalizer.encode_2d(frames["keypoints_2d"], frames["confidence"])
    assert torch.allclose(encoded_2d.mean(0), torch.zeros(34), atol=1e-4)
    expected_std = torch.ones(34)
    expected_std[:2] = 0.0
    assert torch.allclose(encoded_2d.std(0, unbiased=False), expected_std, atol=1e-4)
    encoded_3d = normalizer.encode_3d(frames["poses_3d"])
    assert torch.allclose(encoded_3d.std(0, unbiased=False), torch.ones(48), atol=1e-4)


def test_fit_in_chunks_and_from_source_agree(frames, normalizer):
    chunked = PoseNormalizer().fit(frames["keypoints_2d"].numpy(), None, frames["poses_3d"].numpy(), chunk_size=7)
    source = SyntheticPoseSource(600, seed=3)
    from_source = PoseNormalizer().fit_source(source, chunk_size=128)
    for other in (chunked, from_source):
        for name in ("mean_2d", "std_2d", "mean_3d", "std_3d"):
            assert torch.allclose(getattr(other, name), getattr(normalizer, name), rtol=1e-5, atol=1e-5), name


def test_3d_round_trip_and_root(normalizer, frames):
    poses = frames["poses_3d"][:20]
    encoded = normalizer.encode_3d(poses)
    assert encoded.shape == (20, 48)
    decoded = normalizer.decode_3d(encoded)
    assert decoded.shape == (20, 17, 3)
    assert torch.allclose(decoded, poses, atol=1e-3)
    assert (decoded[:, 0] == 0).all()
    # absolute (not root-relative) input is made root-relative first
    translated = poses + torch.tensor([100.0, -50.0, 4000.0])
    assert torch.allclose(normalizer.decode_3d(normalizer.encode_3d(translated)), poses, atol=1e-3)


def test_missing_joints_never_give_nan(normalizer, frames):
    keypoints = frames["keypoints_2d"][:4].clone()
    confidence = frames["confidence"][:4].clone()
    keypoints[0, 13] = float("nan")  # NaN where the detector lost the wrist
    confidence[0, 13] = 0.0
    confidence[1, 5] = 0.0  # zero confidence, finite coordinates
    confidence[2, 3] = float("nan")
    confidence[3, 0] = 0.0  # root missing: frame cannot be encoded
    encoded, frame_valid = normalizer.encode_2d(keypoints, confidence)
    assert torch.isfinite(encoded).all()
    assert frame_valid.tolist() == [True, True, True, False]
    assert encoded[0, 26:28].tolist() == [0.0, 0.0]
    assert encoded[1, 10:12].tolist() == [0.0, 0.0]
    assert encoded[2, 6:8].tolist() == [0.0, 0.0]
    assert (encoded[3] == 0).all()
    # every joint missing
    encoded, frame_valid = normalizer.encode_2d(torch.full((1, 17, 2), float("nan")))
    assert torch.isfinite(encoded).all() and not frame_valid.any()


def test_confidence_input_appends_each_joints_confidence_z_scored(frames):
    plain = PoseNormalizer().fit(frames["keypoints_2d"], frames["confidence"], frames["poses_3d"])
    with_confidence = PoseNormalizer(confidence_input=True).fit(frames["keypoints_2d"], frames["confidence"],
                                                                frames["poses_3d"])
    assert with_confidence.input_dim == plain.input_dim + 17 == 51
    keypoints, confidence = frames["keypoints_2d"][:3].clone(), frames["confidence"][:3].clone()
    keypoints[0, 13] = float("nan")                                     # a lost wrist: confidence 0
    confidence[1, 5] = 0.25
    confidence[2, 0] = 0.0                                              # no root: the frame is not encoded
    encoded, frame_valid = with_confidence.encode_2d(keypoints, confidence)
    assert torch.equal(encoded[:, :34], plain.encode_2d(keypoints, confidence)[0])     # the positions as before
    mean, std = with_confidence.mean_2d[34:], with_confidence.std_2d[34:]
    seen = confidence.clone()
    seen[0, 13] = 0.0
    expected = (seen - mean) / std
    assert torch.allclose(encoded[:2, 34:], expected[:2], atol=1e-6)
    assert frame_valid.tolist() == [True, True, False] and (encoded[2] == 0).all()
    ones = with_confidence.encode_2d(keypoints[1:2])[0][0, 34:]          # no confidences given: all 1
    assert torch.allclose(ones, (1.0 - mean) / std, atol=1e-6)
    sure = frames["confidence"] > 0
    assert torch.allclose(mean, (frames["confidence"] * sure).mean(0), atol=1e-4)      # training statistics


def test_leading_dims_and_split_insert_root(normalizer, frames):
    keypoints = frames["keypoints_2d"][:12].reshape(3, 4, 17, 2)
    encoded, frame_valid = normalizer.encode_2d(keypoints)
    assert encoded.shape == (3, 4, 34) and frame_valid.shape == (3, 4)
    assert torch.allclose(encoded.reshape(12, 34), normalizer.encode_2d(frames["keypoints_2d"][:12])[0])
    points = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    dropped = split_root(points, 2)
    assert dropped.shape == (2, 4, 3) and torch.equal(dropped[:, 2], points[:, 3])
    restored = insert_root(dropped, 2)
    assert (restored[:, 2] == 0).all() and torch.equal(restored[:, [0, 1, 3, 4]], points[:, [0, 1, 3, 4]])


def test_state_dict_round_trip(normalizer):
    other = PoseNormalizer()
    other.load_state_dict(normalizer.state_dict())
    assert other.is_fitted
    assert set(normalizer.state_dict()) == {"mean_2d", "std_2d", "mean_3d", "std_3d", "root_index", "fitted"}
    keypoints = torch.from_numpy(make_frames(3, seed=8)["keypoints_2d"])
    assert torch.equal(other.encode_2d(keypoints)[0], normalizer.encode_2d(keypoints)[0])


def test_shape_errors_name_the_shape(normalizer):
    with pytest.raises(ShapeError, match=r"keypoints_2d.*\(5, 16, 2\)"):
        normalizer.encode_2d(torch.zeros(5, 16, 2))
    with pytest.raises(ShapeError, match="confidence"):
        normalizer.encode_2d(torch.zeros(5, 17, 2), torch.ones(5, 16))
    with pytest.raises(ShapeError, match="poses_3d"):
        normalizer.encode_3d(torch.zeros(5, 17, 2))
    poses = torch.zeros(4, 17, 3)
    poses[1, 3, 0] = float("nan")
    with pytest.raises(ShapeError, match="non-finite"):
        PoseNormalizer().fit(torch.rand(4, 17, 2), None, poses)


# ---------------------------------------------------------------------------------------------- V-VIPE's canonical poses


def test_canonical_rotation_puts_the_hips_on_y_and_the_spine_on_z(small_benchmark):
    pose = small_benchmark.poses_3d_world[len(small_benchmark.poses_3d_world) // 2].double()   # real mocap, mm
    rotations = torch.from_numpy(random_rotations(16, seed=0))
    shifts = torch.randn(16, 1, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1000
    sizes = torch.linspace(0.6, 1.4, 16, dtype=torch.float64)[:, None, None]
    moved = sizes * (pose @ rotations.mT) + shifts                        # any rotation, place and body size
    normalised, scale = normalize_pose_3d(moved)
    # hips on the y axis (left hip on +y), symmetric about the pelvis at the origin
    assert float(normalised[:, [LEFT_HIP, RIGHT_HIP]][..., [0, 2]].abs().max()) < 1e-6   # float32 data
    assert bool((normalised[:, LEFT_HIP, 1] > 0).all() & (normalised[:, RIGHT_HIP, 1] < 0).all())
    assert float(normalised[:, 0].abs().max()) < 1e-12
    # the spine (pelvis -> spine -> thorax) in the y-z plane, pointing up +z
    assert float(normalised[:, [SPINE, THORAX], 0].abs().max()) < 1e-6
    assert bool((normalised[:, THORAX, 2] > 0).all())
    # unit size, the size divided out in mm, and the same result whatever the rotation, place and size
    assert torch.allclose(pose_scale(normalised), torch.ones(16, dtype=torch.float64))
    assert torch.allclose(scale, sizes.flatten() * pose_scale(pose), rtol=1e-12)
    assert torch.allclose(normalised, normalised[:1].expand_as(normalised), atol=1e-9)
    # numpy in, numpy out
    as_numpy, _ = normalize_pose_3d(moved.numpy())
    assert isinstance(as_numpy, np.ndarray) and np.allclose(as_numpy, normalised.numpy())


def test_degenerate_poses_are_refused():
    pose = torch.zeros(17, 3)
    with pytest.raises(ShapeError):
        normalize_pose_3d(pose)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 17, 3\)"):
        normalize_pose_3d(torch.ones(4, 16, 3))


# ------------------------------------------------------------------------------ the camera-aware encoding
def camera_normalizer() -> PoseNormalizer:
    return PoseNormalizer(input_normalization="camera", passes_intrinsics=True)


def test_camera_encoding_hand_computed():
    # f = (1000, 500) px, principal point (500, 400): root at (600, 450) px -> ray (0.1, 0.1); joint 1 at
    # (700, 350) -> ray (0.2, -0.1), minus the root's: (0.1, -0.2); joint 13 missing; the rest on the root
    intrinsics = Intrinsics(torch.tensor([1000.0, 500.0]), torch.tensor([500.0, 400.0]))
    keypoints = torch.tensor([600.0, 450.0]).repeat(1, 17, 1)
    keypoints[0, 1] = torch.tensor([700.0, 350.0])
    keypoints[0, 13] = float("nan")
    normalizer = camera_normalizer()
    assert normalizer.input_dim == 36 and normalizer.reads_intrinsics
    encoded, frame_valid = normalizer.encode_2d(keypoints, None, intrinsics)
    expected = torch.zeros(1, 36)
    expected[0, 2:4] = torch.tensor([0.1, -0.2])
    expected[0, 34:36] = torch.tensor([0.1, 0.1])                                      # the root's ray, last
    torch.testing.assert_close(encoded, expected)
    assert frame_valid.tolist() == [True]
    # z-scored with the statistics: (value - mean) / std, and still 0 for the missing joint
    with torch.no_grad():
        normalizer.mean_2d.fill_(0.05)
        normalizer.std_2d.fill_(0.5)
    encoded, _ = normalizer.encode_2d(keypoints, None, intrinsics)
    torch.testing.assert_close(encoded[0, [2, 3, 4, 26, 27, 34, 35]],
                               torch.tensor([0.1, -0.5, -0.1, 0.0, 0.0, 0.1, 0.1]))
    # the root missing: nothing to encode
    keypoints[0, 0] = float("nan")
    encoded, frame_valid = normalizer.encode_2d(keypoints, None, intrinsics)
    assert frame_valid.tolist() == [False] and (encoded == 0).all()


def test_a_pose_moved_off_centre_keeps_its_pose_encoding_but_not_its_camera_encoding():
    poses_cam = torch.from_numpy(random_poses_3d(8, seed=5)).float() + torch.tensor([0.0, 0.0, 4000.0])
    intrinsics = Intrinsics(torch.tensor([1145.0, 1145.0]), torch.tensor([500.0, 500.0]))
    centred = project_points(poses_cam, intrinsics.focal, intrinsics.principal)
    moved = centred + torch.tensor([380.0, -260.0])                             # the same pose, off-centre
    pose = PoseNormalizer(input_normalization="pose")
    torch.testing.assert_close(pose.encode_2d(moved)[0], pose.encode_2d(centred)[0])
    camera = camera_normalizer()
    on_axis, off_axis = camera.encode_2d(centred, None, intrinsics)[0], camera.encode_2d(moved, None, intrinsics)[0]
    torch.testing.assert_close(on_axis[:, 34:], torch.zeros(8, 2))
    torch.testing.assert_close(off_axis[:, 34:], torch.tensor([380.0, -260.0]).div(1145.0).expand(8, 2))
    # a camera turned 20 degrees about its vertical axis sees the person off-centre, with the perspective of
    # that place: the root's ray is tan(20 degrees) and the pose's own values change too
    turn = math.radians(20.0)
    rotation = torch.tensor([[math.cos(turn), 0.0, -math.sin(turn)], [0.0, 1.0, 0.0],
                             [math.sin(turn), 0.0, math.cos(turn)]])
    turned = project_points(poses_cam @ rotation.T, intrinsics.focal, intrinsics.principal)
    at_the_edge = camera.encode_2d(turned, None, intrinsics)[0]
    torch.testing.assert_close(at_the_edge[:, 34], torch.full((8,), -math.tan(turn)))
    assert (at_the_edge[:, :34] - on_axis[:, :34]).abs().amax() > 0.005


def test_camera_encoding_undoes_the_lens_distortion():
    from poselift.camera import h36m_rig

    camera = h36m_rig()[2]
    intrinsics = Intrinsics.from_camera(camera)
    poses_cam = torch.from_numpy(random_poses_3d(4, seed=6)).float() + torch.tensor([900.0, -500.0, 4500.0])
    distorted = camera.project(poses_cam)
    pinhole = project_points(poses_cam, intrinsics.focal, intrinsics.principal)
    assert (distorted - pinhole).norm(dim=-1).amax() > 3                        # px of distortion
    normalizer = camera_normalizer()
    from_distorted = normalizer.encode_2d(distorted, None, intrinsics)[0]
    from_pinhole = normalizer.encode_2d(pinhole, None, Intrinsics(intrinsics.focal, intrinsics.principal))[0]
    torch.testing.assert_close(from_distorted, from_pinhole, atol=1e-5, rtol=0)
    expected_ray = (poses_cam[:, 0, :2] / poses_cam[:, 0, 2:])
    torch.testing.assert_close(from_distorted[:, 34:], expected_ray, atol=1e-6, rtol=0)


def test_camera_encoding_is_fitted_with_the_intrinsics_of_every_frame():
    frames = make_frames(400, seed=9)                  # two cameras: 1000x1000 px f 1145, 1920x1080 px f 1500
    focal = np.where(frames["image_size"][:, :1] == 1000, 1145.0, 1500.0).repeat(2, axis=1)
    intrinsics = Intrinsics(torch.from_numpy(focal).float(), torch.from_numpy(frames["image_size"] / 2))
    normalizer = camera_normalizer().fit(frames["keypoints_2d"], frames["confidence"], frames["poses_3d"],
                                         intrinsics=intrinsics)
    encoded, _ = normalizer.encode_2d(torch.from_numpy(frames["keypoints_2d"]), None, intrinsics)
    assert torch.allclose(encoded.mean(0), torch.zeros(36), atol=1e-4)
    expected_std = torch.ones(36)
    expected_std[:2] = 0.0                                                            # the root's own offset
    assert torch.allclose(encoded.std(0, unbiased=False), expected_std, atol=1e-4)


def test_camera_encoding_needs_the_intrinsics():
    with pytest.raises(PoseliftError, match="input_normalization 'camera' reads the camera intrinsics, which this "
                                            "model does not pass"):
        PoseNormalizer(input_normalization="camera")
    with pytest.raises(PoseliftError, match=r"this model's 2D encoding \('camera'\) reads the camera intrinsics"):
        camera_normalizer().encode_2d(torch.zeros(2, 17, 2))
