"""Geometry-driven self-supervised lifter (Li et al.): transforms, losses, 2D-only data, training."""

import json
import math

import numpy as np
import pytest
import torch

from poselift.camera import h36m_rig, to_camera_frame
from poselift.data.datasets import MultiViewSource, camera_tensors
from poselift.errors import PoseliftError
from poselift.models.selfsup import (
    SelfSupConfig,
    SelfSupervisedLifter,
    geometric_terms,
    paper_virtual_cameras,
    relative_transform,
    transform_between_views,
    weighted_reprojection_error,
)

TINY = dict(hidden_size=32, num_blocks=1, dropout=0.0)


def rig_views(camera_ids, batch_size):
    """Camera keys of :func:`view_of` for the H36M rig cameras ``camera_ids``, float64, (B, ...)."""
    rig = h36m_rig()
    params = {"rotation": [c.R for c in rig], "position": [c.centre for c in rig], "focal": [c.focal for c in rig],
              "principal": [c.principal_point for c in rig], "radial": [c.k for c in rig],
              "tangential": [c.p for c in rig]}
    index = torch.as_tensor(camera_ids).expand(batch_size)
    return {key: torch.as_tensor(np.asarray(value), dtype=torch.float64)[index] for key, value in params.items()}


def exact_views(small_benchmark, frames, camera_1, camera_2):
    """(pose_1, pose_2 global camera-frame mm, view_1, view_2) of benchmark frames with exact 2D."""
    world = small_benchmark.poses_3d_world[frames].double()
    poses, views = [], []
    for camera in (camera_1, camera_2):
        view = rig_views(camera, len(frames))
        view["keypoints_2d"] = small_benchmark.keypoints_2d["gt"][camera, frames].double()
        view["confidence"] = torch.ones(len(frames), 17, dtype=torch.float64)
        poses.append(to_camera_frame(world, view["rotation"], view["position"]))
        views.append(view)
    return poses[0], poses[1], views[0], views[1]


def test_transform_to_the_other_view_and_back_is_the_identity():
    generator = torch.Generator().manual_seed(0)
    pose = torch.randn(5, 17, 3, generator=generator, dtype=torch.float64) * 300 + torch.tensor([0.0, 0.0, 4500.0])
    view_1, view_2 = rig_views(0, 5), rig_views(2, 5)
    there = transform_between_views(pose, view_1["rotation"], view_1["position"], view_2["rotation"], view_2["position"])
    back = transform_between_views(there, view_2["rotation"], view_2["position"], view_1["rotation"], view_1["position"])
    assert torch.allclose(back, pose, atol=1e-9)
    assert not torch.allclose(there, pose, atol=1.0)
    # Eq. (4): R_1to2 (x - t_1to2) is the same map
    rotation, translation = relative_transform(view_1["rotation"], view_1["position"], view_2["rotation"],
                                               view_2["position"])
    by_eq4 = (pose - translation[:, None, :]) @ rotation.transpose(-1, -2)
    assert torch.allclose(by_eq4, there, atol=1e-9)


def test_transform_reprojection_is_zero_for_the_true_pose_with_exact_2d(small_benchmark):
    frames = torch.arange(0, 400, 40)
    pose_1, pose_2, view_1, view_2 = exact_views(small_benchmark, frames, 0, 3)
    terms = geometric_terms(pose_1, pose_2, view_1, view_2, min_depth_mm=100.0)
    assert float(terms["t_reproj"].max()) < 1e-4      # px^2, float32 stored 2D
    assert float(terms["reproj"].max()) < 1e-4
    assert float(terms["pretrain"].max()) < 1e-12     # mm^2
    # a pose that is right in view 1 but 100 mm deeper in view 2 is caught by the transform term
    wrong = geometric_terms(pose_1, pose_2 + torch.tensor([0.0, 0.0, 100.0], dtype=torch.float64), view_1, view_2, 100.0)
    assert float(wrong["t_reproj"].min()) > 1.0
    assert torch.allclose(wrong["pretrain"], torch.full_like(wrong["pretrain"], 2 * 100.0 ** 2))


