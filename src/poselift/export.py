"""Exports of lifted 3D poses for animation and analysis tools: BVH, CSV, TRC (OpenSim) and C3D.

BVH (:func:`export_bvh`)
    A fixed skeleton whose bone lengths are the clip's medians, left and right alike
    (:func:`skeleton_bone_lengths`: the one skeleton of every output of a clip) and, per frame,
    joint rotations solved from the 3D joint positions. Reading the file back
    (:func:`poselift.io.bvh.read_bvh` + :func:`poselift.io.bvh.bvh_forward_kinematics`) gives
    :func:`fixed_length_positions` to rounding: each bone at its fixed length, pointing from its
    exported parent joint at the lifted joint, so a joint is off by its own bone's length change
    only, not by the sum along the limb. The distance to the poses is therefore only their
    bone-length jitter (none for poses already fitted to the skeleton, as ``poselift lift`` and
    ``poselift video`` write them); :func:`export_bvh` returns it.

    The file is in metres by default (``unit``: "m", "cm" or "mm"; Blender's importer reads metres at
    its default scale 1), Y up, the character facing +Z with its left on +X (the usual BVH rest
    frame). Camera-frame poses (x right, y down, z forward) are turned into it by a half turn about
    x, ``(x, -y, -z)``, so a person facing the camera faces +Z, and lifted so that the clip's median
    lowest ankle is at height 0 (:func:`world_positions`); root-relative, they stay at the origin.
    World-frame poses (Z up, e.g. triangulated from several views) keep their floor and the root's
    trajectory. The rest pose (all rotations 0) is a T-pose: legs down, spine, neck and head up,
    arms out sideways.

    Hierarchy (H36M-17 joints, then End Sites for the head top, the toes and the hands)::

        pelvis (root: position + rotation; frame = spine up, hips left)
          pelvis_to_r_hip -> r_hip -> r_knee -> r_ankle -> End (r_toes)
          pelvis_to_l_hip -> l_hip -> l_knee -> l_ankle -> End (l_toes)
          spine -> thorax (frame = neck up, shoulders left)
                     neck -> End (head: H36M-17's head joint is the top of the head)
                     thorax_to_l_shoulder -> l_shoulder -> l_elbow -> l_wrist -> End (l_hand)
                     thorax_to_r_shoulder -> r_shoulder -> r_elbow -> r_wrist -> End (r_hand)

    The ankles and wrists are joints with rotation channels that are 0 in every frame (nothing in
    17 joints says how a foot or a hand turns), so an animator can key them; their End Sites give
    a foot and a hand of anthropometric size (:data:`END_SITES`), which follow the shin and the
    forearm.

    The ``*_to_*`` joints have zero offset: a joint has one rotation, so a joint with several
    bones whose angles change over time (the hips against the spine, the shoulders against the
    neck) gives each of those bones a joint of its own. Every other rotation turns the rest
    direction of its bone onto the bone's direction by the smallest rotation relative to its
    parent's frame (no twist), so rotations are smooth and deterministic. Rotation channels are
    ``Zrotation Xrotation Yrotation`` (degrees, intrinsic: ``Rz @ Rx @ Ry``).

CSV (:func:`write_csv`), TRC (:func:`export_trc`), C3D (:func:`export_c3d`)
    The joints as named markers, mm, in a world frame with y or z up (:func:`world_positions`: the
    user's choice, ``--up``; feet on the floor for poses that have none). CSV: one row per frame,
    ``frame``, ``time_s`` and ``<joint>_x_mm``, ``<joint>_y_mm``, ``<joint>_z_mm``; a missing value is
    an empty field. TRC is OpenSim's marker file, C3D the binary standard (through ezc3d).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import PoseliftError, ShapeError
from poselift.fileio import write_text_atomic
from poselift.geometry import any_perpendicular, rotation_between, unit_vectors
from poselift.io.bvh import BvhMotion, bvh_forward_kinematics, write_bvh
from poselift.io.c3d import write_c3d
from poselift.io.records import Poses3D
from poselift.io.trc import MarkerTrajectories, write_trc
from poselift.skeleton import H36M17
from poselift.wording import count

_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)

#: Rest direction (BVH frame: +X left, +Y up, +Z forward) of the bone from each H36M-17 joint's
#: parent to the joint: the T-pose.
REST_DIRECTIONS = {
    "r_hip": _RIGHT, "r_knee": _DOWN, "r_ankle": _DOWN,
    "l_hip": _LEFT, "l_knee": _DOWN, "l_ankle": _DOWN,
    "spine": _UP, "thorax": _UP, "neck": _UP, "head": _UP,
    "l_shoulder": _LEFT, "l_elbow": _LEFT, "l_wrist": _LEFT,
    "r_shoulder": _RIGHT, "r_elbow": _RIGHT, "r_wrist": _RIGHT,
}

ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
ROTATION_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
_EULER_ORDER = "ZXY"  # scipy's upper case = intrinsic, matching the channel order above


#: End Sites beyond the ankles and wrists, in the BVH rest frame, as fractions of the bone that
#: leads to them (shin, forearm): segment lengths as fractions of body height from Winter's
#: anthropometric table (Biomechanics and Motor Control of Human Movement, 4th ed., Fig. 4.1):
#: lower leg 0.246, ankle height 0.039, ankle to toes ~0.115 forward; forearm 0.146, hand 0.108.
END_SITES = {
    "ankle": (0.0, -0.039 / 0.246, 0.115 / 0.246),        # forward and down to the toes
    "wrist": (0.108 / 0.146, 0.0, 0.0),                    # on along the forearm (+X: the left side)
}
_END_NAMES = {"ankle": "toes", "wrist": "hand"}


@dataclass(frozen=True)
class _BvhJoint:
    """One joint of the exported hierarchy.

    name: BVH joint name. parent: BVH joint name (None for the root). site: the H36M-17 joint it
    stands on (an extremity's End Site: the joint it extends). bone: the H36M-17 joint whose
    parent->joint bone gives the offset (None: zero offset). rotation: ("aim", target) turns the
    rest direction of the bone site->target onto it; ("frame", up_from, up_to, left_from, left_to)
    builds a body frame; ("fixed",) is 0 in every frame; None for an End Site. extremity: for the
    End Site beyond an ankle or wrist, the :data:`END_SITES` key whose offset (times the length of
    ``bone``) it has.
    """

    name: str
    parent: str | None
    site: str
    bone: str | None
    rotation: tuple | None
    extremity: str | None = None


def _limb(side: str, base: str, first: str, second: str, third: str) -> list[_BvhJoint]:
    """branch -> first -> second -> third -> End Site (toes or hand) for one leg or arm."""
    branch = f"{base}_to_{side}_{first}"
    return [
        _BvhJoint(branch, base, base, None, ("aim", f"{side}_{first}")),
        _BvhJoint(f"{side}_{first}", branch, f"{side}_{first}", f"{side}_{first}", ("aim", f"{side}_{second}")),
        _BvhJoint(f"{side}_{second}", f"{side}_{first}", f"{side}_{second}", f"{side}_{second}",
                  ("aim", f"{side}_{third}")),
        _BvhJoint(f"{side}_{third}", f"{side}_{second}", f"{side}_{third}", f"{side}_{third}", ("fixed",)),
        _BvhJoint(f"{side}_{_END_NAMES[third]}_End", f"{side}_{third}", f"{side}_{third}", f"{side}_{third}", None,
                  extremity=third),
    ]


#: The exported hierarchy, depth first (parents before children, each subtree after its joint).
BVH_JOINTS: tuple[_BvhJoint, ...] = tuple(
    [_BvhJoint("pelvis", None, "pelvis", None, ("frame", "pelvis", "spine", "r_hip", "l_hip"))]
    + _limb("r", "pelvis", "hip", "knee", "ankle")
    + _limb("l", "pelvis", "hip", "knee", "ankle")
    + [
        _BvhJoint("spine", "pelvis", "spine", "spine", ("aim", "thorax")),
        _BvhJoint("thorax", "spine", "thorax", "thorax", ("frame", "thorax", "neck", "r_shoulder", "l_shoulder")),
        _BvhJoint("neck", "thorax", "neck", "neck", ("aim", "head")),
        _BvhJoint("neck_End", "neck", "head", "head", None),
    ]
    + _limb("l", "thorax", "shoulder", "elbow", "wrist")
    + _limb("r", "thorax", "shoulder", "elbow", "wrist")
)


# ----------------------------------------------------------------------------------------------
# Bone lengths and fixed-length poses


def _check_h36m_poses(poses_mm: np.ndarray, name: str = "poses_3d") -> np.ndarray:
    poses_mm = np.asarray(poses_mm, dtype=np.float64)
    if poses_mm.ndim != 3 or poses_mm.shape[1:] != (H36M17.num_joints, 3):
        raise ShapeError(f"{name}: expected shape (T, 17, 3) in the h36m17 layout, got {poses_mm.shape}")
    if len(poses_mm) == 0:
        raise ShapeError(f"{name}: has no frames")
    return poses_mm


def median_bone_lengths(poses_mm: np.ndarray) -> np.ndarray:
    """Median over frames of every H36M-17 bone length.

    Args:
        poses_mm: (T, 17, 3) mm, any frame; NaN frames are ignored.
    Returns:
        (17,) mm, entry j the length of the bone parent(j) -> j (0 for the root).
    Raises:
        ShapeError: a bone that is never seen.
    """
    poses_mm = _check_h36m_poses(poses_mm)
    parents = np.array(H36M17.parents)
    children = np.flatnonzero(parents >= 0)
    lengths = np.zeros(H36M17.num_joints)
    bone_lengths = np.linalg.norm(poses_mm[:, children] - poses_mm[:, parents[children]], axis=-1)  # (T, 16)
    seen = np.isfinite(bone_lengths).any(0)
    if not seen.all():
        missing = [H36M17.joint_names[children[index]] for index in np.flatnonzero(~seen)]
        raise ShapeError(f"poses_3d: the bone(s) to {', '.join(missing)} are missing in every frame")
    lengths[children] = np.nanmedian(bone_lengths, axis=0)
    return lengths


def skeleton_bone_lengths(poses_mm: np.ndarray) -> np.ndarray:
    """The clip's one skeleton: every bone's median length over frames (:func:`median_bone_lengths`),
    a left bone and its right mirror both given the mean of their two medians.

    This is the skeleton of every output: the poses of ``poselift lift`` and ``poselift video`` are
    fitted to it (:func:`fixed_length_positions`, unless ``--free-bones``) and the BVH plays it, so the
    joints of the CSV, TRC, C3D, npz and json files are the BVH's joints.

    Args:
        poses_mm: (T, 17, 3) mm, H36M-17, any frame; NaN frames are ignored.
    Returns:
        (17,) mm, entry j the length of the bone parent(j) -> j (0 for the root); left and right equal.
    Raises:
        ShapeError: a bone that is never seen.
    """
    lengths = median_bone_lengths(poses_mm)
    left, right = np.array(H36M17.left_right).T
    lengths[left] = lengths[right] = 0.5 * (lengths[left] + lengths[right])
    return lengths


def fixed_length_positions(poses_mm: np.ndarray, bone_lengths_mm: np.ndarray) -> np.ndarray:
    """The poses with every bone set to a fixed length, keeping each bone's direction and the root.

    Args:
        poses_mm: (T, 17, 3) mm, H36M-17; a NaN frame stays NaN. bone_lengths_mm: (17,) as
            :func:`skeleton_bone_lengths`.
    Returns:
        (T, 17, 3) mm: ``out[root] = poses[root]`` and, parents first,
        ``out[j] = out[parent] + length[j] * unit(poses[j] - out[parent])``: each bone points from
        its (already placed) parent at the lifted joint, so errors do not add up along a limb and
        each joint is off by its own bone's length change only. This is what the exported BVH plays.
    """
    poses_mm = _check_h36m_poses(poses_mm)
    fixed = poses_mm.copy()
    for joint, parent in enumerate(H36M17.parents):  # parents come first: a loop over the 16 bones
        if parent < 0:
            continue
        towards_lifted_joint = poses_mm[:, joint] - fixed[:, parent]
        fixed[:, joint] = fixed[:, parent] + bone_lengths_mm[joint] * unit_vectors(towards_lifted_joint)
    return fixed


# ----------------------------------------------------------------------------------------------
# Rotations from positions


def _body_frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations whose columns are (left, up, forward) in the data's frame.

    ``up`` is kept exactly (unit); ``left`` is made perpendicular to it; forward = left x up.
    This maps the rest axes (+X left, +Y up, +Z forward) onto the body.
    """
    up = unit_vectors(up)
    left = left - np.sum(left * up, axis=-1, keepdims=True) * up
    left = np.where(np.linalg.norm(left, axis=-1, keepdims=True) > 1e-9, unit_vectors(left), any_perpendicular(up))
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def _solve_rotations(poses_mm: np.ndarray) -> dict[str, np.ndarray]:
    """Local rotation (T, 3, 3) of every BVH joint that has one, from (T, 17, 3) Y-up positions."""
    index = {name: H36M17.index(name) for name in H36M17.joint_names}
    global_rotation: dict[str, np.ndarray] = {}
    local_rotation: dict[str, np.ndarray] = {}
    for joint in BVH_JOINTS:  # parents first: a loop over the joints, all frames at once
        if joint.rotation is None:
            continue
        parent_rotation = global_rotation.get(joint.parent)
        if joint.rotation[0] == "fixed":
            local = np.broadcast_to(np.eye(3), parent_rotation.shape).copy()
            rotation = parent_rotation
        elif joint.rotation[0] == "frame":
            _, up_from, up_to, left_from, left_to = joint.rotation
            rotation = _body_frame(poses_mm[:, index[up_to]] - poses_mm[:, index[up_from]],
                                   poses_mm[:, index[left_to]] - poses_mm[:, index[left_from]])
            local = rotation if parent_rotation is None else parent_rotation.swapaxes(-1, -2) @ rotation
        else:
            target = joint.rotation[1]
            bone_world = poses_mm[:, index[target]] - poses_mm[:, index[joint.site]]
            bone_in_parent = np.einsum("tji,tj->ti", parent_rotation, bone_world)  # parent^T @ bone
            local = rotation_between(np.array(REST_DIRECTIONS[target]), bone_in_parent)
            rotation = parent_rotation @ local
        global_rotation[joint.name] = rotation
        local_rotation[joint.name] = local
    return local_rotation


def _euler_degrees(rotations: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 3) degrees for the channels ``Zrotation Xrotation Yrotation``."""
    from scipy.spatial.transform import Rotation

    with warnings.catch_warnings():  # gimbal lock: the angles still give the same matrix
        warnings.simplefilter("ignore", UserWarning)
        return Rotation.from_matrix(rotations).as_euler(_EULER_ORDER, degrees=True)


def poses_to_bvh(positions_mm: np.ndarray, fps: float, bone_lengths_mm: np.ndarray | None = None) -> BvhMotion:
    """A BVH motion that plays the given poses on a fixed skeleton.

    Args:
        positions_mm: (T, 17, 3) mm, H36M-17, BVH frame (Y up, facing +Z, left +X), all finite.
        fps: frames per second (> 0).
        bone_lengths_mm: (17,) fixed bone lengths; default :func:`skeleton_bone_lengths`.
    Returns:
        A :class:`~poselift.io.bvh.BvhMotion` (hierarchy :data:`BVH_JOINTS`); its forward
        kinematics give ``fixed_length_positions(positions_mm, bone_lengths_mm)``: the input
        itself when its bones have those lengths.
    """
    positions_mm = _check_h36m_poses(positions_mm, "positions_mm")
    if not np.isfinite(positions_mm).all():
        raise ShapeError("positions_mm: a BVH cannot hold missing joints; fill NaN frames first")
    if not (fps and np.isfinite(fps) and fps > 0):
        raise ShapeError(f"fps: expected a positive number of frames per second, got {fps}")
    lengths = skeleton_bone_lengths(positions_mm) if bone_lengths_mm is None else np.asarray(bone_lengths_mm)
    positions_mm = fixed_length_positions(positions_mm, lengths)
    local_rotation = _solve_rotations(positions_mm)

    names = tuple(joint.name for joint in BVH_JOINTS)
    parents = tuple(-1 if joint.parent is None else names.index(joint.parent) for joint in BVH_JOINTS)
    offsets = np.zeros((len(BVH_JOINTS), 3))
    channels, columns = [], []
    for number, joint in enumerate(BVH_JOINTS):
        if joint.extremity is not None:
            offsets[number] = lengths[H36M17.index(joint.bone)] * np.array(END_SITES[joint.extremity])
            if joint.site.startswith("r_"):
                offsets[number, 0] *= -1.0                                   # the right side is -X
        elif joint.bone is not None:
            offsets[number] = lengths[H36M17.index(joint.bone)] * np.array(REST_DIRECTIONS[joint.bone])
        if joint.parent is None:
            channels.append(ROOT_CHANNELS)
            columns += [positions_mm[:, H36M17.index(joint.site)], _euler_degrees(local_rotation[joint.name])]
        elif joint.rotation is not None:
            channels.append(ROTATION_CHANNELS)
            columns.append(_euler_degrees(local_rotation[joint.name]))
        else:
            channels.append(())
    return BvhMotion(joint_names=names, parents=parents, offsets=offsets, channels=tuple(channels),
                     frame_time_s=1.0 / float(fps), motion=np.concatenate(columns, axis=1))


def bvh_h36m_positions(motion: BvhMotion) -> np.ndarray:
    """Forward kinematics of an exported BVH back to H36M-17 positions.

    Returns:
        (T, 17, 3) in the file's units and frame, in H36M-17 order (the neck's End Site gives the
        head; the toes' and hands' End Sites are not H36M-17 joints).
    """
    positions, _ = bvh_forward_kinematics(motion)
    number_of = {name: number for number, name in enumerate(motion.joint_names)}
    standing_on = {joint.site: joint.name for joint in BVH_JOINTS
                   if (joint.bone == joint.site and joint.extremity is None) or joint.parent is None}
    missing = [name for name in H36M17.joint_names if standing_on.get(name) not in number_of]
    if missing:
        raise ShapeError(f"BVH: not a poselift export, no joint for {', '.join(missing)}")
    return positions[:, [number_of[standing_on[name]] for name in H36M17.joint_names]]


# ----------------------------------------------------------------------------------------------
# From lifted poses to files


UP_AXES = ("y", "z")
# y-up (x, y, z) -> z-up (x, -z, y): a proper rotation (a quarter turn about x)
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def floor_height(poses_y_up: np.ndarray, ankles: list[int]) -> float:
    """The clip's floor for ``(T, J, 3)`` y-up poses without one: the median over frames of the lowest
    of the ``ankles`` joints (0 when none is ever seen)."""
    heights = poses_y_up[:, ankles, 1]
    lowest = np.nanmin(np.where(np.isfinite(heights), heights, np.inf), axis=1)
    return float(np.median(lowest[np.isfinite(lowest)])) if np.isfinite(lowest).any() else 0.0


def world_positions(poses_mm: np.ndarray, frame: str, up: str = "y", world_up: str | None = None) -> np.ndarray:
    """H36M-17 poses in an export world frame with ``up`` ("y": BVH, OpenSim; "z": Blender, most C3D).

    ``frame`` is the poses' own: "camera" (x right, y down, z forward; a half turn about x makes it
    y-up with the person facing +z when they face the camera) or "canonical" (V-VIPE's: x forward,
    y left, z up): both have no floor, so the poses are moved up until the clip's median lowest ankle
    is at height 0, and, when they carry the root's path (camera-frame poses placed by
    :func:`poselift.pipeline.root_trajectory`), along the floor until the root's median position is
    above the origin. "world" (with its own floor: triangulation, converted motion capture; up along
    ``world_up``, :attr:`poselift.io.records.Poses3D.up`, z when None) is only turned. Returns
    (T, 17, 3) mm, a new array.
    """
    poses = _check_h36m_poses(poses_mm)
    if frame not in ("camera", "canonical", "world"):
        raise PoseliftError(f"cannot export poses in frame {frame!r} (camera, canonical or world)")
    if up not in UP_AXES:
        raise PoseliftError(f"up axis must be one of {', '.join(UP_AXES)}, got {up!r}")
    if frame == "camera":
        y_up = poses * np.array([1.0, -1.0, -1.0])
    elif frame == "world" and world_up == "y":
        y_up = poses.copy()
    else:
        y_up = poses @ _Y_UP_TO_Z_UP                       # z-up -> y-up: the inverse (transpose) rotation
    if frame != "world":
        root = y_up[:, H36M17.root_index]
        centre = np.nanmedian(root, axis=0) if np.isfinite(root).any() else np.zeros(3)
        floor = floor_height(y_up, [H36M17.index("l_ankle"), H36M17.index("r_ankle")])
        y_up = y_up - np.array([centre[0], floor, centre[2]])
    return y_up if up == "y" else y_up @ _Y_UP_TO_Z_UP.T


def camera_to_bvh_frame(poses_cam_mm: np.ndarray) -> np.ndarray:
    """Camera-frame poses -> the BVH frame (Y up, feet on the floor): :func:`world_positions` with up "y"."""
    return world_positions(poses_cam_mm, "camera", "y")


def fill_missing_frames(poses_mm: np.ndarray) -> tuple[np.ndarray, int]:
    """Frames with a missing joint replaced by interpolation between complete frames.

    Args:
        poses_mm: (T, J, 3). Returns: ``(filled (T, J, 3), number of frames filled)``; frames before
        the first (after the last) complete frame repeat it.
    Raises:
        ShapeError: no complete frame at all.
    """
    complete = np.isfinite(poses_mm).all(axis=(1, 2))
    if not complete.any():
        raise ShapeError("poses_3d: no frame has all joints; nothing to export")
    frames = np.arange(len(poses_mm))
    filled = np.array(poses_mm, dtype=np.float64)
    filled_flat = filled.reshape(len(filled), -1)  # a view: writing it fills ``filled``
    for column in range(filled_flat.shape[1]):  # a loop over the J*3 coordinates, all frames at once
        filled_flat[~complete, column] = np.interp(frames[~complete], frames[complete],
                                                   filled_flat[complete, column])
    return filled, int((~complete).sum())


@dataclass
class BvhExportReport:
    frames: int
    frames_filled: int
    mean_distance_mm: float  # exported skeleton vs the lifted joints (bone-length jitter)
    max_distance_mm: float
    unit: str = "m"

    def summary(self) -> str:
        filled = f", {count(self.frames_filled, 'frame')} without a full pose interpolated" if self.frames_filled else ""
        return (f"BVH ({self.unit}, Y up): {count(self.frames, 'frame')} on the clip's skeleton (median bone "
                f"lengths, left and right alike){filled}; its joints are {self.mean_distance_mm:.1f} mm "
                f"(max {self.max_distance_mm:.1f} mm) from the poses")


BVH_UNITS_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}


def export_bvh(path: str | os.PathLike, poses: Poses3D, unit: str = "m",
               bone_lengths_mm: np.ndarray | None = None) -> BvhExportReport:
    """Write H36M-17 poses as a BVH file (see the module doc), atomically.

    Args:
        path: output ``.bvh``. poses: layout h36m17, mm, in the camera frame (root-relative: the root
            stays at the origin), V-VIPE's canonical frame, or a world frame with Z up (the triangulated
            poses of several views: the root's trajectory is kept, in the root's position channels);
            fps 30 when None. Frames with missing joints are interpolated.
        unit: the file's length unit, "m" (default: Blender's importer reads it at its default scale
            1), "cm" (many game rigs) or "mm".
        bone_lengths_mm: (17,) mm, the skeleton; default :func:`skeleton_bone_lengths` of ``poses``
            (poses already fitted to a skeleton give that skeleton back, to rounding).
    Returns:
        A report with the distance (mm) between the exported skeleton's joints and ``poses``.
    """
    if poses.layout != "h36m17" or poses.frame not in ("camera", "canonical", "world"):
        raise PoseliftError(f"{path}: BVH export takes h36m17 poses in the camera, canonical or world frame, got "
                            f"layout {poses.layout!r}, frame {poses.frame!r}")
    if unit not in BVH_UNITS_MM:
        raise PoseliftError(f"{path}: BVH unit must be one of {', '.join(BVH_UNITS_MM)}, got {unit!r}")
    filled, frames_filled = fill_missing_frames(np.asarray(poses.poses_3d, dtype=np.float64))
    positions = world_positions(filled, poses.frame, "y", poses.up)
    lengths = skeleton_bone_lengths(positions) if bone_lengths_mm is None else np.asarray(bone_lengths_mm, np.float64)
    motion = poses_to_bvh(positions, poses.fps or 30.0, lengths)
    scale = 1.0 / BVH_UNITS_MM[unit]
    channels = motion.motion.copy()
    channels[:, :3] *= scale                             # the root's position channels come first
    write_bvh(path, BvhMotion(motion.joint_names, motion.parents, motion.offsets * scale, motion.channels,
                              motion.frame_time_s, channels))
    played = fixed_length_positions(positions, lengths)
    distance = np.linalg.norm(played - positions, axis=-1)
    return BvhExportReport(len(positions), frames_filled, float(distance.mean()), float(distance.max()), unit)


def format_csv(poses: Poses3D, up: str | None = None) -> str:
    """CSV text of ``poses``: frame, time_s, then x, y, z (mm) of every joint; NaN -> empty field
    (and time_s empty without a frame rate). ``up`` ("y" or "z"): in that world frame
    (:func:`world_positions`), None: in the poses' own frame. Rows are formatted by ``numpy.savetxt``."""
    header = ["frame", "time_s"] + [f"{name}_{axis}_mm" for name in poses.joint_names for axis in "xyz"]
    positions = poses.poses_3d if up is None else world_positions(poses.poses_3d, poses.frame, up, poses.up)
    values = np.asarray(positions, dtype=np.float64).reshape(poses.num_frames, -1)
    frames = np.arange(poses.num_frames)
    times = frames / poses.fps if poses.fps else np.full(poses.num_frames, np.nan)
    buffer = io.StringIO()
    buffer.write(",".join(header) + "\n")
    np.savetxt(buffer, np.column_stack([frames, times, values]), fmt=["%d", "%.6f"] + ["%.2f"] * values.shape[1],
               delimiter=",")
    return buffer.getvalue().replace("nan", "")


