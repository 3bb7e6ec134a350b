"""Consensus aggregation (poselift.models.admm): least squares against a reference solver, robust
recovery with a corrupted group, ADMM convergence behaviour, blocks, units and checks."""

import pytest
import torch

from poselift.errors import PoseliftError
from poselift.models.admm import ConsensusSolver, check_groups, stacking_matrix
from poselift.models.consensus import select_joint_groups

NUM_JOINTS = 17


@pytest.fixture(scope="module")
def groups():
    """Randomly drawn H36M-sized groups: 10 joints each, every joint in >= 10 groups."""
    return select_joint_groups(None, NUM_JOINTS, 10, 10, 10.0, seed=3)


def partial_poses_of(poses: torch.Tensor, groups, generator: torch.Generator, shift_mm: float = 500.0):
    """Exact partial poses ``(B, G, n, 3)``: each group's joints of ``poses``, moved by a random translation."""
    index = torch.as_tensor(groups)
    shift = torch.randn(poses.shape[0], index.shape[0], 1, 3, generator=generator, dtype=poses.dtype)
    return poses[:, index] + shift_mm * shift


def random_poses(batch: int, seed: int, num_joints: int = NUM_JOINTS) -> tuple[torch.Tensor, torch.Generator]:
    generator = torch.Generator().manual_seed(seed)
    poses = 300.0 * torch.randn(batch, num_joints, 3, generator=generator, dtype=torch.float64)
    return poses - poses[:, :1], generator


def test_least_squares_equals_a_reference_solver():
    groups = [[0, 1, 2], [1, 3, 4], [2, 4, 5], [0, 5, 3]]
    solver = ConsensusSolver(groups, num_joints=6)
    generator = torch.Generator().manual_seed(0)
    partial = torch.randn(4, 4, 3, 3, generator=generator, dtype=torch.float64) * 100
    stacking = stacking_matrix(torch.tensor(groups), 6)                        # (12, 6 + 4)
    stacked = partial.reshape(4, 12, 3)
    # min-norm least squares of the rank-deficient system, one pose at a time
    reference = torch.stack([torch.linalg.lstsq(stacking, rows, driver="gelsd").solution for rows in stacked])
    reference_pose = reference[:, :6] - reference[:, :1]
    assert torch.allclose(solver.least_squares(partial), reference_pose, atol=1e-9)
    reference_residual = (stacking @ reference - stacked).reshape(partial.shape)
    assert torch.allclose(solver.least_squares_residual(partial), reference_residual, atol=1e-9)
    result = solver.aggregate(partial, "l2", record_objective=True)
    assert result.iterations == 0 and bool(result.converged.all())
    assert torch.allclose(result.objective_history[0], reference_residual.square().sum(dim=(1, 2, 3)))


def test_least_squares_is_differentiable(groups):
    solver = ConsensusSolver(groups)
    poses, generator = random_poses(2, seed=1)
    partial = partial_poses_of(poses, groups, generator).requires_grad_()
    solver.least_squares(partial).square().sum().backward()
    assert partial.grad is not None and bool(torch.isfinite(partial.grad).all())


def test_exact_partial_poses_give_the_pose_for_every_norm(groups):
    solver = ConsensusSolver(groups, tolerance=1e-6)
    poses, generator = random_poses(8, seed=2)
    partial = partial_poses_of(poses, groups, generator)
    for norm in ("l2", "l21", "l1"):
        assert torch.allclose(solver.aggregate(partial, norm).poses_3d, poses, atol=1e-6), norm
    assert float(solver.least_squares_residual(partial).abs().max()) < 1e-9


def test_l21_recovers_the_pose_despite_a_corrupted_group_and_l2_does_not(groups):
    solver = ConsensusSolver(groups, tolerance=1e-5, max_iterations=1000)
    poses, generator = random_poses(16, seed=4)
    partial = partial_poses_of(poses, groups, generator)
    partial[:, 5] += 1000.0 * torch.randn(16, 10, 3, generator=generator, dtype=torch.float64)   # one bad group
    robust = solver.aggregate(partial, "l21")
    assert bool(robust.converged.all())
    assert float((robust.poses_3d - poses).norm(dim=-1).max()) < 0.05                           # mm
    assert float((solver.aggregate(partial, "l1").poses_3d - poses).norm(dim=-1).max()) < 0.5
    assert float((solver.aggregate(partial, "l2").poses_3d - poses).norm(dim=-1).mean()) > 20.0


