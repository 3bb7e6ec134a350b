"""The benchmark's motion-capture sources (poselift.data.sources): real HDM05 and CMU clips as H36M-17 in mm,
world frame with Z up, and files that cannot be mapped refused by name."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from poselift.data.sources import (
    Y_UP_TO_Z_UP,
    asf_amc_to_h36m17,
    cmu_bvh_to_h36m17,
    load_cmu_clip,
    load_hdm05_clip,
    read_cmu_descriptions,
)
from poselift.errors import FormatError
from poselift.io.asf_amc import read_amc, read_asf
from poselift.io.bvh import read_bvh
from poselift.skeleton import H36M17

FIXTURES = Path(__file__).parent / "fixtures" / "io"
HDM05_CLIP = "HDM_bd_hopBothLegs1hops_005_120.amc"
PELVIS, R_HIP, R_KNEE, HEAD = (H36M17.index(name) for name in ("pelvis", "r_hip", "r_knee", "head"))
L_ANKLE, R_ANKLE = H36M17.index("l_ankle"), H36M17.index("r_ankle")


def bone_length(poses: np.ndarray, joint: int, other: int) -> np.ndarray:
    return np.linalg.norm(poses[:, joint] - poses[:, other], axis=-1)


def test_an_hdm05_clip_keeps_its_skeleton_in_mm_and_stands_upright(shared_data):
    asf = shared_data / "hdm05" / "asf" / "HDM_bd.asf"
    skeleton = read_asf(asf)
    clip = load_hdm05_clip(asf, shared_data / "hdm05" / "amc" / "bd" / HDM05_CLIP, skeleton)
    poses = clip.poses_world_mm
    assert (clip.source, clip.subject, clip.action, clip.fps) == ("hdm05", "bd", "hopBothLegs1hops", 120.0)
    assert clip.name == "hdm05_bd_hopBothLegs1hops_005" and poses.shape[1:] == (17, 3) and len(poses) > 50
    # the knee is the end of the femur that starts at the hip: the ASF bone's length, in mm, in every frame
    femur_mm = skeleton.lengths[skeleton.bone_names.index("rfemur")] * skeleton.length_unit_mm
    thigh = bone_length(poses, R_KNEE, R_HIP)
    np.testing.assert_allclose(thigh, femur_mm, rtol=1e-6)                  # the file's 6-digit bone direction
    assert np.ptp(thigh) < 1e-9                                             # rigid in every frame
    assert 350 < femur_mm < 500
    # derived joints: the pelvis halfway between the hips
    np.testing.assert_allclose(poses[:, PELVIS], (poses[:, R_HIP] + poses[:, H36M17.index("l_hip")]) / 2)
    # Z up: the head above the pelvis above the ankles, and the lowest point of the skeleton below the ankles
    assert (poses[:, HEAD, 2] > poses[:, PELVIS, 2]).all()
    assert (poses[:, PELVIS, 2] > poses[:, [L_ANKLE, R_ANKLE], 2].max(axis=1)).all()
    assert clip.lowest_z_mm <= poses[:, [L_ANKLE, R_ANKLE], 2].min() and 1500 < np.median(poses[:, HEAD, 2] - clip.lowest_z_mm) < 2000


def test_a_cmu_clip_drops_its_first_frame_and_takes_its_description(shared_data):
    bvh = shared_data / "cmu" / "subjects" / "002" / "002_03.bvh"
    descriptions = read_cmu_descriptions(shared_data / "cmu" / "cmu_index.csv")
    assert descriptions[(2, 3)] == "run/jog" and descriptions[(1, 1)] == "playground - forward jumps, turn around"
    clip = load_cmu_clip(bvh, descriptions)
    motion = read_bvh(bvh)
    assert len(clip.poses_world_mm) == motion.num_frames - 1                 # the converter's frame 0 is dropped
    assert (clip.source, clip.subject, clip.action, clip.name) == ("cmu", "cmu02", "run/jog", "cmu_002_03")
    assert clip.fps == pytest.approx(1.0 / motion.frame_time_s) and 59.9 < clip.fps < 60.1
    # cm -> mm: the thigh is the BVH offset of the calf joint from the thigh joint
    calf = motion.joint_names.index("CC_Base_R_Calf")
    assert motion.joint_names[motion.parents[calf]] == "CC_Base_R_Thigh"
    np.testing.assert_allclose(bone_length(clip.poses_world_mm, R_KNEE, R_HIP), 10 * np.linalg.norm(motion.offsets[calf]))
    assert (clip.poses_world_mm[:, HEAD, 2] > clip.poses_world_mm[:, PELVIS, 2]).all()
    # frames 1.. of the file, mapped by the same function
    whole, _, _ = cmu_bvh_to_h36m17(motion, bvh)
    np.testing.assert_allclose(clip.poses_world_mm, whole[1:])
    assert load_cmu_clip(bvh, {}).action == "trial 3"                        # no description: the trial number
    # this clip's RL_BoneRoot (the avatar's anchor) stays at height 0 while the body's lowest point, a
    # toe, is 55 mm up: the body's own floor leaves the anchor out
    assert abs(clip.lowest_z_mm) < 1.0 and 50.0 < clip.lowest_body_z_mm < 60.0


def test_y_up_to_z_up_is_a_proper_rotation():
    np.testing.assert_array_equal(Y_UP_TO_Z_UP @ Y_UP_TO_Z_UP.T, np.eye(3))
    assert np.linalg.det(Y_UP_TO_Z_UP) == 1.0
    np.testing.assert_array_equal(Y_UP_TO_Z_UP @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])       # up stays up


def test_skeletons_without_the_needed_joints_and_bad_names_are_refused(shared_data, tmp_path):
    tiny = read_asf(FIXTURES / "tiny.asf")
    with pytest.raises(FormatError, match=r"tiny.asf: skeleton lacks bones \[.*'rhipjoint'.*\] needed for the H36M-17"):
        asf_amc_to_h36m17(tiny, read_amc(FIXTURES / "tiny.amc", tiny), FIXTURES / "tiny.asf")
    three = FIXTURES / "three_joints.bvh"
    with pytest.raises(FormatError, match=r"three_joints.bvh: BVH hierarchy lacks joints \[.*'CC_Base_R_Thigh'"):
        cmu_bvh_to_h36m17(read_bvh(three), three)
    renamed = tmp_path / "bd_hop.amc"
    shutil.copy(shared_data / "hdm05" / "amc" / "bd" / HDM05_CLIP, renamed)
    with pytest.raises(FormatError, match=r"bd_hop.amc: file name is not HDM_<actor>_<action>_<nr>_<fps>.amc"):
        load_hdm05_clip(shared_data / "hdm05" / "asf" / "HDM_bd.asf", renamed)
