"""Motion-capture sources of the benchmark: HDM05 (ASF/AMC) and CMU (BVH, ``CC_Base_*`` skeleton).

Each reader turns one source clip into H36M-17 joint positions in millimetres in the benchmark's
world frame (Z up), at the source frame rate, following the joint mapping of
``shared/benchmark.md``: the 13 anatomical joints come from the source skeleton, the torso and neck
joints are derived by :func:`poselift.skeleton.to_h36m17` from the ``mocap13`` layout, exactly as a
2D converter derives them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from poselift.errors import FormatError
from poselift.io.asf_amc import asf_forward_kinematics, read_amc, read_asf
from poselift.io.bvh import bvh_forward_kinematics, read_bvh
from poselift.skeleton import MOCAP13, to_h36m17

# Source frames are Y up; the benchmark world is Z up: (x, y, z) -> (x, -z, y), a proper rotation.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# HDM05: joint = distal end of this ASF bone.
HDM05_BONE_ENDS = {
    "r_hip": "rhipjoint", "r_knee": "rfemur", "r_ankle": "rtibia",
    "l_hip": "lhipjoint", "l_knee": "lfemur", "l_ankle": "ltibia",
    "head": "head",
    "l_shoulder": "lclavicle", "l_elbow": "lhumerus", "l_wrist": "lradius",
    "r_shoulder": "rclavicle", "r_elbow": "rhumerus", "r_wrist": "rradius",
}

# CMU: joint = origin of this BVH joint; the head is a point fixed in CC_Base_Head's frame.
CMU_JOINT_ORIGINS = {
    "r_hip": "CC_Base_R_Thigh", "r_knee": "CC_Base_R_Calf", "r_ankle": "CC_Base_R_Foot",
    "l_hip": "CC_Base_L_Thigh", "l_knee": "CC_Base_L_Calf", "l_ankle": "CC_Base_L_Foot",
    "l_shoulder": "CC_Base_L_Upperarm", "l_elbow": "CC_Base_L_Forearm", "l_wrist": "CC_Base_L_Hand",
    "r_shoulder": "CC_Base_R_Upperarm", "r_elbow": "CC_Base_R_Forearm", "r_wrist": "CC_Base_R_Hand",
}
CMU_HEAD_JOINT = "CC_Base_Head"
CMU_BODY_PREFIX = "CC_Base_"     # the avatar's body joints; RL_BoneRoot, its anchor, is not one
CMU_HEAD_TOP_LOCAL_CM = np.array([2.0, 19.5, 0.0])
CM_TO_MM = 10.0


@dataclass
class SourceClip:
    """One motion-capture clip, converted to H36M-17 but not yet resampled or cut.

    Attributes:
        poses_world_mm: (T, 17, 3) float64, world frame Z up, mm; floor and centring not applied.
        lowest_z_mm: the lowest Z over the whole source skeleton (all joints, toes included) and all frames.
        lowest_body_z_mm: the same over the body's own joints only: a CMU file's ``RL_BoneRoot`` (a
            non-body anchor of the retargeted avatar that stays at height 0) left out; for HDM05 every
            ASF bone is the body's, so it equals ``lowest_z_mm``.
        fps: source frame rate.
        source: ``"hdm05"`` or ``"cmu"``; subject: ``"bd"``, ``"cmu06"``...; action; name (unique clip id).
    """

    poses_world_mm: np.ndarray
    lowest_z_mm: float
    lowest_body_z_mm: float
    fps: float
    source: str
    subject: str
    action: str
    name: str


def _mocap13_to_h36m17(joints_by_name: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 3) arrays per MOCAP13 joint name -> (T, 17, 3)."""
    mocap13 = np.stack([joints_by_name[name] for name in MOCAP13.joint_names], axis=1)
    poses, _ = to_h36m17(mocap13, None, MOCAP13)
    return poses


