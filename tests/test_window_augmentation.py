"""WindowSource's augmentation (poselift.data.datasets): a window is one sample (one camera, one body, one mirror
decision), joint dropout and the detector per frame, the detector's error correlated in time; the recipe builds
augmented windows and the temporal model learns from them."""

import numpy as np
import pytest
import torch

from poselift.camera import project_points, to_camera_frame, virtual_rig
from poselift.data.body_scale import BodyScaleConfig, bone_vectors
from poselift.data.datasets import INTRINSIC_KEYS, RANDOM_CAMERA, FrameSource, WindowSource, camera_tensors
from poselift.data.random_cameras import RandomCameraConfig
from poselift.skeleton import H36M17

LENGTH = 6


@pytest.fixture(scope="module")
def virtual(small_benchmark):
    return virtual_rig(small_benchmark.cameras, step_deg=15)


def projection_of_3d(batch):
    """``(B, T, 17, 2)`` px: each frame's root_3d + poses_3d projected through its window's camera."""
    return project_points(batch["poses_3d"] + batch["root_3d"][..., None, :], batch["focal"], batch["principal"],
                          batch["radial"], batch["tangential"])


def test_windows_without_augmentation_are_the_benchmarks_stored_2d_and_3d(small_benchmark):
    """Bit-identical to the window source before augmentation existed (computed here as it did)."""
    for input in ("gt", "noisy"):
        source = WindowSource(small_benchmark, LENGTH, "train", input, cameras=(0, 1, 2, 3), stride=3)
        indices = torch.arange(0, len(source), 5)
        batch = source.batch(indices, torch.Generator().manual_seed(0))
        cameras = camera_tensors(small_benchmark.cameras)
        frame = source.starts[indices // 4][:, None] + torch.arange(LENGTH)
        camera = torch.tensor([0, 1, 2, 3])[indices % 4]
        poses_cam = to_camera_frame(small_benchmark.poses_3d_world[frame], cameras["rotation"][camera, None],
                                    cameras["position"][camera, None])
        root = poses_cam[:, :, H36M17.root_index]
        expected = dict(keypoints_2d=small_benchmark.keypoints_2d[input][camera[:, None], frame],
                        confidence=small_benchmark.confidence[input][camera[:, None], frame],
                        poses_3d=poses_cam - root[:, :, None], root_3d=root,
                        **{key: cameras[key][camera, None].expand(-1, LENGTH, -1) for key in INTRINSIC_KEYS},
                        image_size=cameras["image_size"][camera], camera=camera, frame=frame)
        assert batch.keys() == expected.keys()
        for key, value in expected.items():
            assert batch[key].dtype == value.dtype and torch.equal(batch[key], value), (input, key)


@pytest.mark.parametrize("augmentation", ["virtual", "random"])
def test_every_frame_of_a_window_is_filmed_by_its_one_camera(small_benchmark, virtual, augmentation):
    options = (dict(virtual_cameras=virtual) if augmentation == "virtual"
               else dict(random_cameras=RandomCameraConfig(fraction=0.5)))
    source = WindowSource(small_benchmark, LENGTH, "train", "gt", flip=True, **options)
    batch = source.batch(torch.arange(0, len(source), 7), torch.Generator().manual_seed(1))
    assert batch["keypoints_2d"].shape == (len(batch["camera"]), LENGTH, 17, 2)
    for key in INTRINSIC_KEYS:
        assert torch.equal(batch[key], batch[key][:, :1].expand_as(batch[key])), key
    torch.testing.assert_close(projection_of_3d(batch), batch["keypoints_2d"], atol=1e-3, rtol=0)
    if augmentation == "virtual":
        assert (batch["camera"] >= len(small_benchmark.cameras)).float().mean() > 0.5
    else:
        random = batch["camera"] == RANDOM_CAMERA
        assert 0.35 < random.float().mean() < 0.65
        size = batch["image_size"][random][:, None, None]
        inside = (batch["keypoints_2d"][random] >= 10 - 1e-3) & (batch["keypoints_2d"][random] <= size - 10 + 1e-3)
        assert inside.all()                          # every joint of every frame, margin_px from the border
        assert (batch["root_3d"][random][..., 2] > 0).all()


def test_long_windows_of_a_moving_person_stay_inside_random_cameras(small_benchmark):
    """The person travels during a 2 s window; the camera drawn for the whole window keeps every frame in view."""
    source = WindowSource(small_benchmark, 100, "train", "gt", random_cameras=RandomCameraConfig(fraction=1.0),
                          stride=25)
    batch = source.batch(torch.arange(len(source)), torch.Generator().manual_seed(2))
    travel = (batch["root_3d"][:, -1] - batch["root_3d"][:, 0]).norm(dim=-1)
    assert travel.max() > 1000                                      # some windows move a metre or more
    size = batch["image_size"][:, None, None]
    assert ((batch["keypoints_2d"] >= 10 - 1e-3) & (batch["keypoints_2d"] <= size - 10 + 1e-3)).all()


def test_a_window_keeps_one_body_across_its_frames(small_benchmark):
    plain = WindowSource(small_benchmark, LENGTH, "train", "gt")
    scaled = WindowSource(small_benchmark, LENGTH, "train", "gt", body_scale=BodyScaleConfig())
    indices = torch.arange(0, len(plain), 11)
    bones = bone_vectors(scaled.batch(indices, torch.Generator().manual_seed(3))["poses_3d"].double()).norm(dim=-1)
    original = bone_vectors(plain.batch(indices)["poses_3d"].double()).norm(dim=-1)
    factors = bones[..., 1:] / original[..., 1:]                              # (B, T, 16), root has no bone
    torch.testing.assert_close(factors, factors[:, :1].expand_as(factors), atol=1e-4, rtol=0)
    assert factors[:, 0].std(dim=0).min() > 0.01                              # bodies differ between windows


def test_a_mirrored_window_is_the_plain_one_with_x_negated_and_sides_swapped(small_benchmark):
    plain = WindowSource(small_benchmark, LENGTH, "train", "gt")
    flipping = WindowSource(small_benchmark, LENGTH, "train", "gt", flip=True)
    indices = torch.arange(0, len(plain), 5)
    expected, flipped = plain.batch(indices), flipping.batch(indices, torch.Generator().manual_seed(4))
    changed = (flipped["poses_3d"] != expected["poses_3d"]).flatten(1).any(dim=1)
    assert 0.3 < changed.float().mean() < 0.7
    mirrored = expected["poses_3d"][changed][..., H36M17.flip_permutation, :] * torch.tensor([-1.0, 1.0, 1.0])
    torch.testing.assert_close(flipped["poses_3d"][changed], mirrored)
    torch.testing.assert_close(flipped["root_3d"][changed], expected["root_3d"][changed] * torch.tensor([-1.0, 1.0, 1.0]))
    principal_x = expected["principal"][changed][..., None, 0]
    mirrored_2d = expected["keypoints_2d"][changed][..., H36M17.flip_permutation, :]
    torch.testing.assert_close(flipped["keypoints_2d"][changed][..., 0], 2 * principal_x - mirrored_2d[..., 0])
    torch.testing.assert_close(flipped["tangential"][changed], expected["tangential"][changed] * torch.tensor([1.0, -1.0]))
    assert torch.equal(flipped["poses_3d"][~changed], expected["poses_3d"][~changed])


def lag_one_correlation(error_px):
    """Correlation of the detector error ``(W, T, 17, 2)`` px between consecutive frames, over the errors under
    20 px (the AR(1) Gaussian part: gross errors and left/right swaps are drawn per frame)."""
    now, next = error_px[:, :-1].flatten(), error_px[:, 1:].flatten()
    small = (now.abs() < 20) & (next.abs() < 20)
    return float(torch.corrcoef(torch.stack([now[small], next[small]]))[0, 1])


def test_the_detector_error_of_a_window_is_correlated_in_time(small_benchmark, virtual):
    source = WindowSource(small_benchmark, LENGTH, "train", "noisy", virtual_cameras=virtual)
    batch = source.batch(torch.arange(0, len(source), 3), torch.Generator().manual_seed(5))
    projected = batch["camera"] >= len(small_benchmark.cameras)             # virtual cameras: the detector model
    assert projected.sum() > 1000
    error = (batch["keypoints_2d"] - projection_of_3d(batch))[projected]    # (W, T, 17, 2) px
    assert lag_one_correlation(error) > 0.5                                   # 0.66 here (AR(1) with 0.7)
    assert batch["confidence"][projected].min() < 0.9                         # the detector's confidences
    # the measure can fail: a FrameSource draws each frame's error on its own (body scaling makes it project)
    frames = FrameSource(small_benchmark, "train", "noisy", cameras=(0,), body_scale=BodyScaleConfig())
    single = frames.batch(torch.arange(1800), torch.Generator().manual_seed(5))
    frame_error = single["keypoints_2d"] - project_points(single["poses_3d"] + single["root_3d"][:, None],
                                                          single["focal"], single["principal"], single["radial"],
                                                          single["tangential"])
    assert abs(lag_one_correlation(frame_error.reshape(-1, LENGTH, 17, 2))) < 0.1


def test_joint_dropout_hides_joints_per_frame_but_never_the_root(small_benchmark):
    source = WindowSource(small_benchmark, LENGTH, "train", "noisy", joint_dropout=0.3)
    batch = source.batch(torch.arange(0, len(source), 3), torch.Generator().manual_seed(6))
    hidden = batch["confidence"] == 0
    assert torch.equal(hidden, torch.isnan(batch["keypoints_2d"]).any(dim=-1))
    assert not hidden[..., H36M17.root_index].any()
    assert 0.25 < hidden[..., 1:].float().mean() < 0.35
    assert (hidden[:, 1:] != hidden[:, :1]).any()                             # frames of a window differ


def test_the_recipe_builds_augmented_windows_and_the_temporal_model_learns_from_them(small_benchmark,
                                                                                      small_benchmark_path, tmp_path):
    from poselift.recipes import DataOptions, train_on_benchmark, training_sources
    from poselift.train import TrainConfig

    options = DataOptions(input="noisy", virtual_cameras=True, flip=True, joint_dropout=0.05, random_cameras=0.5,
                          body_scale=True, frame_stride=4)
    train_source, val_source = training_sources(small_benchmark, options, "windows", sequence_length=8)
    assert isinstance(train_source, WindowSource) and train_source.virtual_cameras and train_source.flip
    assert train_source.random_cameras.fraction == 0.5 and train_source.body_scale is not None
    assert not (val_source.virtual_cameras or val_source.flip or val_source.joint_dropout or val_source.random_cameras
                or val_source.body_scale)
    losses = []
    schedule = TrainConfig(epochs=1, batch_size=32, lr=3e-3, seed=0, max_steps=20, num_threads=1, device="cpu")
    data = DataOptions(input="noisy", validation="none", virtual_cameras=True, flip=True, joint_dropout=0.05,
                       random_cameras=0.5, body_scale=True, frame_stride=8)
    train_on_benchmark("temporal", small_benchmark_path, tmp_path / "run", data, schedule,
                       {"sequence_length": 4, "hidden_size": 32, "dropout": 0.0},
                       quiet=True, step_callback=lambda model, step, terms: losses.append(float(terms["loss"].detach())))
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5])
