"""BVH skeletons people have, mapped to H36M-17 by joint name (``poselift data convert``).

The 13 anatomical joints of H36M-17 (hips, knees, ankles, shoulders, elbows, wrists, head top) are
read at BVH joint origins; the torso and neck joints are derived from them exactly as everywhere
else in poselift (:func:`poselift.skeleton.to_h36m17` from the ``mocap13`` layout). Names are matched
after normalising them (:func:`normalise_name`: any ``prefix:`` dropped, lower case, no ``_ -`` or
spaces, "left"/"right" -> "l"/"r"), so ``mixamorig:LeftUpLeg``, ``LeftUpLeg`` and ``left_up_leg``
are one name. The known skeletons, tried in this order:

=============  =============================================================================
``cc_base``    the CMU avatar of ``shared/data/cmu`` (``CC_Base_*``, cm): the benchmark's own mapping
               (:func:`poselift.data.sources.cmu_bvh_to_h36m17`), head top fixed in the head's frame
``biped``      the FBX / Mixamo / CMU-BVH-conversion names: UpLeg, Leg, Foot, Arm, ForeArm, Hand
               (``LeftShoulder`` is the clavicle there, so it is not read)
``anatomical`` the original CMU BVH and SMPL-style names: Hip, Knee, Ankle, Shoulder, Elbow, Wrist
               (also ``L_Hip``, ``left_hip``...)
=============  =============================================================================

The head top is the head joint's End Site (``Head_End``) or a ``HeadTop_End`` joint when the file
has one, else the head joint's own origin (the base of the skull, said in the report). Anything else:
``--joint-map FILE``, a JSON object naming the BVH joint (or ``<joint>_End`` End Site) of each of the
13 joints. Units (``--units``): mm, cm, m, inch, or ``cmu`` (the Acclaim unit of the CMU and HDM05
skeletons, 1/0.45 inch); ``auto`` picks the one that makes the legs (hip to ankle) closest to 800 mm.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, PoseliftError

UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4, "cmu": 25.4 / 0.45}
UNIT_CHOICES = ("auto", *UNITS_MM)
_TYPICAL_LEG_MM = 800.0                  # hip -> knee -> ankle of an adult, for --units auto
ANATOMICAL_JOINTS = ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "head",
                     "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")
_LIMBS = {"biped": {"hip": "upleg", "knee": "leg", "ankle": "foot", "shoulder": "arm", "elbow": "forearm",
                    "wrist": "hand"},
          "anatomical": {"hip": "hip", "knee": "knee", "ankle": "ankle", "shoulder": "shoulder", "elbow": "elbow",
                         "wrist": "wrist"}}
_HEAD_TOPS = ("headend", "headtopend", "headtop", "headsiteend")


def normalise_name(name: str) -> str:
    """``"mixamorig:LeftUpLeg"`` -> ``"lupleg"``; ``"L_Hip"`` -> ``"lhip"``; ``"Head_End"`` -> ``"headend"``."""
    name = name.rsplit(":", 1)[-1].lower()
    name = re.sub(r"[\s_\-]", "", name)
    return re.sub(r"^(left|right)", lambda match: match.group(1)[0], name)


@dataclass(frozen=True)
class SkeletonMapping:
    """Which BVH joint gives each H36M-17 anatomical joint: ``joints`` {h36m name: BVH joint name}."""

    name: str
    joints: dict[str, str]
    head_is_top: bool


def _by_normalised(joint_names) -> dict[str, str]:
    return {normalise_name(name): name for name in joint_names}


def detect_mapping(joint_names, source: str) -> SkeletonMapping:
    """The known skeleton (``biped`` or ``anatomical``) whose names the file has (``cc_base`` is
    detected by :func:`map_bvh`); FormatError listing what is missing otherwise."""
    names = _by_normalised(joint_names)
    problems = []
    for skeleton, limbs in _LIMBS.items():
        wanted = {f"{side}_{joint}": f"{side}{part}" for joint, part in limbs.items() for side in "lr"}
        missing = [normalised for normalised in wanted.values() if normalised not in names]
        head = next((names[key] for key in _HEAD_TOPS if key in names), names.get("head"))
        if not missing and head is not None:
            joints = {joint: names[normalised] for joint, normalised in wanted.items()}
            joints["head"] = head
            return SkeletonMapping(skeleton, joints, normalise_name(head) in _HEAD_TOPS)
        problems.append(f"{skeleton}: no {', '.join(missing) or 'head'}")
    raise FormatError(source, "BVH skeleton not recognised (" + "; ".join(problems) + "); name its joints "
                              "with --joint-map FILE (a JSON object: H36M joint -> BVH joint, for "
                              + ", ".join(ANATOMICAL_JOINTS) + ")")


def read_joint_map(path: str | Path, joint_names) -> SkeletonMapping:
    """A ``--joint-map`` JSON file: {h36m joint: BVH joint name} for all 13 anatomical joints."""
    path = Path(path)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise FormatError(path, f"not a readable JSON joint map ({error})") from None
    if not isinstance(mapping, dict):
        raise FormatError(path, "a joint map is a JSON object: H36M joint -> BVH joint name")
    missing = [joint for joint in ANATOMICAL_JOINTS if joint not in mapping]
    unknown = sorted(set(mapping) - set(ANATOMICAL_JOINTS))
    if missing or unknown:
        raise FormatError(path, f"joint map needs exactly {', '.join(ANATOMICAL_JOINTS)}"
                                + (f"; missing {', '.join(missing)}" if missing else "")
                                + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    absent = [f"{joint} -> {name}" for joint, name in mapping.items() if name not in joint_names]
    if absent:
        raise FormatError(path, f"joints not in the BVH: {', '.join(absent)}")
    return SkeletonMapping("joint map", dict(mapping), True)


def guess_unit(positions: np.ndarray, joint_index: dict[str, int], mapping: SkeletonMapping) -> str:
    """The unit (:data:`UNITS_MM`) that makes the median leg length (hip -> knee -> ankle) closest to
    800 mm, on a log scale."""
    legs = []
    for side in "lr":
        hip, knee, ankle = (positions[:, joint_index[mapping.joints[f"{side}_{joint}"]]] for joint in
                            ("hip", "knee", "ankle"))
        legs.append(np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1))
    leg = float(np.median(np.concatenate(legs)))
    if not leg > 0:
        raise PoseliftError("cannot guess the BVH's unit: its legs have no length; give --units")
    return min(UNITS_MM, key=lambda unit: abs(np.log(leg * UNITS_MM[unit] / _TYPICAL_LEG_MM)))


@dataclass
class MappedMotion:
    """A BVH motion as H36M-17: ``poses_mm`` (T, 17, 3) world frame Z up, mm; what was read, in words."""

    poses_mm: np.ndarray
    skeleton: str
    unit: str
    notes: list[str]


def map_bvh(motion, source: str | Path, units: str = "auto", joint_map: str | Path | None = None) -> MappedMotion:
    """H36M-17 joint positions (mm, Z up) of a BVH motion of any skeleton poselift knows (module doc)."""
    from poselift.data.sources import CMU_HEAD_JOINT, CMU_JOINT_ORIGINS, Y_UP_TO_Z_UP, _mocap13_to_h36m17, \
        cmu_bvh_to_h36m17
    from poselift.io.bvh import bvh_forward_kinematics

    if units not in UNIT_CHOICES:
        raise PoseliftError(f"--units must be one of {', '.join(UNIT_CHOICES)}, got {units!r}")
    names = list(motion.joint_names)
    cc_base = joint_map is None and all(name in names for name in [*CMU_JOINT_ORIGINS.values(), CMU_HEAD_JOINT])
    if cc_base and units in ("auto", "cm"):
        poses_mm, _, _ = cmu_bvh_to_h36m17(motion, Path(source))
        return MappedMotion(poses_mm, "cc_base", "cm", [])
    mapping = read_joint_map(joint_map, names) if joint_map is not None else detect_mapping(names, str(source))
    positions, _ = bvh_forward_kinematics(motion)                     # (T, J, 3), file units, Y up
    index = {name: number for number, name in enumerate(names)}
    unit = guess_unit(positions, index, mapping) if units == "auto" else units
    joints = {joint: positions[:, index[name]] * UNITS_MM[unit] for joint, name in mapping.joints.items()}
    notes = [] if mapping.head_is_top else [f"the head is the {mapping.joints['head']} joint's origin (the file "
                                            "has no head-top End Site): about 10 cm below the top of the head"]
    return MappedMotion(_mocap13_to_h36m17(joints) @ Y_UP_TO_Z_UP.T, mapping.name, unit, notes)


def is_t_pose(poses_mm: np.ndarray) -> bool:
    """True when a (17, 3) Z-up pose holds both arms out level: each wrist within 15 % of the arm's
    length of its shoulder's height and over 80 % of the arm's length out to its side."""
    from poselift.skeleton import H36M17

    for side in "lr":
        shoulder, elbow, wrist = (poses_mm[H36M17.index(f"{side}_{joint}")] for joint in ("shoulder", "elbow", "wrist"))
        arm = np.linalg.norm(elbow - shoulder) + np.linalg.norm(wrist - elbow)
        if not arm > 0 or abs(wrist[2] - shoulder[2]) > 0.15 * arm:
            return False
        if np.linalg.norm((wrist - shoulder)[:2]) < 0.8 * arm:
            return False
    return True
