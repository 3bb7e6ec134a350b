"""BVH skeletons people have, mapped to H36M-17 by name: checked on a real BVH of the original CMU skeleton."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from poselift.cli import main
from poselift.data.sources import asf_amc_to_h36m17
from poselift.errors import FormatError
from poselift.io import load_poses_3d
from poselift.io.asf_amc import read_amc, read_asf
from poselift.io.bvh import read_bvh, write_bvh
from poselift.mocap_mapping import is_t_pose, map_bvh, normalise_name

FIXTURE = Path(__file__).parent / "fixtures" / "io" / "hdm05_dg_cmu_skeleton.bvh"   # make_cmu_skeleton_bvh.py
CLIP = "HDM_dg_jogLeftCircle4StepsRstart_008_120.amc"
# the original CMU BVH's other naming (and SMPL-style files): joints named after the joint, not the bone
ANATOMICAL_NAMES = {"LeftUpLeg": "LeftHip", "LeftLeg": "LeftKnee", "LeftFoot": "LeftAnkle", "LeftShoulder": "LeftCollar",
                    "LeftArm": "LeftShoulder", "LeftForeArm": "LeftElbow", "LeftHand": "LeftWrist"}


@pytest.fixture(scope="module")
def expected_mm(shared_data):
    """The benchmark's own mapping of the clip the fixture was written from: (40, 17, 3) mm, Z up."""
    skeleton = read_asf(shared_data / "hdm05" / "asf" / "HDM_dg.asf")
    poses, _ = asf_amc_to_h36m17(skeleton, read_amc(shared_data / "hdm05" / "amc" / "dg" / CLIP, skeleton), FIXTURE)
    return poses[:40]


def renamed(motion, names: dict[str, str]):
    mirrored = {**names, **{left.replace("Left", "Right"): right.replace("Left", "Right") for left, right in names.items()}}
    new_names = []
    for name in motion.joint_names:
        base, end = (name[:-4], "_End") if name.endswith("_End") else (name, "")
        new_names.append(mirrored.get(base, base) + end)
    return replace(motion, joint_names=tuple(new_names))


def test_names_are_normalised_across_conventions():
    assert normalise_name("mixamorig:LeftUpLeg") == normalise_name("left_up_leg") == "lupleg"
    assert normalise_name("L_Hip") == normalise_name("LeftHip") == "lhip"
    assert normalise_name("Head_End") == "headend"


def test_the_original_cmu_skeleton_converts_like_the_benchmark_mapping(expected_mm):
    motion = read_bvh(FIXTURE)
    mapped = map_bvh(motion, FIXTURE)
    assert mapped.skeleton == "biped" and mapped.unit == "cmu" and mapped.notes == []
    assert np.abs(mapped.poses_mm - expected_mm).max() < 1.0           # mm; the file keeps 4-5 decimals
    anatomical = map_bvh(renamed(motion, ANATOMICAL_NAMES), FIXTURE)
    assert anatomical.skeleton == "anatomical"
    np.testing.assert_allclose(anatomical.poses_mm, mapped.poses_mm)
    in_inches = map_bvh(motion, FIXTURE, units="inch")
    np.testing.assert_allclose(in_inches.poses_mm, mapped.poses_mm * 0.45, rtol=1e-9)


UNREAL_NAMES = {"LeftUpLeg": "thigh_l", "LeftLeg": "calf_l", "LeftFoot": "foot_l", "LeftArm": "upperarm_l",
                "LeftForeArm": "lowerarm_l", "LeftHand": "hand_l", "RightUpLeg": "thigh_r", "RightLeg": "calf_r",
                "RightFoot": "foot_r", "RightArm": "upperarm_r", "RightForeArm": "lowerarm_r", "RightHand": "hand_r"}


