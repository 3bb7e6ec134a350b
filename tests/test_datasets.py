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
