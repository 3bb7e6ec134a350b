"""Deep pose consensus (poselift.models.consensus): joint groups, grouped lifters, the loss terms,
lift, checkpoints and training on real mocap."""

import numpy as np
import pytest
import torch
from torch import nn

from poselift.checkpoint import load_model, save_checkpoint
from poselift.data.datasets import FrameSource
from poselift.errors import PoseliftError
from poselift.models.admm import ConsensusSolver
from poselift.models.backbone import apply_max_norm
from poselift.models.consensus import (
    ConsensusConfig,
    ConsensusLifter,
    GroupedLinear,
    GroupedResidualMLP,
    aggregation_cost,
    select_joint_groups,
    trajectory_similarity,
)
from poselift.train import TrainConfig, train


def small_config(**overrides) -> ConsensusConfig:
    settings = dict(hidden_size=24, num_blocks=1, group_selection="random", input_normalization="pose")
    return ConsensusConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def frames(small_benchmark):
    """Real training frames (gt 2D) and a small model whose statistics are fitted on them."""
    source = FrameSource(small_benchmark, "train", "gt", frame_stride=10)
    torch.manual_seed(0)
    model = ConsensusLifter(small_config())
    model.normalizer.fit_source(source)
    return source, model


# ------------------------------------------------------------------------------------ joint groups
def test_trajectory_similarity_known_answer():
    # joint 0 still at the origin, joint 1 still 1 m away, joint 2 at the origin or 2 m up, in turn
    poses = torch.zeros(4, 3, 3)
    poses[:, 1, 0] = 1000.0
    poses[1::2, 2, 1] = 2000.0
    poses += torch.tensor([5000.0, -300.0, 20.0])                       # translation does not matter
    expected = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(trajectory_similarity(poses), expected, atol=1e-9)
    assert torch.allclose(trajectory_similarity(poses.numpy(), chunk_size=3), expected, atol=1e-9)
    with pytest.raises(PoseliftError, match="NaN"):
        trajectory_similarity(torch.full((2, 3, 3), float("nan")))


def test_group_selection_is_deterministic_and_covers_every_joint(small_benchmark):
    source = FrameSource(small_benchmark, "train", "gt")
    similarity = trajectory_similarity(small_benchmark.poses_3d_world[source.frames])
    groups = select_joint_groups(similarity, 17, 10, 10, 10.0, seed=4)
    assert groups == select_joint_groups(similarity, 17, 10, 10, 10.0, seed=4)
    assert groups != select_joint_groups(similarity, 17, 10, 10, 10.0, seed=5)
    assert all(len(group) == len(set(group)) == 10 and group == sorted(group) for group in groups)
    counts = np.bincount(np.concatenate(groups), minlength=17)
    assert counts.min() >= 10
    # the rule stops at the first group after which every joint has its m_g groups
    assert np.bincount(np.concatenate(groups[:-1]), minlength=17).min() < 10
    assert len(select_joint_groups(similarity, 17, 17, 10, 10.0, seed=0)) == 10        # n_g = J: m_g groups
    assert select_joint_groups(None, 17, 17, 10, 10.0, seed=0, num_groups=1) == [list(range(17))]
    with pytest.raises(PoseliftError, match="leave joint"):
        select_joint_groups(None, 17, 5, 10, 10.0, seed=0, num_groups=2)


def test_learned_groups_keep_joints_that_move_together():
    # two bodies that never meet: joints 0-2 stay within 0.1 m of each other, 3-5 likewise, 3 m apart
    near, far = 0.01, 9.0
    similarity = torch.full((6, 6), far, dtype=torch.float64)
    similarity[:3, :3] = similarity[3:, 3:] = near
    similarity.fill_diagonal_(0.0)
    learned = select_joint_groups(similarity, 6, 3, 10, 10.0, seed=0)
    assert all(set(group) in ({0, 1, 2}, {3, 4, 5}) for group in learned)
    random = select_joint_groups(None, 6, 3, 10, 10.0, seed=0)
    assert any(set(group) not in ({0, 1, 2}, {3, 4, 5}) for group in random)


def test_prepare_config_draws_groups_from_the_training_frames(small_benchmark):
    source = FrameSource(small_benchmark, "train", "gt")
    config = ConsensusLifter.prepare_config(ConsensusConfig(group_seed=1), source)
    assert config.groups == ConsensusLifter.prepare_config(ConsensusConfig(group_seed=1), source).groups
    assert np.bincount(np.concatenate(config.groups), minlength=17).min() >= 10
    assert ConsensusLifter.prepare_config(config, None) is config                    # already drawn: kept
    random = ConsensusLifter.prepare_config(ConsensusConfig(group_selection="random"), None)
    assert random.groups == ConsensusLifter(ConsensusConfig(group_selection="random", hidden_size=8)).config.groups
    with pytest.raises(PoseliftError, match="FrameSource"):
        ConsensusLifter.prepare_config(ConsensusConfig(), object())
    with pytest.raises(PoseliftError, match="prepare_config"):
        ConsensusLifter(ConsensusConfig())
    with pytest.raises(PoseliftError, match="group_size is 10"):
        ConsensusConfig(groups=[[0, 1, 2, 3, 4, 5], [5, 6, 7, 8, 9, 10], [10, 11, 12, 13, 14, 15], [0, 16, 1, 2, 3, 4]])


