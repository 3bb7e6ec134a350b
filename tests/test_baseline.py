"""Martinez baseline: architecture, max-norm, loss, lift and inference fusion."""

import numpy as np
import pytest
import torch
from torch import nn

from _ddp_worker import make_frames, random_poses_3d
from poselift.errors import PoseliftError
from poselift.models.backbone import fold_batch_norm
from poselift.models.baseline import BaselineConfig, BaselineLifter


@pytest.fixture(scope="module")
def batch():
    return {key: torch.from_numpy(value) for key, value in make_frames(64, seed=2).items()}


@pytest.fixture(scope="module")
def small_model(batch):
    torch.manual_seed(0)
    model = BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1, input_normalization="pose"))
    model.normalizer.fit(batch["keypoints_2d"], batch["confidence"], batch["poses_3d"])
    return model


def test_paper_architecture_and_size():
    model = BaselineLifter()
    assert model.config == BaselineConfig(num_joints=17, hidden_size=1024, num_blocks=2, dropout=0.5, batch_norm=True,
                                          activation="relu", max_norm=1.0)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(34, 1024)] + [(1024, 1024)] * 4 + [(1024, 48)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 5
    assert all(m.p == 0.5 for m in model.modules() if isinstance(m, nn.Dropout))
    parameter_count = sum(p.numel() for p in model.parameters())
    # 34*1024+1024 + 4*(1024*1024+1024) + 1024*48+48 + 5 BatchNorms * 2*1024
    assert parameter_count == 35_840 + 4_198_400 + 49_200 + 10_240
    assert 4e6 < parameter_count < 5e6
    assert model(torch.zeros(8, 34)).shape == (8, 48)


def test_loss_is_normalised_mse_over_visible_frames(small_model, batch):
    model = small_model.eval()
    terms = model.loss(batch)
    encoded_2d, _ = model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])
    predicted = model(encoded_2d)
    expected = ((predicted - model.normalizer.encode_3d(batch["poses_3d"])) ** 2).mean()
    assert torch.allclose(terms["loss"], expected)
    error_mm = (model.normalizer.decode_3d(predicted) - batch["poses_3d"]).norm(dim=-1).mean()
    assert torch.allclose(terms["mpjpe_mm"], error_mm)
    assert not terms["mpjpe_mm"].requires_grad and terms["loss"].requires_grad
    # a frame without its root is left out of both terms
    extended = {key: torch.cat([value, value[:1]]) for key, value in batch.items()}
    extended["confidence"][-1, 0] = 0.0
    extended["poses_3d"][-1] += 1000.0
    terms_extended = model.loss(extended)
    assert torch.allclose(terms_extended["loss"], terms["loss"])
    assert torch.allclose(terms_extended["mpjpe_mm"], terms["mpjpe_mm"])
    model.train()


def test_image_normalization_z_scores_raw_pixels(batch):
    model = BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1))       # the paper's default
    assert model.normalizer.input_normalization == "image"
    model.normalizer.fit(batch["keypoints_2d"], batch["confidence"], batch["poses_3d"])
    pixels = batch["keypoints_2d"].flatten(start_dim=-2)
    visible = batch["confidence"].repeat_interleave(2, dim=-1) > 0
    torch.testing.assert_close(model.normalizer.mean_2d, (pixels * visible).sum(0) / visible.sum(0), rtol=1e-4, atol=1e-3)
    encoded, frame_valid = model.normalizer.encode_2d(batch["keypoints_2d"] + 100.0, batch["confidence"])
    shifted = (pixels + 100.0 - model.normalizer.mean_2d) / model.normalizer.std_2d * visible
    torch.testing.assert_close(encoded, shifted, rtol=1e-4, atol=1e-4)            # a shift is not removed
    assert frame_valid.all()


def test_loss_gradient_reaches_every_parameter(small_model, batch):
    small_model.train()
    small_model.zero_grad()
    small_model.loss(batch)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in small_model.parameters())


def test_lift_pixels_to_millimetres(small_model, batch):
    small_model.train()
    poses = small_model.lift(batch["keypoints_2d"], batch["confidence"], batch_size=10)
    assert small_model.training  # mode restored
    assert poses.shape == (64, 17, 3) and poses.dtype == torch.float32
    assert (poses[:, 0] == 0).all()
    small_model.eval()
    with torch.no_grad():
        direct = small_model.normalizer.decode_3d(small_model(small_model.normalizer.encode_2d(batch["keypoints_2d"])[0]))
    small_model.train()
    # the same poses batch by batch (10 frames) as at once, to a micrometre: float32 sums over another
    # batch size are not bit-identical on every CPU
    torch.testing.assert_close(poses, direct, rtol=1e-5, atol=1e-3)
    # numpy in, numpy out; leading dims kept; any image size gives the same answer
    shared = random_poses_3d(6, seed=1)
    small = small_model.lift(make_frames(6, seed=0, camera=0, poses_3d=shared)["keypoints_2d"].reshape(2, 3, 17, 2))
    large = small_model.lift(make_frames(6, seed=0, camera=1, poses_3d=shared)["keypoints_2d"].reshape(2, 3, 17, 2))
    assert isinstance(small, np.ndarray) and small.shape == (2, 3, 17, 3)
    np.testing.assert_allclose(small, large, atol=1e-2)
    # a frame without its root cannot be lifted: NaN, the others are unaffected
    confidence = batch["confidence"][:3].clone()
    confidence[1, 0] = 0.0
    partial = small_model.lift(batch["keypoints_2d"][:3], confidence)
    assert torch.isnan(partial[1]).all() and torch.allclose(partial[[0, 2]], poses[[0, 2]], atol=1e-5)