def test_a_joint_map_names_any_skeleton_and_a_bad_one_is_refused(expected_mm, tmp_path):
    motion = read_bvh(FIXTURE)
    unreal = replace(motion, joint_names=tuple(UNREAL_NAMES.get(name, name) for name in motion.joint_names))
    with pytest.raises(FormatError, match="not recognised.*--joint-map"):
        map_bvh(unreal, "unreal.bvh")
    joint_map = {f"{side}_{joint}": f"{part}_{side}" for side in "lr" for joint, part in
                 (("hip", "thigh"), ("knee", "calf"), ("ankle", "foot"), ("shoulder", "upperarm"),
                  ("elbow", "lowerarm"), ("wrist", "hand"))}
    map_file = tmp_path / "map.json"
    map_file.write_text(json.dumps({**joint_map, "head": "Head_End"}))
    mapped = map_bvh(unreal, "unreal.bvh", joint_map=map_file)
    assert mapped.skeleton == "joint map" and mapped.unit == "cmu"
    assert np.abs(mapped.poses_mm - expected_mm).max() < 1.0
    map_file.write_text(json.dumps({"head": "Head_End"}))
    with pytest.raises(FormatError, match="map.json.*missing r_hip"):
        map_bvh(unreal, "unreal.bvh", joint_map=map_file)
    map_file.write_text(json.dumps({**joint_map, "head": "Skull"}))
    with pytest.raises(FormatError, match="not in the BVH: head -> Skull"):
        map_bvh(unreal, "unreal.bvh", joint_map=map_file)


def test_a_head_without_its_top_is_said():
    motion = read_bvh(FIXTURE)
    headless = replace(motion, joint_names=tuple("Crown" if name == "Head_End" else name for name in motion.joint_names))
    assert "base of the skull" not in " ".join(map_bvh(motion, FIXTURE).notes)
    assert "Head joint's origin" in map_bvh(headless, FIXTURE).notes[0]


def test_convert_command_drops_a_t_pose_frame_zero_and_says_so(tmp_path, capsys):
    motion = read_bvh(FIXTURE)
    rest = motion.motion[:1].copy()
    rest[:, 3:] = 0.0                                   # every rotation 0: the ASF rest pose, arms out level
    with_rest = tmp_path / "with_rest_pose.bvh"
    write_bvh(with_rest, replace(motion, motion=np.concatenate([rest, motion.motion])))
    assert main(["data", "convert", str(with_rest), str(tmp_path / "clip.npz")]) == 0
    printed = capsys.readouterr().out
    assert "skeleton biped, unit cmu" in printed and "frame 0 was a T-pose" in printed
    poses = load_poses_3d(tmp_path / "clip.npz")
    assert poses.poses_3d.shape[0] == 40 and poses.fps == pytest.approx(120.0)
    assert main(["data", "convert", str(with_rest), str(tmp_path / "kept.npz"), "--keep-first-frame"]) == 0
    assert is_t_pose(load_poses_3d(tmp_path / "kept.npz").poses_3d[0]) and "kept" in capsys.readouterr().out
    assert main(["data", "convert", str(FIXTURE), str(tmp_path / "cmu.json")]) == 0
    assert "T-pose" not in capsys.readouterr().out      # a clip that starts moving keeps its frame 0


def test_the_shared_cmu_avatar_converts_with_the_benchmark_mapping(shared_data, tmp_path, capsys):
    clip = shared_data / "cmu" / "subjects" / "001" / "001_01.bvh"
    assert main(["data", "convert", str(clip), str(tmp_path / "clip.npz")]) == 0
    assert "skeleton cc_base, unit cm" in capsys.readouterr().out
    assert load_poses_3d(tmp_path / "clip.npz").poses_3d.shape[0] == read_bvh(clip).num_frames


def test_convert_takes_the_fps_of_an_amc_from_the_flag_or_the_file_name(shared_data, tmp_path, capsys):
    amc = shared_data / "hdm05" / "amc" / "dg" / CLIP
    asf = shared_data / "hdm05" / "asf" / "HDM_dg.asf"
    renamed_amc = tmp_path / "clip.amc"
    renamed_amc.write_bytes(amc.read_bytes())
    assert main(["data", "convert", str(amc), str(tmp_path / "a.npz"), "--asf", str(asf)]) == 0
    assert "120 fps from the file name" in capsys.readouterr().out
    assert main(["data", "convert", str(renamed_amc), str(tmp_path / "b.npz"), "--asf", str(asf)]) == 0
    assert "states no frame rate: give --fps" in capsys.readouterr().out
    assert main(["data", "convert", str(renamed_amc), str(tmp_path / "c.npz"), "--asf", str(asf), "--fps", "60"]) == 0
    assert load_poses_3d(tmp_path / "c.npz").fps == 60.0


def test_write_and_read_keep_the_fixture(tmp_path):
    motion = read_bvh(FIXTURE)
    write_bvh(tmp_path / "again.bvh", motion)
    np.testing.assert_array_equal(read_bvh(tmp_path / "again.bvh").motion, motion.motion)