# ---------------------------------------------------------------------------------- grouped layers
def test_grouped_linear_equals_separate_linear_layers():
    torch.manual_seed(0)
    grouped = GroupedLinear(3, 5, 4)
    separate = [nn.Linear(5, 4) for _ in range(3)]
    with torch.no_grad():
        grouped.bias.normal_()
        grouped.weight.mul_(3.0)
        for index, linear in enumerate(separate):
            linear.weight.copy_(grouped.weight[index].T)
            linear.bias.copy_(grouped.bias[index])
    features = torch.randn(7, 3, 5)
    expected = torch.stack([linear(features[:, index]) for index, linear in enumerate(separate)], dim=1)
    assert torch.allclose(grouped(features), expected, atol=1e-6)
    # max-norm bounds each output unit's weights exactly as the baseline's does for nn.Linear
    grouped.apply_max_norm(1.0)
    for linear in separate:
        apply_max_norm(linear, 1.0)
    assert torch.allclose(grouped.weight, torch.stack([linear.weight.T for linear in separate]), atol=1e-6)
    model = ConsensusLifter(small_config())
    apply_max_norm(model, 0.5)
    layers = [module for module in model.modules() if isinstance(module, GroupedLinear)]
    assert len(layers) == 4 and all(float(layer.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-6 for layer in layers)


def test_group_lifters_share_nothing():
    torch.manual_seed(0)
    network = GroupedResidualMLP(4, 6, 9, hidden=16, num_blocks=2, dropout=0.0).eval()
    features = torch.randn(5, 4, 6)
    changed = features.clone()
    changed[:, 2] += 1.0
    with torch.no_grad():
        difference = (network(changed) - network(features)).abs().amax(dim=(0, 2))
    assert float(difference[2]) > 0 and bool((difference[[0, 1, 3]] == 0).all())


# -------------------------------------------------------------------------------------- loss terms
def test_aggregation_cost_against_a_hand_computed_value():
    # three joints on a line, every pair a group of 2. Centred, a pair [a, b] is +-(b - a)/2, so the
    # cost is min over consistent differences e of 1/2 sum (e - d)^2. Given d01 = 1, d12 = 1,
    # d02 = 5: e01 = e12 = 2, e02 = 4, residuals 1, 1, -1 -> 1.5.
    solver = ConsensusSolver([[0, 1], [1, 2], [0, 2]], num_joints=3)
    differences = torch.tensor([1.0, 1.0, 5.0], dtype=torch.float64)
    partial = torch.zeros(1, 3, 2, 3, dtype=torch.float64)
    partial[0, :, 0, 0], partial[0, :, 1, 0] = -differences / 2, differences / 2
    assert torch.allclose(aggregation_cost(solver, partial), torch.tensor([1.5], dtype=torch.float64))
    # the same along y and z adds up per coordinate; a consistent set costs nothing
    partial[..., 1], partial[..., 2] = partial[..., 0], 2 * partial[..., 0]
    assert torch.allclose(aggregation_cost(solver, partial), torch.tensor([1.5 * 6], dtype=torch.float64))
    partial[0, 2] *= 2.0 / 5.0
    assert float(aggregation_cost(solver, partial).abs()) < 1e-20


def test_aggregation_cost_is_trained():
    """L_aggre must send gradient to the partial poses (it pulls the lifters towards agreement)."""
    solver = ConsensusSolver([[0, 1], [1, 2], [0, 2]], num_joints=3)
    partial = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    aggregation_cost(solver, partial).sum().backward()
    assert partial.grad is not None and float(partial.grad.abs().max()) > 0


def test_loss_is_lifting_plus_weighted_aggregation(frames):
    source, model = frames
    batch = source.batch(torch.arange(48))
    model.eval()
    terms = model.loss(batch)
    assert set(terms) == {"loss", "lifting", "aggre", "mpjpe_mm"}
    assert torch.allclose(terms["loss"], terms["lifting"] + terms["aggre"])
    # by hand, the paper's reading: Eq. (4) against the group's root-relative joints, Eq. (12) with X the
    # ground truth (group-centred shapes); per coordinate, over the variance
    encoded_2d, _ = model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])
    with torch.no_grad():
        partial = model(encoded_2d)
    target = batch["poses_3d"][:, model.group_index]
    centred = lambda poses: poses - poses.mean(dim=2, keepdim=True)  # noqa: E731
    variance = model.normalizer.std_3d.square().mean()
    lifting = ((partial - target).square().mean(dim=(1, 2, 3)) / variance).mean()
    assert torch.allclose(terms["lifting"], lifting, rtol=1e-4)
    aggre = ((centred(partial) - centred(target)).square().mean(dim=(1, 2, 3)) / variance).mean()
    assert torch.allclose(terms["aggre"], aggre, rtol=1e-4)
    # poselift's first reading: centred outputs and targets, X = the least-squares consensus
    model.config.lifting_target, model.config.aggregation_target = "centred", "consensus"
    try:
        first_reading = model.loss(batch)
        with torch.no_grad():
            centred_partial = model(encoded_2d)
        assert float(centred_partial.mean(dim=2).abs().max()) < 1e-3                  # each group centred
        torch.testing.assert_close(centred_partial, centred(partial), atol=1e-3, rtol=1e-4)
        lifting = ((centred_partial - centred(target)).square().mean(dim=(1, 2, 3)) / variance).mean()
        assert torch.allclose(first_reading["lifting"], lifting, rtol=1e-4)
        aggre = (aggregation_cost(model.solver, centred_partial) / partial[0].numel() / variance).mean()
        assert torch.allclose(first_reading["aggre"], aggre, rtol=1e-4)
    finally:
        model.config.lifting_target, model.config.aggregation_target = "root_relative", "ground_truth"
    with pytest.raises(PoseliftError, match="aggregation_target"):
        ConsensusConfig(aggregation_target="mean")
    whole = model.solver.aggregate(partial, "l21").poses_3d
    assert torch.allclose(terms["mpjpe_mm"], (whole - batch["poses_3d"]).norm(dim=-1).mean(), rtol=1e-4)
    model.config.aggregation_weight = 0.0
    try:
        assert torch.allclose(model.loss(batch)["loss"], terms["lifting"])
    finally:
        model.config.aggregation_weight = 1.0
    # in training mode the logged error is that of the least-squares consensus (no ADMM in the step)
    model.train()
    model.network.train(False)                   # same outputs as above, the model still in training mode
    least_squares = model.solver.least_squares(partial)
    assert torch.allclose(model.loss(batch)["mpjpe_mm"], (least_squares - batch["poses_3d"]).norm(dim=-1).mean(),
                          rtol=1e-4)
    model.train()