def test_reprojection_is_exact_inside_its_guards_and_finite_beyond_them():
    from poselift.camera import project_points
    from poselift.models.selfsup import MAX_RAY_SLOPE, reproject

    view = rig_views(0, 1)
    inside = torch.tensor([[[100.0, -200.0, 4500.0], [-900.0, 700.0, 1500.0]]], dtype=torch.float64)
    exact = project_points(inside, view["focal"], view["principal"], view["radial"], view["tangential"])
    for bound in ("soft", "hard"):
        assert torch.allclose(reproject(inside, view, min_depth_mm=1000.0, bound=bound), exact)
    # hard: nearer than the floor is projected as if pushed back along the optical axis to the floor
    near = torch.tensor([[[50.0, -100.0, 500.0]]], dtype=torch.float64)
    on_floor = project_points(torch.tensor([[[50.0, -100.0, 1000.0]]], dtype=torch.float64), view["focal"],
                              view["principal"], view["radial"], view["tangential"])
    assert torch.allclose(reproject(near, view, min_depth_mm=1000.0, bound="hard"), on_floor)
    # behind the camera or far off-axis: finite, and only the soft bound keeps a gradient there
    for bound in ("soft", "hard"):
        wild = torch.tensor([[[1e6, 0.0, 1000.0], [0.0, 0.0, -3000.0]]], dtype=torch.float64, requires_grad=True)
        projected = reproject(wild, view, min_depth_mm=1000.0, bound=bound)
        assert torch.isfinite(projected).all()
        projected[..., 0].sum().backward()
        assert torch.isfinite(wild.grad).all()
        assert (float(wild.grad[0, 0, 0].abs()) > 0) == (bound == "soft")     # x beyond the slope bound
    assert MAX_RAY_SLOPE * 1000.0 < 1e6          # the first wild point is beyond the slope bound


