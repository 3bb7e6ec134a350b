import torch

from poselift.camera import virtual_rig
from poselift.data.datasets import FrameSource, ViewPairSource, WindowSource


def test_frame_source_batch_is_consistent(small_benchmark):
    source = FrameSource(small_benchmark, "test", "gt")
    assert len(source) == 4 * int(small_benchmark.frame_mask("test").sum())
    batch = source.batch(torch.arange(0, 40))
    assert batch["keypoints_2d"].shape == (40, 17, 2) and batch["poses_3d"].shape == (40, 17, 3)
    assert torch.all(batch["poses_3d"][:, 0] == 0)
    assert torch.equal(batch["camera"][:8], torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    # root-relative camera-frame 3D + root projects to the 2D input
    for camera_index, camera in enumerate(small_benchmark.cameras):
        rows = batch["camera"] == camera_index
        absolute = (batch["poses_3d"][rows] + batch["root_3d"][rows, None]).double()
        torch.testing.assert_close(camera.project(absolute), batch["keypoints_2d"][rows].double(), atol=1e-2, rtol=0)
    single = source[5]
    torch.testing.assert_close(single["keypoints_2d"], batch["keypoints_2d"][5])


def test_virtual_cameras_project_the_same_3d(small_benchmark):
    rig = small_benchmark.cameras
    virtual = virtual_rig(rig, step_deg=15)
    source = FrameSource(small_benchmark, "train", "gt", virtual_cameras=virtual)
    generator = torch.Generator().manual_seed(0)
    batch = source.batch(torch.arange(400), generator)
    cameras = rig + virtual
    assert (batch["camera"] >= 4).float().mean() > 0.5               # most draws are virtual
    for camera_index in batch["camera"].unique().tolist()[:6]:
        rows = batch["camera"] == camera_index
        absolute = (batch["poses_3d"][rows] + batch["root_3d"][rows, None]).double()
        torch.testing.assert_close(cameras[camera_index].project(absolute), batch["keypoints_2d"][rows].double(),
                                   atol=1e-2, rtol=0)


def test_flip_mirrors_2d_and_3d_together(small_benchmark):
    plain = FrameSource(small_benchmark, "train", "gt").batch(torch.arange(200))
    flipped = FrameSource(small_benchmark, "train", "gt", flip=True).batch(torch.arange(200), torch.Generator().manual_seed(1))
    mirrored = (flipped["poses_3d"] != plain["poses_3d"]).any(-1).any(-1)
    assert 0.3 < mirrored.float().mean() < 0.7
    # a mirrored sample's left wrist is the plain right wrist with x negated
    torch.testing.assert_close(flipped["poses_3d"][mirrored][:, 13],
                               plain["poses_3d"][mirrored][:, 16] * torch.tensor([-1.0, 1.0, 1.0]))


def test_view_pairs_share_the_world_pose_and_can_hide_3d(small_benchmark):
    pairs = ViewPairSource(small_benchmark, "train", "noisy")
    batch = pairs.batch(torch.arange(24))
    assert (batch["camera_1"] != batch["camera_2"]).all()
    world_1 = torch.einsum("bji,bkj->bki", batch["rotation_1"], batch["poses_3d_1"] + batch["root_3d_1"][:, None]) + batch["position_1"][:, None]
    world_2 = torch.einsum("bji,bkj->bki", batch["rotation_2"], batch["poses_3d_2"] + batch["root_3d_2"][:, None]) + batch["position_2"][:, None]
    torch.testing.assert_close(world_1, world_2, atol=1e-2, rtol=0)
    blind = ViewPairSource(small_benchmark, "train", "noisy", with_3d=False).batch(torch.arange(24))
    assert not any("3d" in key for key in blind)


def test_windows_stay_inside_clips(small_benchmark):
    windows = WindowSource(small_benchmark, length=5, split="test")
    batch = windows.batch(torch.arange(len(windows)))
    assert batch["keypoints_2d"].shape[1:] == (5, 17, 2)
    clip_of = small_benchmark.clip_index[batch["frame"]]
    assert (clip_of == clip_of[:, :1]).all()
    assert torch.equal(batch["frame"][:, 1:] - batch["frame"][:, :-1], torch.ones_like(batch["frame"][:, 1:]))


def test_batches_carry_the_intrinsics_of_the_camera_that_filmed_each_sample(small_benchmark):
    from poselift.camera import stack_intrinsics

    rig = stack_intrinsics(small_benchmark.cameras)
    batch = FrameSource(small_benchmark, "test", "gt").batch(torch.arange(0, 40))
    for key, stored in (("focal", "focal"), ("principal", "centre"), ("radial", "k"), ("tangential", "p")):
        torch.testing.assert_close(batch[key], torch.as_tensor(rig[stored], dtype=torch.float32)[batch["camera"]])
    windows = WindowSource(small_benchmark, length=5, split="test").batch(torch.arange(6))
    assert windows["focal"].shape == (6, 5, 2) and windows["radial"].shape == (6, 5, 3)
    torch.testing.assert_close(windows["principal"][:, 3],
                               torch.as_tensor(rig["centre"], dtype=torch.float32)[windows["camera"]])


def test_random_cameras_film_a_share_of_the_samples_and_their_2d_is_their_projection(small_benchmark):
    from poselift.camera import project_points
    from poselift.data.datasets import RANDOM_CAMERA
    from poselift.data.random_cameras import RandomCameraConfig

    source = FrameSource(small_benchmark, "train", "gt", random_cameras=RandomCameraConfig(fraction=0.5), flip=True)
    batch = source.batch(torch.arange(0, 1200, 3), torch.Generator().manual_seed(0))
    random = batch["camera"] == RANDOM_CAMERA
    assert 0.4 < random.float().mean() < 0.6
    projected = project_points(batch["poses_3d"] + batch["root_3d"][:, None], batch["focal"], batch["principal"],
                               batch["radial"], batch["tangential"])
    torch.testing.assert_close(projected, batch["keypoints_2d"], atol=1e-2, rtol=0)   # mirrored lenses included
    assert (batch["image_size"][random] != 1000).any() and (batch["focal"][random] > 3000).any()
    again = source.batch(torch.arange(0, 1200, 3), torch.Generator().manual_seed(0))
    assert all(torch.equal(again[key], batch[key]) for key in batch)


def test_random_cameras_scale_the_detector_error_with_the_person(small_benchmark):
    from poselift.data.datasets import RANDOM_CAMERA
    from poselift.data.random_cameras import RandomCameraConfig
    from poselift.encoding import pose_scale

    source = FrameSource(small_benchmark, "train", "noisy", random_cameras=RandomCameraConfig(fraction=1.0))
    clean = FrameSource(small_benchmark, "train", "gt", random_cameras=RandomCameraConfig(fraction=1.0))
    indices = torch.arange(0, 2000, 2)
    noisy = source.batch(indices, torch.Generator().manual_seed(3))
    exact = clean.batch(indices, torch.Generator().manual_seed(3))
    assert (noisy["camera"] == RANDOM_CAMERA).all() and torch.equal(noisy["focal"], exact["focal"])
    error = (noisy["keypoints_2d"] - exact["keypoints_2d"]).norm(dim=-1).median(dim=-1).values
    size = pose_scale(exact["keypoints_2d"], 0)
    small, large = size < size.quantile(0.25), size > size.quantile(0.75)
    ratio = (error[large].median() / error[small].median()) / (size[large].median() / size[small].median())
    assert 0.7 < ratio < 1.4                                     # the error grows with the person's size in px