def write_csv(path: str | os.PathLike, poses: Poses3D, up: str | None = None) -> Path:
    """Write :func:`format_csv` of ``poses`` to ``path``, atomically."""
    write_text_atomic(path, format_csv(poses, up))
    return Path(path)


def marker_trajectories(poses: Poses3D, up: str = "y") -> MarkerTrajectories:
    """The joints of H36M-17 poses as markers named after them, in the ``up`` world frame, mm."""
    if poses.layout != "h36m17":
        raise PoseliftError(f"marker export takes h36m17 poses, got layout {poses.layout!r}")
    return MarkerTrajectories(tuple(poses.joint_names), world_positions(poses.poses_3d, poses.frame, up, poses.up),
                              float(poses.fps or 30.0), "mm")


def export_trc(path: str | os.PathLike, poses: Poses3D, up: str = "y") -> Path:
    """The joints as an OpenSim TRC marker file (:mod:`poselift.io.trc`), in the ``up`` world frame, mm."""
    return write_trc(path, marker_trajectories(poses, up))


def export_c3d(path: str | os.PathLike, poses: Poses3D, up: str = "y") -> Path:
    """The joints as C3D points (:mod:`poselift.io.c3d`, needs ezc3d), in the ``up`` world frame, mm."""
    return write_c3d(path, marker_trajectories(poses, up))
