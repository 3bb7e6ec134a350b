"""Siamese equivariant lifter: the loss by hand, pairs of views, equivariance learned from real mocap."""

import math

import pytest
import torch

from poselift.camera import virtual_rig
from poselift.data.datasets import FramePairSource, FrameSource
from poselift.errors import PoseliftError
from poselift.geometry import rotation_about_z
from poselift.models.registry import MODEL_KINDS
from poselift.models.siamese import SiameseConfig, SiameseLifter, rotate_embedding, siamese_loss
from poselift.recipes import DataOptions, training_sources
from poselift.train import TrainConfig, train

SMALL = dict(hidden_size=96, embedding_vectors=16, dropout=0.0)
# a tiny model trained for a few hundred steps needs a stronger pull towards equivariance than the default 0.01
SMALL_TRAINED = dict(SMALL, siamese_weight=0.1)


@pytest.mark.parametrize("pose_distance, target", [("mean_joint", 50.0 / 16 * 0.01), ("frobenius", 0.5)])
def test_siamese_loss_against_a_hand_computed_value(pose_distance, target):
    # one pair, M = 2 vectors. View 1 is the world frame, view 2 is turned 90 degrees about z.
    rotation_1 = torch.eye(3)[None]
    rotation_2 = rotation_about_z(torch.tensor([math.pi / 2]))            # x -> y, y -> -x
    code_1 = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    code_2 = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    # R2 R1^T h1 = [[0, 1, 0], [0, 0, 1]]: the first vector matches, the second is off by (1, 0, -1)
    pose_1 = torch.zeros(1, 17, 3)
    pose_2 = torch.zeros(1, 17, 3)
    pose_2[0, 5] = torch.tensor([30.0, 40.0, 0.0])                         # one joint 50 mm away
    # the authors' code: the mean over the 16 non-root joints (50 / 16 mm); Frobenius: 50 mm
    loss = siamese_loss(code_1, code_2, rotation_1, rotation_2, pose_1, pose_2, distance_scale=0.01,
                        pose_distance=pose_distance)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx((math.sqrt(2.0) - target) ** 2, rel=1e-6)


def test_siamese_loss_is_zero_for_an_equivariant_code_of_one_pose():
    generator = torch.Generator().manual_seed(0)
    code_world = torch.nn.functional.normalize(torch.randn(4, 8, 3, generator=generator), dim=-1)
    rotation_1 = rotation_about_z(torch.rand(4, generator=generator) * 6.0)
    rotation_2 = rotation_about_z(torch.rand(4, generator=generator) * 6.0)
    pose = torch.randn(4, 17, 3, generator=generator) * 100
    loss = siamese_loss(rotate_embedding(code_world, rotation_1), rotate_embedding(code_world, rotation_2),
                        rotation_1, rotation_2, pose, pose, distance_scale=0.01)
    assert torch.allclose(loss, torch.zeros(4), atol=1e-10)


def test_architecture_follows_the_paper():
    model = SiameseLifter()
    assert model.config.embedding_vectors == 128 and model.config.distance_scale == 0.01
    assert model.config.pose_distance == "mean_joint" and model.config.siamese_weight == 0.2   # the authors' code
    with pytest.raises(PoseliftError, match="pose_distance"):
        SiameseConfig(pose_distance="l1")
    assert isinstance(model.encoder.stem[2], torch.nn.LeakyReLU)
    assert model.encoder.head.out_features == 3 * 128 and len(model.encoder.blocks) == 1
    # the decoder's first layer has no BatchNorm or Dropout after it
    assert [isinstance(layer, kind) for layer, kind in zip(model.decoder.stem, (torch.nn.Linear, torch.nn.LeakyReLU))] \
        == [True, True] and len(model.decoder.stem) == 2
    assert model.decoder.head.out_features == 3 * 16
    code = model.eval().encode(torch.randn(5, 34))
    assert code.shape == (5, 128, 3)
    assert torch.allclose(code.norm(dim=-1), torch.ones(5, 128), atol=1e-5)


@pytest.fixture(scope="module")
def pairs(small_benchmark):
    frames = FrameSource(small_benchmark, "train", "gt", cameras=(0, 1, 2),
                         virtual_cameras=virtual_rig([small_benchmark.cameras[i] for i in (0, 1, 2)],
                                                     exclude_near=[small_benchmark.cameras[3]],
                                                     min_separation_deg=30.0),
                         frame_stride=4)
    return FramePairSource(frames)