def asf_amc_to_h36m17(skeleton, motion, source_path: Path) -> tuple[np.ndarray, float]:
    """HDM05/CMU-style ASF skeleton + AMC motion -> (poses (T, 17, 3) mm world Z up, lowest Z of the skeleton)."""
    names, positions_mm = asf_forward_kinematics(skeleton, motion)       # (T, B+1, 3), Y up
    positions_mm = positions_mm @ Y_UP_TO_Z_UP.T
    index = {name: i for i, name in enumerate(names)}
    missing = [bone for bone in HDM05_BONE_ENDS.values() if bone not in index]
    if missing:
        raise FormatError(source_path, f"skeleton lacks bones {missing} needed for the H36M-17 mapping")
    poses = _mocap13_to_h36m17({joint: positions_mm[:, index[bone]] for joint, bone in HDM05_BONE_ENDS.items()})
    return poses, float(positions_mm[..., 2].min())


def load_hdm05_clip(asf_path: Path, amc_path: Path, skeleton=None) -> SourceClip:
    """Read one HDM05 clip (``HDM_<actor>_<action>_<nr>_<fps>.amc``) with its actor's ASF skeleton."""
    skeleton = skeleton if skeleton is not None else read_asf(asf_path)
    match = re.match(r"HDM_([a-z]+)_(.+)_(\d+)_(\d+)$", amc_path.stem)
    if not match:
        raise FormatError(amc_path, "file name is not HDM_<actor>_<action>_<nr>_<fps>.amc")
    actor, action, number, fps = match.groups()
    poses, lowest_z_mm = asf_amc_to_h36m17(skeleton, read_amc(amc_path, skeleton), asf_path)
    return SourceClip(poses, lowest_z_mm, lowest_z_mm, float(fps), "hdm05", actor, action,
                      f"hdm05_{actor}_{action}_{number}")


def cmu_bvh_to_h36m17(motion, source_path: Path) -> tuple[np.ndarray, float, float]:
    """CMU ``CC_Base_*`` BVH motion (cm, Y up) -> (poses (T, 17, 3) mm world Z up, lowest Z of the whole
    skeleton, lowest Z of the body's own ``CC_Base_*`` joints: without the ``RL_BoneRoot`` anchor), mm."""
    positions_cm, rotations = bvh_forward_kinematics(motion)             # (T, J, 3), (T, J, 3, 3)
    index = {name: i for i, name in enumerate(motion.joint_names)}
    missing = [joint for joint in [*CMU_JOINT_ORIGINS.values(), CMU_HEAD_JOINT] if joint not in index]
    if missing:
        raise FormatError(source_path, f"BVH hierarchy lacks joints {missing} needed for the H36M-17 mapping "
                                       "(poselift maps the CMU CC_Base skeleton)")
    head = index[CMU_HEAD_JOINT]
    joints = {joint: positions_cm[:, index[name]] for joint, name in CMU_JOINT_ORIGINS.items()}
    joints["head"] = positions_cm[:, head] + rotations[:, head] @ CMU_HEAD_TOP_LOCAL_CM
    poses_mm = _mocap13_to_h36m17(joints) * CM_TO_MM @ Y_UP_TO_Z_UP.T
    heights_mm = ((positions_cm * CM_TO_MM) @ Y_UP_TO_Z_UP.T)[..., 2]                  # (T, J)
    body = [number for number, name in enumerate(motion.joint_names) if name.startswith(CMU_BODY_PREFIX)]
    return poses_mm, float(heights_mm.min()), float(heights_mm[:, body].min())


def load_cmu_clip(bvh_path: Path, descriptions: dict[tuple[int, int], str]) -> SourceClip:
    """Read one CMU clip ``NNN_TT.bvh``; drops the first frame (a converter T-pose)."""
    motion = read_bvh(bvh_path)
    motion = replace(motion, motion=motion.motion[1:])
    poses_mm, lowest_z_mm, lowest_body_z_mm = cmu_bvh_to_h36m17(motion, bvh_path)
    subject, trial = (int(part) for part in bvh_path.stem.split("_"))
    action = descriptions.get((subject, trial), f"trial {trial}")
    return SourceClip(poses_mm, lowest_z_mm, lowest_body_z_mm, 1.0 / motion.frame_time_s, "cmu", f"cmu{subject:02d}", action,
                      f"cmu_{subject:03d}_{trial:02d}")


def read_cmu_descriptions(index_csv: Path) -> dict[tuple[int, int], str]:
    """``cmu_index.csv`` -> {(subject, trial): motion description}."""
    with open(index_csv, newline="", encoding="utf-8") as handle:
        return {(int(row["Subject"]), int(row["Trial #"])): row["Motion Description"].strip()
                for row in csv.DictReader(handle)}