def test_fold_batch_norm_known_answer():
    linear = nn.Linear(2, 1)
    batch_norm = nn.BatchNorm1d(1, eps=1.0).eval()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0]]))
        linear.bias.fill_(3.0)
        batch_norm.running_mean.fill_(1.0)
        batch_norm.running_var.fill_(3.0)               # 1 / sqrt(3 + eps 1) = 0.5
        batch_norm.weight.fill_(4.0)
        batch_norm.bias.fill_(0.5)
    folded = fold_batch_norm(linear, batch_norm)
    # scale 4 * 0.5 = 2: weight [2, 4], bias 2 * (3 - 1) + 0.5 = 4.5
    torch.testing.assert_close(folded.weight, torch.tensor([[2.0, 4.0]]))
    torch.testing.assert_close(folded.bias, torch.tensor([4.5]))


def test_fuse_for_inference_matches_the_eval_model(batch):
    torch.manual_seed(3)
    model = BaselineLifter(BaselineConfig(hidden_size=64, num_blocks=2, input_normalization="pose"))
    model.normalizer.fit(batch["keypoints_2d"], batch["confidence"], batch["poses_3d"])
    with torch.no_grad():                                # BatchNorm statistics far from the identity
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-1.0, 1.0)
                module.running_var.uniform_(0.2, 3.0)
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-0.5, 0.5)
    fused = model.fuse_for_inference()
    kinds = [type(m) for m in fused.network.modules()]
    assert nn.BatchNorm1d not in kinds and nn.Dropout not in kinds and kinds.count(nn.Linear) == 6
    assert model.training and sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 5   # original kept
    encoded = model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])[0]
    model.eval()
    with torch.no_grad():
        expected = model(encoded)
        torch.testing.assert_close(fused(encoded), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fused.lift(batch["keypoints_2d"], batch["confidence"]),
                               model.lift(batch["keypoints_2d"], batch["confidence"]), rtol=1e-4, atol=1e-3)  # mm
    with pytest.raises(PoseliftError, match="fused for inference"):
        fused.train()


def test_a_camera_aware_baseline_learns_from_random_cameras_and_body_sizes(small_benchmark_path, tmp_path):
    """input_normalization="camera" with random cameras and body sizes on the small benchmark's noisy 2D: 30 steps
    of the shared loop, the loss falls; the statistics are fitted on samples that carry their cameras."""
    from poselift.recipes import DataOptions, train_on_benchmark
    from poselift.train import TrainConfig

    losses = []
    data = DataOptions(input="noisy", validation="none", random_cameras=0.5, body_scale=True, frame_stride=4)
    schedule = TrainConfig(epochs=1, batch_size=64, lr=3e-3, seed=0, max_steps=30, num_threads=1, device="cpu")
    train_on_benchmark("baseline", small_benchmark_path, tmp_path / "run", data, schedule,
                       {"input_normalization": "camera", "hidden_size": 64, "num_blocks": 1, "dropout": 0.0},
                       quiet=True, step_callback=lambda model, step, terms: losses.append(float(terms["loss"].detach())))
    assert len(losses) == 30
    assert np.mean(losses[-10:]) < 0.85 * np.mean(losses[:10])                  # 0.92 -> 0.66 here
    from poselift.checkpoint import load_model

    model = load_model(tmp_path / "run" / "last.pt")
    assert model.reads_intrinsics and model.normalizer.input_dim == 36 and model.normalizer.is_fitted
    assert model.normalizer.std_2d[-2:].min() > 0.05                  # the root's ray varies across the cameras


def test_a_baseline_that_reads_the_confidences_learns_and_lifts_with_them(small_benchmark_path, tmp_path, batch):
    """confidence_input=True on the small benchmark's noisy 2D: 30 steps of the shared loop, the loss falls;
    the checkpoint rebuilds the wider input, and lifting uses the confidences given (or 1 without them)."""
    from poselift.checkpoint import load_model
    from poselift.recipes import DataOptions, train_on_benchmark
    from poselift.train import TrainConfig

    losses = []
    data = DataOptions(input="noisy", validation="none", frame_stride=4, joint_dropout=0.05)
    schedule = TrainConfig(epochs=1, batch_size=64, lr=3e-3, seed=0, max_steps=30, num_threads=1, device="cpu")
    train_on_benchmark("baseline", small_benchmark_path, tmp_path / "run", data, schedule,
                       {"confidence_input": True, "hidden_size": 64, "num_blocks": 1, "dropout": 0.0},
                       quiet=True, step_callback=lambda model, step, terms: losses.append(float(terms["loss"].detach())))
    assert np.mean(losses[-10:]) < 0.85 * np.mean(losses[:10])
    model = load_model(tmp_path / "run" / "last.pt")
    assert model.config.confidence_input and model.normalizer.input_dim == 51
    assert model.normalizer.std_2d[34:].min() > 0.01                  # the confidences vary in the noisy 2D
    keypoints, confidence = batch["keypoints_2d"][:8], batch["confidence"][:8]
    lifted = model.lift(keypoints, confidence)
    assert torch.isfinite(lifted).all()
    assert not torch.allclose(lifted, model.lift(keypoints, confidence * 0.5))      # it reads them
