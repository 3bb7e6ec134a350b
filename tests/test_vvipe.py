"""V-VIPE: pre-processing, the loss terms by hand, both stages trained by the shared loop on real mocap
(stage 1: conftest's ``vvipe_stage_one``), the frozen decoder inside the stage-2 checkpoint, and
``poselift generate``. (Decoding around a pose is tested in test_generation.py, the canonical targets of
evaluation in test_evaluate.py.)"""

import math

import numpy as np
import pytest
import torch

from poselift.checkpoint import load_model, save_checkpoint
from poselift.cli import build_parser
from poselift.data.datasets import FrameSource
from poselift.errors import PoseliftError
from poselift.geometry import axis_angle_to_matrix
from poselift.io.poselift_format import read_poses_3d, write_poses_3d
from poselift.io.records import Poses3D
from poselift.models.baseline import BaselineLifter
from poselift.models.vvipe import (
    PoseVae,
    PoseVaeConfig,
    VvipeConfig,
    VvipeLifter,
    batch_hard_triplet_loss,
    kl_divergence,
    mine_triplets,
    pairwise_pose_distances,
    random_view_rotation,
    triplet_loss,
)
from poselift.recipes import new_model
from poselift.skeleton import H36M17
from poselift.train import TrainConfig, train

SMALL_VAE = dict(hidden_size=64, num_blocks=1, latent_size=8)        # the size of conftest's vvipe_stage_one
SMALL_MAPPING = dict(hidden_size=64, num_blocks=1)
LEFT_HIP, RIGHT_HIP, SPINE, THORAX = (H36M17.index(name) for name in ("l_hip", "r_hip", "spine", "thorax"))


def random_rotations(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    axes = torch.nn.functional.normalize(torch.randn(count, 3, generator=generator, dtype=torch.float64), dim=-1)
    return axis_angle_to_matrix(axes * (torch.rand(count, 1, generator=generator, dtype=torch.float64) * math.pi))


# ---------------------------------------------------------------------------------------------- §3.1


# ---------------------------------------------------------------------------------------------- losses


def test_kl_term_against_its_closed_form():
    mean = torch.tensor([[0.0, 0.0], [1.0, -2.0], [0.5, 0.0]])
    log_variance = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(4.0), -1.0]])
    # by hand: 0.5 * sum(mean^2 + var - 1 - log var)
    expected = torch.tensor([0.0, 0.5 * (1.0 + 4.0),
                             0.5 * ((0.25 + 4.0 - 1.0 - math.log(4.0)) + (math.exp(-1.0) - 1.0 + 1.0))])
    assert torch.allclose(kl_divergence(mean, log_variance), expected, atol=1e-6)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mean, (0.5 * log_variance).exp()),
                                                  torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl_divergence(mean, log_variance), reference, atol=1e-6)


def test_triplets_and_their_loss_on_a_hand_computed_batch():
    # One-joint "poses" on a line: their distances are |x_i - x_j|.
    positions = torch.tensor([0.0, 0.05, 0.3, 1.0])
    poses = torch.stack([positions, torch.zeros(4), torch.zeros(4)], dim=-1)[:, None, :]
    distances = pairwise_pose_distances(poses, poses)
    assert torch.allclose(distances, (positions[:, None] - positions[None]).abs())
    positive, negative, has_triplet = mine_triplets(distances, gap=0.1)
    # 0: nearest 0.05 (0.05); next at >= 0.15: 0.3. 1: nearest 0 (0.05); >= 0.15: 0.3 (0.25).
    # 2: nearest 0.05 (0.25); >= 0.35: 1.0 (0.7). 3: nearest 0.3 (0.7); >= 0.8: 0.05 (0.95).
    assert positive.tolist() == [1, 0, 1, 2] and negative.tolist() == [2, 2, 3, 1]
    assert has_triplet.all()
    # with a gap of 0.5, anchor 3 has nothing 1.2 away and anchor 2 nothing 0.75 away
    _, negative_wide, has_wide = mine_triplets(distances, gap=0.5)
    assert has_wide.tolist() == [True, True, False, False] and negative_wide[:2].tolist() == [3, 3]

    embeddings = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [2.0, 0.0]])
    loss = triplet_loss(embeddings, positive, negative, margin=1.0)
    # max(0, |e_i - e_pos| - |e_i - e_neg| + 1)
    expected = [max(0.0, 5.0 - 1.0 + 1.0), max(0.0, 5.0 - math.sqrt(18.0) + 1.0),
                max(0.0, math.sqrt(18.0) - math.sqrt(5.0) + 1.0), max(0.0, math.sqrt(5.0) - math.sqrt(17.0) + 1.0)]
    assert expected[3] == 0.0                                             # an easy triplet costs nothing
    assert torch.allclose(loss, torch.tensor(expected), atol=1e-6)
    combined, has = batch_hard_triplet_loss(embeddings, poses, margin=1.0, gap=0.1)
    assert torch.allclose(combined, loss) and has.all()
    # an invalid sample is neither an anchor nor a candidate: anchor 0's positive becomes 0.3
    valid = torch.tensor([True, False, True, True])
    positive_v, negative_v, has_v = mine_triplets(distances, gap=0.1, valid=valid)
    assert positive_v[0] == 2 and negative_v[0] == 3 and has_v.tolist() == [True, False, True, True]


