"""Tests of poselift.geometry: rotations, Kabsch / Procrustes, canonical frame, triangulation."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from poselift.errors import ShapeError
from poselift.geometry import (
    axis_angle_to_matrix,
    canonical_rotation,
    canonicalize,
    euler_to_matrix,
    kabsch,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    procrustes_align,
    quaternion_to_matrix,
    root_relative,
    rotation_about_z,
    rotation_between,
    similarity_transform,
)

from poses import random_rotations, standing_pose_mm, varied_poses

L_HIP, R_HIP, PELVIS, THORAX = 4, 1, 0, 8


# ---------------------------------------------------------------------------------------------- rotations


def test_quaternion_known_answer():
    half = math.sqrt(0.5)
    expected = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 deg about z
    np.testing.assert_allclose(quaternion_to_matrix(np.array([half, 0, 0, half])), expected, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(torch.tensor([2 * half, 0, 0, 2 * half], dtype=torch.float64)),
                               expected, atol=1e-12)  # normalised first
    np.testing.assert_allclose(rotation_about_z(math.pi / 2), expected, atol=1e-12)
    with pytest.raises(ShapeError, match="quaternion"):
        quaternion_to_matrix(torch.zeros(4))


def test_quaternion_round_trips_and_torch_matches_scipy():
    quaternions = Rotation.random(200, random_state=1).as_quat()[:, [3, 0, 1, 2]].reshape(4, 50, 4)
    quaternions[..., 0] = np.abs(quaternions[..., 0])
    matrices_np = quaternion_to_matrix(quaternions)
    matrices_torch = quaternion_to_matrix(torch.as_tensor(quaternions))
    assert matrices_np.shape == (4, 50, 3, 3)
    np.testing.assert_allclose(matrices_torch.numpy(), matrices_np, atol=1e-12)
    np.testing.assert_allclose(matrix_to_quaternion(matrices_np), quaternions, atol=1e-12)
    np.testing.assert_allclose(matrix_to_quaternion(matrices_torch).numpy(), quaternions, atol=1e-12)
    # every branch of the torch conversion: rotations by pi about x, y, z and the identity
    for quaternion in ([0.0, 1, 0, 0], [0.0, 0, 1, 0], [0.0, 0, 0, 1], [1.0, 0, 0, 0]):
        matrix = quaternion_to_matrix(torch.tensor(quaternion, dtype=torch.float64))
        np.testing.assert_allclose(matrix_to_quaternion(matrix).numpy(), quaternion, atol=1e-12)
    assert matrix_to_quaternion(matrices_np.astype(np.float32)).dtype == np.float32


def test_axis_angle_round_trips_and_torch_matches_scipy():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(300, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, math.pi - 1e-3, 296), [0.0, 1e-9, 1e-5, math.pi - 1e-7]])
    rotvecs = axes * angles[:, None]
    matrices = axis_angle_to_matrix(rotvecs)
    np.testing.assert_allclose(matrices, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(torch.as_tensor(rotvecs)).numpy(), matrices, atol=1e-12)
    np.testing.assert_allclose(matrix_to_axis_angle(matrices), rotvecs, atol=1e-6)
    np.testing.assert_allclose(matrix_to_axis_angle(torch.as_tensor(matrices)).numpy(), rotvecs, atol=1e-6)
    # known answer: a quarter turn about x
    np.testing.assert_allclose(axis_angle_to_matrix(np.array([math.pi / 2, 0, 0])),
                               [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)


def test_axis_angle_gradient_is_finite_at_zero():
    rotvec = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(rotvec).sum().backward()
    assert torch.isfinite(rotvec.grad).all()


def test_rotation_about_z_batched():
    angles = torch.tensor([0.0, math.pi / 2, math.pi], dtype=torch.float64)
    matrices = rotation_about_z(angles)
    assert matrices.shape == (3, 3, 3)
    np.testing.assert_allclose((matrices @ torch.tensor([1.0, 0, 0], dtype=torch.float64)).numpy(),
                               [[1, 0, 0], [0, 1, 0], [-1, 0, 0]], atol=1e-12)


# ---------------------------------------------------------------------------------------------- Kabsch / Procrustes


def test_kabsch_recovers_known_rotation_and_translation():
    source = varied_poses(8, 3)
    rotations = random_rotations(8, 4)
    translations = np.random.default_rng(5).normal(0, 1000, size=(8, 3))
    target = source @ rotations.transpose(0, 2, 1) + translations[:, None, :]
    rotation, translation = kabsch(source, target)
    np.testing.assert_allclose(rotation, rotations, atol=1e-9)
    np.testing.assert_allclose(translation, translations, atol=1e-6)
    rotation_t, translation_t = kabsch(torch.as_tensor(source), torch.as_tensor(target))
    np.testing.assert_allclose(rotation_t.numpy(), rotations, atol=1e-9)


def test_kabsch_weights_ignore_corrupted_joints():
    source = varied_poses(1, 6)[0]
    rotation = random_rotations(1, 7)[0]
    target = source @ rotation.T
    target[5] += 300.0  # corrupt one joint; weight 0 must ignore it
    weights = np.ones(17)
    weights[5] = 0.0
    found, translation = kabsch(source, target, weights)
    np.testing.assert_allclose(found, rotation, atol=1e-9)
    np.testing.assert_allclose(translation, 0.0, atol=1e-6)
    with pytest.raises(ShapeError, match="weights"):
        kabsch(source, target, np.zeros(17))


def test_kabsch_matches_scipy_and_never_reflects():
    rng = np.random.default_rng(8)
    source = rng.normal(size=(20, 17, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0]) + rng.normal(0, 0.3, size=source.shape)
    rotation, translation = kabsch(source, mirrored)
    np.testing.assert_allclose(np.linalg.det(rotation), 1.0, atol=1e-9)
    for index in range(20):
        a = mirrored[index] - mirrored[index].mean(0)
        b = source[index] - source[index].mean(0)
        reference, _ = Rotation.align_vectors(a, b)  # best proper rotation b -> a
        np.testing.assert_allclose(rotation[index], reference.as_matrix(), atol=1e-8)


def test_procrustes_removes_a_similarity():
    pred = varied_poses(10, 9)
    rotations = random_rotations(10, 10)
    scales = np.linspace(0.5, 2.0, 10)
    target = scales[:, None, None] * pred @ rotations.transpose(0, 2, 1) + np.array([100.0, -200.0, 3000.0])
    aligned = procrustes_align(pred, target)
    np.testing.assert_allclose(aligned, target, atol=1e-6)
    rotation, scale, translation = similarity_transform(pred, target)
    np.testing.assert_allclose(scale, scales, atol=1e-9)
    np.testing.assert_allclose(rotation, rotations, atol=1e-9)
    rigid = procrustes_align(pred, target, scale=False)  # without scale the fit is worse
    assert np.all(np.linalg.norm(rigid - target, axis=-1).mean(-1)[scales != 1.0] > 1.0)
    aligned_t = procrustes_align(torch.as_tensor(pred, dtype=torch.float32),
                                 torch.as_tensor(target, dtype=torch.float32))
    assert aligned_t.dtype == torch.float32
    np.testing.assert_allclose(aligned_t.double().numpy(), target, atol=0.05)


def test_procrustes_reflection_case_planar_pose():
    # A planar pose mirrored in x equals itself turned by 180 degrees about y: a proper rotation
    # aligns it exactly, although the naive SVD answer would be the reflection diag(-1, 1, 1).
    planar = np.array([[0.0, 0, 0], [100, 0, 0], [0, 250, 0], [-60, 40, 0], [30, -80, 0]])
    mirrored = planar * np.array([-1.0, 1.0, 1.0])
    rotation, scale, _ = similarity_transform(planar, mirrored)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert scale == pytest.approx(1.0)
    np.testing.assert_allclose(procrustes_align(planar, mirrored), mirrored, atol=1e-9)


def test_procrustes_reflection_case_is_not_undone():
    pose = standing_pose_mm() + np.random.default_rng(11).normal(0, 30, size=(17, 3))
    mirrored = pose * np.array([1.0, -1.0, 1.0])  # a left-right mirror: no rotation undoes it
    aligned = procrustes_align(pose, mirrored)
    rotation, _, _ = similarity_transform(pose, mirrored)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.linalg.norm(aligned - mirrored, axis=-1).mean() > 10.0


def test_procrustes_collapsed_prediction_is_finite():
    target = standing_pose_mm()
    aligned = procrustes_align(np.zeros((17, 3)), target)
    np.testing.assert_allclose(aligned, np.broadcast_to(target.mean(0), (17, 3)), atol=1e-9)


def test_similarity_shape_errors():
    with pytest.raises(ShapeError, match="source and target"):
        kabsch(np.zeros((17, 3)), np.zeros((16, 3)))


# ---------------------------------------------------------------------------------------------- frames


def test_root_relative():
    poses = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3)
    np.testing.assert_array_equal(root_relative(poses)[:, 0], 0.0)
    np.testing.assert_array_equal(root_relative(poses, root=2)[0, 0], [-6.0, -6.0, -6.0])
    np.testing.assert_array_equal(root_relative(poses, root=-1), root_relative(poses, root=2))
    with pytest.raises(ShapeError, match="root"):
        root_relative(poses, root=3)


def test_canonical_frame_puts_hips_on_y_and_spine_on_z():
    poses = varied_poses(50, 12)
    canonical = canonicalize(poses)
    np.testing.assert_allclose(canonical[:, PELVIS], 0.0, atol=1e-9)
    hips = canonical[:, L_HIP] - canonical[:, R_HIP]
    np.testing.assert_allclose(hips[:, [0, 2]], 0.0, atol=1e-9)  # hip axis on y ...
    assert np.all(hips[:, 1] > 0)  # ... pointing from the right hip to the left hip
    np.testing.assert_allclose(canonical[:, THORAX, 0], 0.0, atol=1e-9)  # spine in the y-z plane ...
    assert np.all(canonical[:, THORAX, 2] > 0)  # ... pointing up +z
    # invariant to the pose's own rotation and translation
    turned = poses @ random_rotations(50, 13).transpose(0, 2, 1) + 250.0
    np.testing.assert_allclose(canonicalize(turned), canonical, atol=1e-8)
    rotation = canonical_rotation(poses)
    np.testing.assert_allclose(np.linalg.det(rotation), 1.0, atol=1e-12)
    np.testing.assert_allclose(canonicalize(torch.as_tensor(poses)).numpy(), canonical, atol=1e-9)


def test_canonical_frame_of_a_canonical_pose_is_identity():
    # the standing pose faces +x with its left hip on +y: already canonical
    pose = standing_pose_mm()
    np.testing.assert_allclose(canonical_rotation(pose), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(canonicalize(pose), pose - pose[PELVIS], atol=1e-12)


def test_canonical_frame_rejects_degenerate_pose():
    pose = standing_pose_mm()
    pose[L_HIP] = pose[R_HIP]
    with pytest.raises(ShapeError, match="hips"):
        canonicalize(pose)


def test_rotation_between_known_answers():
    quarter_turn_about_z = rotation_between(np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0]))
    np.testing.assert_allclose(quarter_turn_about_z, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    half_turn = rotation_between(np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(half_turn @ [0.0, -1.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    assert np.linalg.det(half_turn) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation_between(np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 1.0])), np.eye(3))


def test_euler_angles_follow_the_file_conventions():
    quarter = np.pi / 2
    # BVH "Zrotation Xrotation": intrinsic, R = Rz @ Rx
    np.testing.assert_allclose(euler_to_matrix(("Z", "X"), np.array([quarter, quarter])),
                               rotation_about_z(quarter) @ axis_angle_to_matrix(np.array([quarter, 0.0, 0.0])),
                               atol=1e-12)
    # ASF "XZ": extrinsic, R = Rz @ Rx too (X applied first about the fixed axes)
    np.testing.assert_allclose(euler_to_matrix(("X", "Z"), np.array([quarter, quarter]), intrinsic=False),
                               rotation_about_z(quarter) @ axis_angle_to_matrix(np.array([quarter, 0.0, 0.0])),
                               atol=1e-12)
    assert euler_to_matrix((), np.zeros((4, 2, 0))).shape == (4, 2, 3, 3)
    assert euler_to_matrix(("Y",), np.zeros((5, 1))).shape == (5, 3, 3)
    with pytest.raises(ShapeError, match="angles_rad"):
        euler_to_matrix(("X", "Y"), np.zeros((5, 3)))