def test_admm_converges_and_its_primal_residual_never_increases(groups):
    poses, generator = random_poses(16, seed=5)
    partial = partial_poses_of(poses, groups, generator)
    partial += 20.0 * torch.randn(partial.shape, generator=generator, dtype=torch.float64)         # noisy lifters
    partial[:, 2] += 400.0 * torch.randn(16, 10, 3, generator=generator, dtype=torch.float64)
    for norm in ("l21", "l1"):
        result = ConsensusSolver(groups, tolerance=1e-4).aggregate(partial, norm, record_objective=True)
        objective_history, residual_history = result.objective_history, result.residual_history
        assert objective_history.shape == (result.iterations + 1, 16)
        assert residual_history.shape == (result.iterations, 16)
        # averaged non-expansive iteration: the primal residual is non-increasing (to rounding)
        assert bool((residual_history[1:] <= residual_history[:-1] * (1 + 1e-9) + 1e-9).all()), norm
        assert bool((objective_history[-1] < objective_history[0]).all()), norm    # better than least squares
        # the objective of the returned iterate is the minimum, as a much longer run finds it
        optimum = ConsensusSolver(groups, tolerance=0.0, max_iterations=1000).aggregate(
            partial, norm, record_objective=True).objective_history[-1]
        assert torch.allclose(objective_history[-1], optimum, rtol=1e-3), norm
        assert bool((optimum <= objective_history[-1] * (1 + 1e-9)).all()), norm
    solver = ConsensusSolver(groups)
    least_squares = solver.aggregate(partial, "l2", record_objective=True).objective_history[0]
    assert torch.allclose(least_squares, solver.least_squares_residual(partial).square().sum(dim=(1, 2, 3)))


def test_tolerance_and_iteration_cap(groups):
    poses, generator = random_poses(6, seed=6)
    partial = partial_poses_of(poses, groups, generator)
    partial[:, 0] += 800.0 * torch.randn(6, 10, 3, generator=generator, dtype=torch.float64)
    capped = ConsensusSolver(groups, tolerance=1e-8, max_iterations=3).aggregate(partial, "l21")
    assert capped.iterations == 3 and not bool(capped.converged.any())
    loose = ConsensusSolver(groups, tolerance=1e-2).aggregate(partial, "l21")
    tight = ConsensusSolver(groups, tolerance=1e-5, max_iterations=1000).aggregate(partial, "l21")
    assert bool(loose.converged.all()) and bool(tight.converged.all())
    assert 0 < loose.iterations < tight.iterations < 1000
    assert ConsensusSolver(groups).aggregate(partial, "l21", max_iterations=0).iterations == 0


def test_blocks_units_and_dtypes(groups):
    poses, generator = random_poses(10, seed=7)
    partial = partial_poses_of(poses, groups, generator)
    partial += 30.0 * torch.randn(partial.shape, generator=generator, dtype=torch.float64)
    one_block = ConsensusSolver(groups, tolerance=1e-7, max_iterations=2000, block_size=64).aggregate(partial)
    blocks = ConsensusSolver(groups, tolerance=1e-7, max_iterations=2000, block_size=3).aggregate(partial)
    assert torch.allclose(one_block.poses_3d, blocks.poses_3d, atol=1e-5)
    # the penalty and the tolerance are relative: metres in, the same pose in metres out
    metres = ConsensusSolver(groups, tolerance=1e-7, max_iterations=2000).aggregate(partial / 1000.0)
    assert torch.allclose(metres.poses_3d * 1000.0, one_block.poses_3d, atol=1e-5)
    single = ConsensusSolver(groups).aggregate(partial.float())
    assert single.poses_3d.dtype == torch.float32 and single.poses_3d.shape == (10, NUM_JOINTS, 3)
    assert bool((single.poses_3d[:, 0] == 0).all())
    assert ConsensusSolver(groups).aggregate(partial[:0]).poses_3d.shape == (0, NUM_JOINTS, 3)


def test_groups_and_settings_are_checked():
    with pytest.raises(PoseliftError, match="equally long"):
        check_groups([[0, 1], [1, 2, 3]], 4)
    with pytest.raises(PoseliftError, match="0..3"):
        check_groups([[0, 4]], 4)
    with pytest.raises(PoseliftError, match="twice"):
        check_groups([[0, 1], [2, 2]], 4)
    with pytest.raises(PoseliftError, match=r"joint\(s\) \[3\]"):
        check_groups([[0, 1], [1, 2]], 4)
    with pytest.raises(PoseliftError, match="connected"):
        ConsensusSolver([[0, 1], [2, 3]], num_joints=4)
    with pytest.raises(PoseliftError, match="relaxation"):
        ConsensusSolver([[0, 1], [1, 2]], num_joints=3, relaxation=2.0)
    solver = ConsensusSolver([[0, 1], [1, 2]], num_joints=3)
    with pytest.raises(PoseliftError, match="unknown aggregation"):
        solver.aggregate(torch.zeros(1, 2, 2, 3), "l3")
    with pytest.raises(PoseliftError, match=r"\(B, 2, 2, 3\)"):
        solver.aggregate(torch.zeros(1, 3, 2, 3))