def test_random_views_keep_the_camera_upright_without_tilt_or_roll():
    world_to_camera = random_rotations(32, seed=3).float()
    rotation = random_view_rotation(world_to_camera, 0.0, 0.0, torch.Generator().manual_seed(0))
    up_in_camera = world_to_camera[:, :, 2]
    assert torch.allclose((rotation @ up_in_camera[..., None])[..., 0], up_in_camera, atol=1e-5)
    assert torch.allclose(rotation @ rotation.mT, torch.eye(3).expand(32, 3, 3), atol=1e-5)
    turned = random_view_rotation(world_to_camera, 30.0, 10.0, torch.Generator().manual_seed(0))
    tilt = torch.rad2deg(torch.acos(((turned @ up_in_camera[..., None])[..., 0] * up_in_camera).sum(-1).clamp(-1, 1)))
    assert float(tilt.max()) < 30.0 + 10.0 + 1e-3 and float(tilt.max()) > 1.0


# ---------------------------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def frames(small_benchmark):
    return FrameSource(small_benchmark, "train", "gt", frame_stride=12)     # ~11 batches of 64 per epoch


def test_the_vae_learns_real_poses(vvipe_stage_one, frames):
    model, _, history = vvipe_stage_one
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert history[-1]["train_reconstruction"] < 0.5 * history[0]["train_reconstruction"]
    for key in ("train_kl", "train_triplet", "train_triplet_anchors", "val_mpjpe_mm"):
        assert math.isfinite(history[-1][key])
    # the fitted size is that of real people (RMS joint distance from the pelvis, mm)
    assert 350.0 < float(model.normalizer.scale_mm) < 750.0
    batch = frames.batch(torch.arange(8))
    embedding = model.embed_3d(batch["poses_3d"])
    assert embedding.shape == (8, SMALL_VAE["latent_size"])
    # the embedding ignores the camera: the same frames in world axes embed alike
    world = batch["poses_3d"] @ batch["rotation"]
    assert torch.allclose(model.embed_3d(world), embedding, atol=1e-4)
    poses = model.decode_latent(embedding)
    assert poses.shape == (8, 17, 3) and torch.allclose(poses[:, 0], torch.zeros(8, 3))
    with_gap = batch["poses_3d"].clone()
    with_gap[2, 5] = float("nan")
    assert torch.isnan(model.embed_3d(with_gap)[2]).all() and torch.isfinite(model.embed_3d(with_gap)[[0, 1, 3]]).all()


@pytest.fixture(scope="module")
def stage_two(vvipe_stage_one, frames, tmp_path_factory):
    """Stage 2 on the small VAE, 4 short epochs; (model, run dir, history, stage-1 weights before)."""
    vae, vae_dir, _ = vvipe_stage_one
    out = tmp_path_factory.mktemp("vvipe")
    frozen_before = {name: value.clone() for name, value in vae.state_dict().items()}
    torch.manual_seed(0)
    model = new_model(VvipeLifter, VvipeConfig(pose_vae_checkpoint=str(vae_dir / "last.pt"), **SMALL_MAPPING))
    config = TrainConfig(epochs=4, batch_size=64, lr=3e-3, seed=0, num_threads=1, device="cpu", lr_decay_steps=1000)
    result = train(model, frames, config, out, quiet=True)
    return model, out, result["history"], frozen_before


def test_stage_two_trains_the_2d_encoder_into_the_frozen_decoder(stage_two, frames):
    model, _, history, frozen_before = stage_two
    assert history[-1]["train_reconstruction"] < history[0]["train_reconstruction"]
    assert model.config.pose_vae_checkpoint == "" and model.config.pose_vae_source.endswith("last.pt")
    assert model.config.pose_vae["latent_size"] == SMALL_VAE["latent_size"]
    after = model.pose_vae.state_dict()
    for name, before in frozen_before.items():                            # frozen: weights and BN statistics
        assert torch.allclose(after[name].float(), before.float(), atol=1e-6), name
    assert not any(parameter.requires_grad for parameter in model.pose_vae.parameters())
    model.train()
    assert not model.pose_vae.training