def test_pairs_of_the_same_frame_agree_in_world_axes(pairs):
    batch = pairs.batch(torch.arange(512), torch.Generator().manual_seed(1))
    same = batch["same_frame"]
    assert 0.35 < same.float().mean() < 0.65
    assert torch.equal(batch["frame_1"][same], batch["frame_2"][same])
    assert bool((batch["camera_1"] != batch["camera_2"]).all())   # two cameras, random pairs too (authors' code)
    assert int(batch["camera_2"].max()) >= 4            # virtual cameras are drawn for view 2 too
    world_1 = batch["poses_3d_1"] @ batch["rotation_1"]
    world_2 = batch["poses_3d_2"] @ batch["rotation_2"]
    assert torch.allclose(world_1[same], world_2[same], atol=1e-2)
    assert not torch.allclose(world_1[~same], world_2[~same], atol=1.0)


def test_pairs_refuse_mirroring(small_benchmark):
    with pytest.raises(PoseliftError, match="flip"):
        FramePairSource(FrameSource(small_benchmark, "train", "gt", flip=True))
    with pytest.raises(PoseliftError, match="flip"):
        training_sources(small_benchmark, DataOptions(flip=True), "pairs")


def _equivariance_error(model: SiameseLifter, batch: dict) -> float:
    """Mean || R2 R1^T f(x1) - f(x2) || over same-frame pairs (eval mode)."""
    model.eval()
    with torch.no_grad():
        codes = [model.encode(model.normalizer.encode_2d(batch[f"keypoints_2d_{view}"])[0]) for view in "12"]
    relative = batch["rotation_2"] @ batch["rotation_1"].transpose(-1, -2)
    same = batch["same_frame"]
    return float((rotate_embedding(codes[0], relative) - codes[1])[same].flatten(1).norm(dim=1).mean())


def test_training_learns_an_equivariant_code_and_lowers_the_loss(pairs, small_benchmark, tmp_path):
    torch.manual_seed(0)
    model = SiameseLifter(SiameseConfig(**SMALL_TRAINED))
    model.normalizer.fit_source(pairs)
    test_pairs = FramePairSource(FrameSource(small_benchmark, "test", "gt", cameras=(0, 1, 2, 3), frame_stride=4),
                                 same_frame_fraction=1.0)
    test_batch = test_pairs.batch(torch.arange(len(test_pairs)), torch.Generator().manual_seed(0))
    untrained_error = _equivariance_error(model, test_batch)
    val = FrameSource(small_benchmark, "test", "gt", cameras=(3,), frame_stride=8)
    config = TrainConfig(epochs=4, batch_size=64, lr=2e-3, num_threads=1, device="cpu", seed=0)
    history = train(model, pairs, config, tmp_path, val_source=val, quiet=True)["history"]
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["train_siamese"] < history[0]["train_siamese"]
    assert history[-1]["val_mpjpe_mm"] < history[0]["val_mpjpe_mm"]
    trained_error = _equivariance_error(model, test_batch)
    assert trained_error < 0.6 * untrained_error          # 5.4 -> 2.6 when written


def test_rotating_the_code_by_the_identity_is_plain_lifting(small_benchmark):
    torch.manual_seed(0)
    model = SiameseLifter(SiameseConfig(**SMALL))
    source = FrameSource(small_benchmark, "test", "gt", cameras=(3,), frame_stride=20)
    model.normalizer.fit_source(source)
    batch = source.batch(torch.arange(len(source)))
    lifted = model.lift(batch["keypoints_2d"])
    assert torch.allclose(model.lift_rotated(batch["keypoints_2d"], torch.eye(3)), lifted, atol=1e-4)
    assert model.training


def test_registry_and_recipe_pick_pair_sources(small_benchmark):
    assert MODEL_KINDS["siamese"] == (SiameseConfig, SiameseLifter)
    train_source, val_source = training_sources(
        small_benchmark, DataOptions(protocol=3, virtual_cameras=True), SiameseLifter.source_kind)
    assert isinstance(train_source, FramePairSource) and isinstance(val_source, FrameSource)
    assert train_source.single_frames.camera_ids.tolist() == [0, 1, 2]
    assert val_source.camera_ids.tolist() == [3]
