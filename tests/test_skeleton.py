import re

import numpy as np
import pytest
import torch

from poselift.errors import LayoutError, ShapeError
from poselift.skeleton import H36M17, LAYOUT_NAMES, conversion_matrix, get_layout, to_h36m17


def test_h36m17_order_and_parents():
    assert H36M17.joint_names[:4] == ("pelvis", "r_hip", "r_knee", "r_ankle")
    assert H36M17.joint_names[10] == "head" and H36M17.joint_names[16] == "r_wrist"
    assert H36M17.parents[0] == -1 and H36M17.parents[13] == 12 and H36M17.parents[11] == 8
    assert sorted(H36M17.left_right) == [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)]


def test_the_layout_knows_its_root():
    assert H36M17.root_index == H36M17.index("pelvis") == 0



@pytest.mark.parametrize("name,count", [("h36m17", 17), ("h36m32", 32), ("coco17", 17),
                                        ("openpose25", 25), ("mediapipe33", 33), ("sh16", 16)])
def test_layouts_are_trees_with_mirrored_pairs(name, count):
    layout = get_layout(name)
    assert layout.num_joints == count
    assert sum(parent == -1 for parent in layout.parents) == 1
    permutation = layout.flip_permutation
    assert sorted(permutation) == list(range(count))
    assert np.array_equal(permutation[permutation], np.arange(count))   # an involution
    for left, right in layout.left_right:
        left_name, right_name = layout.joint_names[left], layout.joint_names[right]
        assert re.sub(r"^(left_|l_|L)|_left$", "", left_name) == re.sub(r"^(right_|r_|R)|_right$", "", right_name)


def test_unknown_layout_and_joint_are_named():
    with pytest.raises(LayoutError, match="unknown keypoint layout 'coco18'"):
        get_layout("coco18")
    with pytest.raises(LayoutError, match="no joint 'tail'"):
        H36M17.index("tail")


def _coco_pose():
    rng = np.random.default_rng(0)
    return rng.uniform(100, 900, size=(5, 17, 2)), rng.uniform(0.2, 1.0, size=(5, 17))


def test_coco_conversion_derives_torso_joints_and_min_confidence():
    keypoints, confidence = _coco_pose()
    coco = get_layout("coco17")
    out, out_confidence = to_h36m17(keypoints, confidence, "coco17")
    assert out.shape == (5, 17, 2) and out_confidence.shape == (5, 17)
    hips = keypoints[:, [coco.index("left_hip"), coco.index("right_hip")]]
    shoulders = keypoints[:, [coco.index("left_shoulder"), coco.index("right_shoulder")]]
    np.testing.assert_allclose(out[:, 0], hips.mean(1))
    np.testing.assert_allclose(out[:, 8], shoulders.mean(1))
    np.testing.assert_allclose(out[:, 7], (hips.mean(1) + shoulders.mean(1)) / 2)
    np.testing.assert_allclose(out[:, 13], keypoints[:, coco.index("left_wrist")])
    ears = keypoints[:, [coco.index("left_ear"), coco.index("right_ear")]].mean(1)
    np.testing.assert_allclose(out[:, 10], ears + 0.5 * (ears - shoulders.mean(1)))
    np.testing.assert_allclose(out[:, 9], (shoulders.mean(1) + out[:, 10]) / 2)
    np.testing.assert_allclose(out_confidence[:, 0], confidence[:, [11, 12]].min(1))
    np.testing.assert_allclose(out_confidence[:, 9], confidence[:, [3, 4, 5, 6]].min(1))


def test_missing_source_joint_stays_missing():
    keypoints, confidence = _coco_pose()
    keypoints[2, get_layout("coco17").index("left_hip")] = np.nan
    out, out_confidence = to_h36m17(keypoints, confidence, "coco17")
    assert np.isnan(out[2, [0, 4, 7]]).all() and (out_confidence[2, [0, 4, 7]] == 0).all()
    assert np.isfinite(out[2, [1, 8, 10, 13]]).all()          # others untouched
    assert np.isfinite(out[[0, 1, 3, 4]]).all()


def test_weights_of_every_converter_sum_to_one():
    # affine combinations: a converted pose translates with its source
    for name in LAYOUT_NAMES:
        np.testing.assert_allclose(conversion_matrix(name).sum(1), 1.0)


def test_torch_and_numpy_agree_and_h36m32_selects_standard_joints():
    keypoints = np.random.default_rng(1).normal(size=(3, 32, 3))
    out_np, _ = to_h36m17(keypoints, None, "h36m32")
    out_torch, _ = to_h36m17(torch.from_numpy(keypoints), None, "h36m32")
    np.testing.assert_allclose(out_np, out_torch.numpy())
    standard = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
    np.testing.assert_allclose(out_np, keypoints[:, standard])


def test_wrong_joint_count_is_a_clear_error():
    with pytest.raises(ShapeError, match="layout 'openpose25' has 25"):
        to_h36m17(np.zeros((4, 17, 2)), None, "openpose25")
