"""Body-size augmentation: bone lengths multiplied along the kinematic tree, factors drawn as configured, and
training samples whose 2D is the projection of their scaled 3D."""

import pytest
import torch

from poselift.camera import project_points
from poselift.data.body_scale import BodyScaleConfig, bone_path_matrix, bone_vectors, draw_bone_scales, scale_bones
from poselift.data.datasets import FrameSource
from poselift.errors import PoseliftError
from poselift.skeleton import H36M17

R_HIP, R_KNEE, R_ANKLE, L_WRIST, R_WRIST = (H36M17.index(name) for name in ("r_hip", "r_knee", "r_ankle", "l_wrist",
                                                                               "r_wrist"))


def test_path_matrix_sums_the_bones_from_the_root():
    path = bone_path_matrix(H36M17)
    assert path[R_ANKLE].nonzero().squeeze(1).tolist() == [R_HIP, R_KNEE, R_ANKLE]
    assert path[L_WRIST].nonzero().squeeze(1).tolist() == [7, 8, 11, 12, 13]     # spine, thorax, shoulder, elbow
    assert (path[:, H36M17.root_index] == 0).all() and (path[H36M17.root_index] == 0).all()


def test_bones_are_multiplied_as_configured_keeping_the_root_and_the_directions(small_benchmark):
    poses = small_benchmark.poses_3d_world[:64]
    factors = torch.linspace(0.8, 1.2, 17).expand(64, 17)
    scaled = scale_bones(poses, factors)
    before, after = bone_vectors(poses), bone_vectors(scaled)
    bones = [joint for joint in range(17) if joint != H36M17.root_index]
    torch.testing.assert_close(after.norm(dim=-1)[:, bones] / before.norm(dim=-1)[:, bones], factors[:, bones])
    torch.testing.assert_close(torch.nn.functional.normalize(after[:, bones], dim=-1),
                               torch.nn.functional.normalize(before[:, bones], dim=-1))
    torch.testing.assert_close(scaled[:, H36M17.root_index], poses[:, H36M17.root_index])
    # one overall factor is a scaling about the root
    uniform = scale_bones(poses, torch.full((64, 17), 1.1))
    root = poses[:, H36M17.root_index:H36M17.root_index + 1]
    torch.testing.assert_close(uniform - root, 1.1 * (poses - root), atol=1e-3, rtol=0)      # mm


def test_factors_are_drawn_in_the_ranges_alike_for_mirrored_bones_and_reproducibly():
    config = BodyScaleConfig(overall=(0.85, 1.15), per_bone=0.05)
    factors = draw_bone_scales(2000, torch.Generator().manual_seed(0), config)
    assert factors.shape == (2000, 17)
    assert 0.85 * 0.95 <= factors.min() and factors.max() <= 1.15 * 1.05
    ratio = factors / factors[:, 7:8]                                        # per-bone part over the spine's
    assert ratio.min() >= 0.95 / 1.05 and ratio.max() <= 1.05 / 0.95
    for left, right in H36M17.left_right:
        assert torch.equal(factors[:, left], factors[:, right])
    assert factors[:, 7].std() > 0.05                                       # the overall factor varies
    again = draw_bone_scales(2000, torch.Generator().manual_seed(0), config)
    assert torch.equal(again, factors)
    with pytest.raises(PoseliftError, match="overall must be"):
        BodyScaleConfig(overall=(1.2, 0.9))


def test_training_samples_scale_the_3d_and_project_it(small_benchmark):
    indices = torch.arange(0, 800, 4)
    plain = FrameSource(small_benchmark, "train", "gt").batch(indices)
    scaled = FrameSource(small_benchmark, "train", "gt", body_scale=BodyScaleConfig()).batch(
        indices, torch.Generator().manual_seed(0))
    assert torch.equal(scaled["frame"], plain["frame"]) and torch.equal(scaled["camera"], plain["camera"])
    ratio = bone_vectors(scaled["poses_3d"]).norm(dim=-1)[:, 1:] / bone_vectors(plain["poses_3d"]).norm(dim=-1)[:, 1:]
    assert 0.85 * 0.95 - 1e-4 <= ratio.min() and ratio.max() <= 1.15 * 1.05 + 1e-4
    assert ratio.std() > 0.03
    torch.testing.assert_close(ratio[:, L_WRIST - 1], ratio[:, R_WRIST - 1])
    projected = project_points(scaled["poses_3d"] + scaled["root_3d"][:, None], scaled["focal"], scaled["principal"],
                               scaled["radial"], scaled["tangential"])
    torch.testing.assert_close(projected, scaled["keypoints_2d"], atol=1e-2, rtol=0)
    torch.testing.assert_close(scaled["root_3d"], plain["root_3d"])          # the pelvis stays where it was