def test_half_of_each_training_batch_is_a_new_view(stage_two, frames):
    model, _, _, _ = stage_two
    batch = frames.batch(torch.arange(10))
    model.train()
    torch.manual_seed(0)
    keypoints, confidence = model._augmented_views(batch)
    assert torch.equal(keypoints[5:], batch["keypoints_2d"][5:]) and torch.equal(confidence[5:], batch["confidence"][5:])
    assert not torch.allclose(keypoints[:5], batch["keypoints_2d"][:5], atol=5.0)
    # a turned view of a pose is still that pose: its 2D size stays that of a person ~5 m away
    extent = (keypoints[:5].amax(1) - keypoints[:5].amin(1)).amax(-1)
    assert bool(((extent > 100) & (extent < 700)).all())
    model.eval()
    kept, _ = model._augmented_views(batch)
    assert torch.equal(kept, batch["keypoints_2d"])                     # no augmentation when evaluating


def test_a_stage_two_checkpoint_needs_nothing_else(vvipe_stage_one, stage_two, frames, tmp_path):
    model, out, _, _ = stage_two
    _, vae_dir, _ = vvipe_stage_one
    saved_vae = (vae_dir / "last.pt").read_bytes()
    (vae_dir / "last.pt").unlink()                                     # the stage-1 file is gone
    try:
        loaded = load_model(out / "last.pt")
    finally:
        (vae_dir / "last.pt").write_bytes(saved_vae)
    batch = frames.batch(torch.arange(6))
    lifted = loaded.lift(batch["keypoints_2d"], batch["confidence"])
    assert torch.allclose(lifted, model.lift(batch["keypoints_2d"], batch["confidence"]), atol=1e-5)
    assert lifted.shape == (6, 17, 3)
    assert torch.allclose(lifted[:, 0], torch.zeros(6, 3))             # pelvis at the origin, mm
    embedding = loaded.embed(batch["keypoints_2d"].numpy(), batch["confidence"].numpy())
    assert isinstance(embedding, np.ndarray) and embedding.shape == (6, SMALL_VAE["latent_size"])
    missing_root = batch["keypoints_2d"].clone()
    missing_root[1, 0] = float("nan")
    assert torch.isnan(loaded.lift(missing_root)[1]).all() and torch.isfinite(loaded.lift(missing_root)[0]).all()
    assert loaded.embed_3d(batch["poses_3d"]).shape == (6, SMALL_VAE["latent_size"])


def test_stage_two_needs_a_stage_one_checkpoint(tmp_path):
    for config in (VvipeConfig(), VvipeConfig(pose_vae_checkpoint="vae.pt")):   # the file is read by new_model
        with pytest.raises(PoseliftError, match="pose_vae_checkpoint"):
            VvipeLifter(config)
    baseline_path = save_checkpoint(tmp_path / "baseline.pt", model=BaselineLifter())
    with pytest.raises(PoseliftError, match="baseline.pt.*'vvipe_vae'"):
        new_model(VvipeLifter, VvipeConfig(pose_vae_checkpoint=str(baseline_path)))
    with pytest.raises(PoseliftError, match="missing.pt"):
        new_model(VvipeLifter, VvipeConfig(pose_vae_checkpoint=str(tmp_path / "missing.pt")))
    untrained = save_checkpoint(tmp_path / "untrained.pt", model=PoseVae(PoseVaeConfig(**SMALL_VAE)))
    with pytest.raises(PoseliftError, match="never trained"):
        new_model(VvipeLifter, VvipeConfig(pose_vae_checkpoint=str(untrained)))


def test_generate_command_end_to_end(stage_two, frames, tmp_path, capsys):
    _, out, _, _ = stage_two
    pose_file = tmp_path / "poses.npz"
    write_poses_3d(pose_file, Poses3D(frames.batch(torch.arange(3))["poses_3d"].numpy(), H36M17.joint_names,
                                      "camera", layout="h36m17"))
    args = build_parser().parse_args(["generate", str(pose_file), "--model", str(out / "last.pt"), "--out",
                              str(tmp_path / "gen"), "--n", "4", "--scale", "0.4", "--frame", "2"])
    args.handler(args)
    printed = capsys.readouterr().out
    assert "4 variations" in printed and "variations.png" in printed
    generated = read_poses_3d(tmp_path / "gen" / "variations.npz")
    assert generated.poses_3d.shape == (5, 17, 3) and generated.frame == "world"
    assert generated.meta["source_frame"] == 2 and "canonical" in generated.meta["frame_detail"]
    assert (tmp_path / "gen" / "variations.png").stat().st_size > 1000
    args.frame = 7
    with pytest.raises(PoseliftError, match="outside its 3 frames"):
        args.handler(args)