def test_loss_gradient_reaches_every_parameter(frames):
    source, model = frames
    model.train()
    model.zero_grad()
    model.loss(source.batch(torch.arange(32)))["loss"].backward()
    assert all(parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)
               for parameter in model.parameters())
    model.zero_grad()


# ---------------------------------------------------------------------------------------- lift
def test_lift_pixels_to_millimetres(frames):
    source, model = frames
    batch = source.batch(torch.arange(6))
    model.train()
    poses = model.lift(batch["keypoints_2d"].numpy(), batch["confidence"].numpy())
    assert isinstance(poses, np.ndarray) and poses.shape == (6, 17, 3) and model.training
    assert np.isfinite(poses).all() and (poses[:, 0] == 0).all()
    stacked = model.lift(batch["keypoints_2d"].reshape(2, 3, 17, 2), batch["confidence"].reshape(2, 3, 17))
    assert torch.is_tensor(stacked) and torch.allclose(stacked.reshape(6, 17, 3), torch.from_numpy(poses), atol=1e-4)
    # the same partial poses aggregated by the configured solver
    model.eval()
    with torch.no_grad():
        partial = model(model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])[0])
    assert np.allclose(poses, model.solver.aggregate(partial, "l21").poses_3d.numpy(), atol=1e-4)
    confidence = batch["confidence"].clone()
    confidence[1, 0] = 0.0                                                        # no root: NaN
    missing = model.lift(batch["keypoints_2d"], confidence)
    assert torch.isnan(missing[1]).all() and bool(torch.isfinite(missing[[0, 2]]).all())
    model.train()


def test_checkpoint_round_trip(frames, tmp_path):
    source, model = frames
    batch = source.batch(torch.arange(5))
    save_checkpoint(tmp_path / "model.pt", model=model)
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.config.groups == model.config.groups
    assert torch.allclose(loaded.lift(batch["keypoints_2d"]), model.lift(batch["keypoints_2d"]), atol=1e-4)


def test_training_lowers_the_loss_on_real_mocap(frames, tmp_path):
    source, _ = frames
    torch.manual_seed(0)
    config = ConsensusLifter.prepare_config(ConsensusConfig(hidden_size=32, num_blocks=1, dropout=0.0,
                                                            group_size=8, min_groups_per_joint=3,
                                                            max_norm_mode="row"), source)  # the whole-matrix clip of norm 1 suits the paper's width, not this tiny one (docs/baseline.md)
    model = ConsensusLifter(config)
    val = FrameSource(source.benchmark, "test", "gt", cameras=(0,), frame_stride=20)
    result = train(model, source, TrainConfig(epochs=3, batch_size=64, lr=3e-3, num_threads=1, device="cpu"),
                   tmp_path, val_source=val, quiet=True)
    history = result["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_aggre"] < history[0]["train_aggre"]
    assert history[-1]["val_mpjpe_mm"] < history[0]["val_mpjpe_mm"]