def test_soft_bounds_by_hand():
    from poselift.models.selfsup import soft_floor, soft_limit

    values = torch.tensor([-1000.0, 0.0, 500.0, 1000.0, 1500.0], dtype=torch.float64, requires_grad=True)
    floored = soft_floor(values, 1000.0)
    expected = torch.tensor([1000 * math.exp(-2.0), 1000 * math.exp(-1.0), 1000 * math.exp(-0.5), 1000.0, 1500.0],
                            dtype=torch.float64)
    torch.testing.assert_close(floored, expected)
    floored.sum().backward()
    assert bool((values.grad > 0).all())                                    # always a way back up
    slopes = torch.tensor([-5.0, -2.0, 0.5, 2.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(soft_limit(slopes, 2.0),
                               torch.tensor([-(2 + math.log(4.0)), -2.0, 0.5, 2.0, 2 + math.log(2.0)],
                                            dtype=torch.float64))


def test_weighted_reprojection_error_by_hand():
    keypoints = torch.zeros(1, 3, 2)
    projected = torch.tensor([[[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]])
    confidence = torch.tensor([[1.0, 0.5, 0.0]])
    # (1 * 25 + 0.5 * 1 + 0 * 4) / 3
    assert float(weighted_reprojection_error(keypoints, confidence, projected)) == pytest.approx(25.5 / 3)


def test_zero_confidence_removes_a_joint(small_benchmark):
    frames = torch.arange(0, 200, 50)
    pose_1, pose_2, view_1, view_2 = exact_views(small_benchmark, frames, 1, 2)
    pose_1 = (pose_1 + 20.0).requires_grad_(True)        # an imperfect prediction, so the terms are not 0
    view_1["confidence"][:, 13] = 0.0
    base = geometric_terms(pose_1, pose_2, view_1, view_2, 100.0)
    moved = dict(view_1, keypoints_2d=view_1["keypoints_2d"].clone())
    moved["keypoints_2d"][:, 13] = torch.nan            # a missing detection
    changed = geometric_terms(pose_1, pose_2, moved, view_2, 100.0)
    for name in ("reproj", "t_reproj"):
        assert torch.isfinite(changed[name]).all()
        assert torch.allclose(changed[name], base[name])
    (gradient,) = torch.autograd.grad((changed["reproj"] + changed["t_reproj"]).sum(), pose_1)
    assert torch.all(gradient[:, 13] == 0)             # joint 13 of view 1 drives no re-projection term
    assert torch.any(gradient[:, 12] != 0)


def test_multiview_source_has_no_3d_and_the_loss_refuses_it(small_benchmark):
    source = MultiViewSource(small_benchmark, "train", "noisy", frame_stride=10)
    batch = source.batch(torch.arange(16))
    assert not any(key.startswith(("poses_3d", "root_3d")) for key in batch)
    assert batch["keypoints_2d_1"].shape == (16, 17, 2) and batch["rotation_2"].shape == (16, 3, 3)
    assert torch.all(batch["camera_1"] != batch["camera_2"])
    model = SelfSupervisedLifter(SelfSupConfig(**TINY, samples_per_epoch=len(source)))
    model.normalizer.fit_source(source)
    model.loss(batch)                                   # fine without 3D
    leaky = dict(batch, poses_3d_1=torch.zeros(16, 17, 3))
    with pytest.raises(PoseliftError, match="3D ground truth"):
        model.loss(leaky)
    single = {"keypoints_2d": batch["keypoints_2d_1"], "confidence": batch["confidence_1"],
              "poses_3d": torch.zeros(16, 17, 3)}
    with pytest.raises(PoseliftError, match="never to train"):
        model.loss(single)                              # training mode, gradients on
    model.eval()
    with torch.no_grad():
        assert float(model.loss(single)["mpjpe_mm"]) >= 0


def test_virtual_views_are_projections_of_the_triangulated_2d(small_benchmark):
    real = small_benchmark.cameras
    virtual = paper_virtual_cameras(real)
    assert len(virtual) == 8                           # 4 -> 12 views
    source = MultiViewSource(small_benchmark, "train", "gt", virtual_cameras=virtual, frame_stride=25)
    generator = torch.Generator().manual_seed(0)
    batch = source.batch(torch.arange(len(source))[:256], generator)
    for view in ("1", "2"):
        camera = batch[f"camera_{view}"]
        is_virtual = camera >= len(real)
        assert is_virtual.any() and (~is_virtual).any()
        # the check (only here, in a test) against the truth: the 3D the source never read
        cameras = camera_tensors(real + virtual)
        world = small_benchmark.poses_3d_world[batch["frame"]]
        truth_cam = to_camera_frame(world, cameras["rotation"][camera], cameras["position"][camera])
        from poselift.camera import project_points
        truth_2d = project_points(truth_cam, cameras["focal"][camera], cameras["principal"][camera],
                                  cameras["radial"][camera], cameras["tangential"][camera])
        error_px = (batch[f"keypoints_2d_{view}"] - truth_2d).norm(dim=-1)[is_virtual]
        assert float(error_px.max()) < 0.5


def test_two_stages_through_the_shared_loop(small_benchmark_path, tmp_path):
    from poselift import recipes
    from poselift.lift import load_model
    from poselift.train import TrainConfig

    data = recipes.DataOptions(input="gt", frame_stride=40)
    train_config = TrainConfig(epochs=4, batch_size=64, lr=1e-3, seed=0, num_threads=1, device="cpu",
                               checkpoint_every_steps=0)
    summary = recipes.train_on_benchmark("selfsup", small_benchmark_path, tmp_path / "run", data, train_config,
                                         {**TINY, "pretrain_epochs": 2}, quiet=True)
    history = summary["history"]
    stage = [row["train_pretraining"] for row in history]
    # two epochs of L_pre (the loop drops each epoch's incomplete last batch, so the switch may come up
    # to one batch per pre-training epoch later), then Eq. (7)
    assert stage[:2] == [1.0, 1.0] and stage[2] < 0.5 and stage[3] == 0.0
    assert history[1]["train_pretrain"] < history[0]["train_pretrain"]
    assert all(np.isfinite(row["val_mpjpe_mm"]) for row in history)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["source"]["kind"] == "views"
    model = load_model(tmp_path / "run" / "last.pt")
    assert model.config.samples_per_epoch == run["train_samples"]
    assert int(model.views_seen) == 4 * (run["train_samples"] // 64) * 64


def test_lift_returns_root_relative_mm(small_benchmark):
    source = MultiViewSource(small_benchmark, "train", "gt", frame_stride=20)
    model = SelfSupervisedLifter(SelfSupConfig(**TINY))
    model.normalizer.fit_source(source)
    keypoints = small_benchmark.keypoints_2d["gt"][0, :6].numpy()
    lifted = model.lift(keypoints)
    assert isinstance(lifted, np.ndarray) and lifted.shape == (6, 17, 3)
    assert np.allclose(lifted[:, 0], 0.0)
    assert np.allclose(model.normalizer.std_3d.numpy(), model.config.output_scale_mm)


@pytest.mark.parametrize("depth", ["log", "softplus"])
def test_a_zero_position_output_puts_the_root_on_its_ray_at_the_starting_depth(small_benchmark, depth):
    """With the position branch's output at 0 the root lies on the ray of the detected root pixel (it
    projects back onto that pixel through the distorted camera) at ``initial_depth_mm`` (log) or
    ``min_depth_mm + depth_scale_mm * log 2`` (softplus)."""
    from poselift.models.selfsup import reproject, view_of

    source = MultiViewSource(small_benchmark, "train", "gt", frame_stride=40)
    config = SelfSupConfig(**TINY, depth=depth)
    model = SelfSupervisedLifter(config).eval()
    model.normalizer.fit_source(source)
    head = model.position_network.head
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    view = view_of(source.batch(torch.arange(0, len(source), 5)), "_1")
    encoded, _ = model.normalizer.encode_2d(view["keypoints_2d"], view["confidence"])
    with torch.no_grad():
        root = model.root_position(encoded, view["keypoints_2d"], view)
    expected_depth = (config.initial_depth_mm if depth == "log"
                      else config.min_depth_mm + config.depth_scale_mm * float(np.log(2.0)))
    assert torch.allclose(root[:, 2], torch.full_like(root[:, 2], expected_depth))
    projected = reproject(root[:, None, :], view, config.min_depth_mm)[:, 0]
    assert float((projected - view["keypoints_2d"][:, 0]).norm(dim=-1).max()) < 0.05      # px
    with pytest.raises(PoseliftError, match="depth"):
        SelfSupervisedLifter(SelfSupConfig(depth="linear"))


def test_training_without_prepared_config_is_refused(small_benchmark):
    source = MultiViewSource(small_benchmark, "train", "gt", frame_stride=40)
    model = SelfSupervisedLifter(SelfSupConfig(**TINY))
    model.normalizer.fit_source(source)
    with pytest.raises(PoseliftError, match="prepare_config"):
        model.loss(source.batch(torch.arange(8)))


def test_plain_reprojection_variant_and_bad_options(small_benchmark):
    with pytest.raises(PoseliftError, match="reprojection"):
        SelfSupervisedLifter(SelfSupConfig(reprojection="other"))
    source = MultiViewSource(small_benchmark, "train", "gt", frame_stride=40)
    model = SelfSupervisedLifter(SelfSupConfig(**TINY, reprojection="plain", pretrain_epochs=0))
    model.normalizer.fit_source(source)
    terms = model.loss(source.batch(torch.arange(8)))
    assert float(terms["pretraining"]) == 0.0
    assert torch.allclose(terms["loss"], terms["reproj"])
    from poselift.recipes import DataOptions, training_sources
    with pytest.raises(PoseliftError, match="flip"):
        training_sources(small_benchmark, DataOptions(flip=True), "views")


def test_recordings_give_the_same_batches_as_the_benchmark(small_benchmark):
    frames = torch.nonzero(small_benchmark.frame_mask("train")).squeeze(1)[::30]
    from_benchmark = MultiViewSource(small_benchmark, "train", "noisy", frame_stride=30)
    recorded = MultiViewSource.from_recordings(small_benchmark.keypoints_2d["noisy"][:, frames].numpy(),
                                               small_benchmark.confidence["noisy"][:, frames].numpy(),
                                               small_benchmark.cameras)
    indices = torch.arange(0, len(recorded), 7)
    first, second = from_benchmark.batch(indices), recorded.batch(indices)
    for key in ("keypoints_2d_1", "confidence_2", "rotation_2", "focal_1"):
        assert torch.equal(torch.nan_to_num(first[key]), torch.nan_to_num(second[key]))
    with pytest.raises(Exception, match="recordings"):
        MultiViewSource.from_recordings(np.zeros((2, 3, 17, 2)), np.zeros((2, 3, 17)), small_benchmark.cameras)


def test_split_pretraining_disagreement_closes_the_misplaced_root_shortcut():
    from poselift.models.selfsup import pose_disagreement, split_disagreement

    generator = torch.Generator().manual_seed(0)
    target = 300.0 * torch.randn(2, 17, 3, generator=generator, dtype=torch.float64)
    shift = torch.tensor([0.0, 0.0, 1000.0], dtype=torch.float64)
    # a pure translation costs the same as Eq. (6) as printed: ||b||^2
    translated = target + shift
    assert torch.allclose(split_disagreement(translated, target, 0), pose_disagreement(translated, target))
    assert torch.allclose(split_disagreement(translated, target, 0), torch.full((2,), 1000.0 ** 2, dtype=torch.float64))
    # the root misplaced by 1 m, every other joint where it belongs: Eq. (6) as printed charges only
    # the root's share (1/J); the split form charges the root and the shape it implies
    root_only = target.clone()
    root_only[:, 0] += shift
    assert torch.allclose(pose_disagreement(root_only, target), torch.full((2,), 1000.0 ** 2 / 17, dtype=torch.float64))
    assert torch.allclose(split_disagreement(root_only, target, 0),
                          torch.full((2,), 1000.0 ** 2 * (1 + 16 / 17), dtype=torch.float64))


def test_eq7_stage_learns_the_pose_from_2d_alone(small_benchmark):
    """After pre-training (Eq. 6) the shapes are small; Eq. (7) must then grow them to the right size and
    cut the validation error, with no 3D in the loss (the regression of the depth collapse: roots drawn
    to the camera while the poses grew to metres)."""
    from poselift.data.datasets import FrameSource

    torch.manual_seed(0)
    train_source = MultiViewSource(small_benchmark, "train", "gt", frame_stride=4)
    val_source = FrameSource(small_benchmark, "test", "gt", frame_stride=10)
    val = val_source.batch(torch.arange(len(val_source)))
    batch_size, pretrain_steps, steps = 128, 100, 400
    config = SelfSupConfig(hidden_size=128, pretrain_epochs=1, samples_per_epoch=pretrain_steps * batch_size)
    model = SelfSupervisedLifter(config)
    model.normalizer.fit_source(train_source)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def validation():
        model.eval()
        with torch.no_grad():
            predicted = model.lift(val["keypoints_2d"], val["confidence"])
        model.train()
        truth = val["poses_3d"] - val["poses_3d"][:, :1]
        size_ratio = float(predicted.norm(dim=-1).mean() / truth.norm(dim=-1).mean())
        return float((predicted - truth).norm(dim=-1).mean()), size_ratio

    for step in range(steps):
        if step == pretrain_steps:
            assert model.pretraining is False
            error_after_pretraining, _ = validation()
        terms = model.loss(train_source.batch(torch.randint(len(train_source), (batch_size,), generator=generator),
                                              generator))
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    error, size_ratio = validation()
    assert error < 0.6 * error_after_pretraining
    assert 0.7 < size_ratio < 1.3


def test_learning_rate_warms_up_over_the_first_views_of_eq7():
    model = SelfSupervisedLifter(SelfSupConfig(**TINY, pretrain_epochs=1, samples_per_epoch=100, warmup_epochs=0.5))
    factors = {}
    for views_seen in (0, 99, 100, 125, 149, 150, 400):
        model.views_seen.fill_(views_seen)
        factors[views_seen] = model.learning_rate_factor
    assert factors == pytest.approx({0: 1.0, 99: 1.0, 100: 0.0, 125: 0.5, 149: 0.98, 150: 1.0, 400: 1.0})
    model.config.warmup_epochs = 0.0
    model.views_seen.fill_(100)
    assert model.learning_rate_factor == 1.0


def test_training_stage_follows_the_views_seen():
    staged = SelfSupervisedLifter(SelfSupConfig(**TINY, pretrain_epochs=1, samples_per_epoch=100,
                                                restart_optimizer=True))
    assert staged.training_stage == "pretraining"
    staged.views_seen += 100
    assert staged.training_stage == "main"
    one_adam = SelfSupervisedLifter(SelfSupConfig(**TINY, pretrain_epochs=1, samples_per_epoch=100))
    assert one_adam.training_stage is None
