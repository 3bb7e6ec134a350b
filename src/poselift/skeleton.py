"""Keypoint layouts and converters to the Human3.6M 17-joint layout.

A :class:`Layout` is a small frozen object: joint names, a parent per joint (for drawing and
kinematics) and left/right pairs (for flipping). Converters are *data*: every H36M-17 joint is a
weighted sum of source joints (a copy is weight 1, a midpoint is 0.5 + 0.5), written as rules below
and resolved once into a ``(17, J_source)`` weight matrix, so converting a whole video is one
matrix product.

Derived joints follow ``shared/benchmark.md`` so that 2D converters and the 3D benchmark agree:
pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax), neck = mid(thorax, head).
Layouts without a head-top keypoint (COCO, OpenPose, MediaPipe) extrapolate it from the ears:
head = mid(ears) + 0.5 * (mid(ears) - thorax), i.e. half the thorax-to-ear distance above the ears.

A derived joint's confidence is the minimum of its sources' confidences. A joint whose sources are
missing (NaN) stays NaN with confidence 0: nothing is invented silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import torch

from poselift.errors import LayoutError, ShapeError


@dataclass(frozen=True)
class Layout:
    """A keypoint layout.

    Attributes:
        name: short identifier, e.g. ``"h36m17"``.
        joint_names: one name per joint, in storage order.
        parents: index of each joint's parent (-1 for a root); used for drawing and kinematics.
        left_right: pairs ``(left_index, right_index)`` of mirrored joints.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    left_right: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self):
        if len(self.joint_names) != len(self.parents):
            raise ValueError(f"layout {self.name}: {len(self.joint_names)} names but {len(self.parents)} parents")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def root_index(self) -> int:
        """Index of the layout's root joint (the first without a parent; H36M-17: the pelvis), the joint
        that root-relative poses put at the origin."""
        return self.parents.index(-1)

    def index(self, joint_name: str) -> int:
        """Index of ``joint_name``; :class:`LayoutError` naming the layout if it has no such joint."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise LayoutError(f"layout {self.name!r} has no joint {joint_name!r}") from None

    @property
    def flip_permutation(self) -> np.ndarray:
        """(J,) int: the joint order after a left/right mirror (``pose[..., perm, :]``)."""
        permutation = np.arange(self.num_joints)
        for left, right in self.left_right:
            permutation[left], permutation[right] = right, left
        return permutation

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) index pairs, for drawing."""
        return [(parent, child) for child, parent in enumerate(self.parents) if parent >= 0]

    def side_of(self, joint_index: int) -> str:
        """``"left"``, ``"right"`` or ``"centre"``, for colouring."""
        for left, right in self.left_right:
            if joint_index == left:
                return "left"
            if joint_index == right:
                return "right"
        return "centre"


def _pairs_by_prefix(names: Sequence[str], left_prefix: str, right_prefix: str) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, name in enumerate(names):
        if name.startswith(left_prefix):
            mirrored = right_prefix + name[len(left_prefix):]
            if mirrored in names:
                pairs.append((i, names.index(mirrored)))
    return tuple(pairs)


def _layout(name: str, joints_and_parents: Sequence[tuple[str, str | None]], left: str, right: str) -> Layout:
    """Build a layout from ``(joint, parent_name)`` pairs; left/right pairs from name prefixes."""
    names = tuple(joint for joint, _ in joints_and_parents)
    parents = tuple(-1 if parent is None else names.index(parent) for _, parent in joints_and_parents)
    return Layout(name, names, parents, _pairs_by_prefix(names, left, right))


H36M17 = _layout("h36m17", [
    ("pelvis", None), ("r_hip", "pelvis"), ("r_knee", "r_hip"), ("r_ankle", "r_knee"),
    ("l_hip", "pelvis"), ("l_knee", "l_hip"), ("l_ankle", "l_knee"), ("spine", "pelvis"),
    ("thorax", "spine"), ("neck", "thorax"), ("head", "neck"), ("l_shoulder", "thorax"),
    ("l_elbow", "l_shoulder"), ("l_wrist", "l_elbow"), ("r_shoulder", "thorax"),
    ("r_elbow", "r_shoulder"), ("r_wrist", "r_elbow"),
], "l_", "r_")

# The 32 joints of the Human3.6M mocap files (Martinez h5, VideoPose3D data_3d). The 17 standard
# joints carry their usual names; the others (toes, duplicated spine/hand points) are named by place.
H36M32 = _layout("h36m32", [
    ("pelvis", None), ("r_hip", "pelvis"), ("r_knee", "r_hip"), ("r_ankle", "r_knee"),
    ("r_toe_base", "r_ankle"), ("r_toe_end", "r_toe_base"),
    ("l_hip", "pelvis"), ("l_knee", "l_hip"), ("l_ankle", "l_knee"),
    ("l_toe_base", "l_ankle"), ("l_toe_end", "l_toe_base"),
    ("spine_base", "pelvis"), ("spine", "spine_base"), ("thorax", "spine"), ("neck", "thorax"), ("head", "neck"),
    ("l_shoulder_anchor", "spine"), ("l_shoulder", "l_shoulder_anchor"), ("l_elbow", "l_shoulder"),
    ("l_wrist", "l_elbow"), ("l_hand", "l_wrist"), ("l_hand_end", "l_hand"), ("l_thumb", "l_wrist"),
    ("l_thumb_end", "l_thumb"),
    ("r_shoulder_anchor", "spine"), ("r_shoulder", "r_shoulder_anchor"), ("r_elbow", "r_shoulder"),
    ("r_wrist", "r_elbow"), ("r_hand", "r_wrist"), ("r_hand_end", "r_hand"), ("r_thumb", "r_wrist"),
    ("r_thumb_end", "r_thumb"),
], "l_", "r_")

COCO17 = _layout("coco17", [
    ("nose", None), ("left_eye", "nose"), ("right_eye", "nose"), ("left_ear", "left_eye"),
    ("right_ear", "right_eye"), ("left_shoulder", "nose"), ("right_shoulder", "nose"),
    ("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"),
    ("right_wrist", "right_elbow"), ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"),
    ("left_knee", "left_hip"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
    ("right_ankle", "right_knee"),
], "left_", "right_")

OPENPOSE25 = _layout("openpose25", [
    ("Nose", "Neck"), ("Neck", "MidHip"), ("RShoulder", "Neck"), ("RElbow", "RShoulder"), ("RWrist", "RElbow"),
    ("LShoulder", "Neck"), ("LElbow", "LShoulder"), ("LWrist", "LElbow"), ("MidHip", None), ("RHip", "MidHip"),
    ("RKnee", "RHip"), ("RAnkle", "RKnee"), ("LHip", "MidHip"), ("LKnee", "LHip"), ("LAnkle", "LKnee"),
    ("REye", "Nose"), ("LEye", "Nose"), ("REar", "REye"), ("LEar", "LEye"), ("LBigToe", "LAnkle"),
    ("LSmallToe", "LAnkle"), ("LHeel", "LAnkle"), ("RBigToe", "RAnkle"), ("RSmallToe", "RAnkle"),
    ("RHeel", "RAnkle"),
], "L", "R")

MEDIAPIPE33 = _layout("mediapipe33", [
    ("nose", None), ("left_eye_inner", "nose"), ("left_eye", "left_eye_inner"),
    ("left_eye_outer", "left_eye"), ("right_eye_inner", "nose"), ("right_eye", "right_eye_inner"),
    ("right_eye_outer", "right_eye"), ("left_ear", "left_eye_outer"), ("right_ear", "right_eye_outer"),
    ("mouth_left", "nose"), ("mouth_right", "nose"), ("left_shoulder", "nose"), ("right_shoulder", "nose"),
    ("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"),
    ("right_wrist", "right_elbow"), ("left_pinky", "left_wrist"), ("right_pinky", "right_wrist"),
    ("left_index", "left_wrist"), ("right_index", "right_wrist"), ("left_thumb", "left_wrist"),
    ("right_thumb", "right_wrist"), ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"),
    ("left_knee", "left_hip"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
    ("right_ankle", "right_knee"), ("left_heel", "left_ankle"), ("right_heel", "right_ankle"),
    ("left_foot_index", "left_ankle"), ("right_foot_index", "right_ankle"),
], "left_", "right_")
# MediaPipe names its mouth corners mouth_left / mouth_right: pair them too.
MEDIAPIPE33 = Layout(MEDIAPIPE33.name, MEDIAPIPE33.joint_names, MEDIAPIPE33.parents,
                     MEDIAPIPE33.left_right + ((9, 10),))

# The 16 MPII joints of Stacked-Hourglass detections (Martinez et al.'s h5 files).
SH16 = _layout("sh16", [
    ("r_ankle", "r_knee"), ("r_knee", "r_hip"), ("r_hip", "pelvis"), ("l_hip", "pelvis"), ("l_knee", "l_hip"),
    ("l_ankle", "l_knee"), ("pelvis", None), ("thorax", "pelvis"), ("upper_neck", "thorax"),
    ("head_top", "upper_neck"), ("r_wrist", "r_elbow"), ("r_elbow", "r_shoulder"), ("r_shoulder", "thorax"),
    ("l_shoulder", "thorax"), ("l_elbow", "l_shoulder"), ("l_wrist", "l_elbow"),
], "l_", "r_")

LAYOUTS: Mapping[str, Layout] = {layout.name: layout for layout in (H36M17, H36M32, COCO17, OPENPOSE25, MEDIAPIPE33, SH16)}
LAYOUT_NAMES = tuple(LAYOUTS)

# The 13 joints that motion-capture skeletons define anatomically (the benchmark builder picks them
# from each source); the other four H36M-17 joints are derived by the same rules as for 2D layouts.
MOCAP13 = Layout("mocap13", ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "head", "l_shoulder",
                             "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"),
                 (-1, 0, 1, -1, 3, 4, -1, -1, 7, 8, -1, 10, 11), ((3, 0), (4, 1), (5, 2), (7, 10), (8, 11), (9, 12)))
_ALL_LAYOUTS = {**LAYOUTS, MOCAP13.name: MOCAP13}


def get_layout(name: str | Layout) -> Layout:
    """The layout called ``name`` (a :class:`Layout` is returned as is)."""
    if isinstance(name, Layout):
        return name
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown keypoint layout {name!r}; known layouts: {', '.join(LAYOUT_NAMES)}") from None


# --- Converters to H36M-17 -------------------------------------------------------------------
# Each H36M-17 joint: a list of (joint, weight). A joint name refers to the source layout, or to an
# H36M-17 joint defined earlier in the same rule list (derived joints build on each other).
_MID = 0.5
_TORSO_RULES = {
    "pelvis": [("r_hip", _MID), ("l_hip", _MID)],
    "thorax": [("r_shoulder", _MID), ("l_shoulder", _MID)],
    "spine": [("pelvis", _MID), ("thorax", _MID)],
    "neck": [("thorax", _MID), ("head", _MID)],
}


def _rules_from_names(source_names: Mapping[str, str], head_rule: list[tuple[str, float]]) -> dict:
    """Rules for a layout whose limbs map one to one (``source_names``: H36M name -> source name)."""
    rules = {h36m_name: [(source_name, 1.0)] for h36m_name, source_name in source_names.items()}
    rules["head"] = head_rule
    rules.update(_TORSO_RULES)
    return rules


def _head_from_ears(left_ear: str, right_ear: str) -> list[tuple[str, float]]:
    # head top = ears midpoint + 0.5 (ears midpoint - thorax) = 0.75 (l_ear + r_ear) - 0.5 thorax
    return [(left_ear, 0.75), (right_ear, 0.75), ("thorax", -0.5)]


_LIMBS_COCO_STYLE = {
    "r_hip": "right_hip", "r_knee": "right_knee", "r_ankle": "right_ankle",
    "l_hip": "left_hip", "l_knee": "left_knee", "l_ankle": "left_ankle",
    "l_shoulder": "left_shoulder", "l_elbow": "left_elbow", "l_wrist": "left_wrist",
    "r_shoulder": "right_shoulder", "r_elbow": "right_elbow", "r_wrist": "right_wrist",
}
_LIMBS_OPENPOSE = {
    "r_hip": "RHip", "r_knee": "RKnee", "r_ankle": "RAnkle", "l_hip": "LHip", "l_knee": "LKnee",
    "l_ankle": "LAnkle", "l_shoulder": "LShoulder", "l_elbow": "LElbow", "l_wrist": "LWrist",
    "r_shoulder": "RShoulder", "r_elbow": "RElbow", "r_wrist": "RWrist",
}

CONVERSION_RULES: Mapping[str, dict] = {
    "h36m17": {name: [(name, 1.0)] for name in H36M17.joint_names},
    "h36m32": {name: [(name, 1.0)] for name in H36M17.joint_names},
    "coco17": _rules_from_names(_LIMBS_COCO_STYLE, _head_from_ears("left_ear", "right_ear")),
    "mediapipe33": _rules_from_names(_LIMBS_COCO_STYLE, _head_from_ears("left_ear", "right_ear")),
    "openpose25": _rules_from_names(_LIMBS_OPENPOSE, _head_from_ears("LEar", "REar")),
    "sh16": _rules_from_names({name: name for name in _LIMBS_COCO_STYLE}, [("head_top", 1.0)]),
    "mocap13": _rules_from_names({name: name for name in MOCAP13.joint_names if name != "head"}, [("head", 1.0)]),
}


@lru_cache(maxsize=None)
def conversion_matrix(source: str) -> np.ndarray:
    """(17, J_source) float64 weights: ``h36m17 = W @ source`` for layout ``source``."""
    layout = _ALL_LAYOUTS.get(source) or get_layout(source)
    if source not in CONVERSION_RULES:
        raise LayoutError(f"no converter from layout {source!r} to h36m17")
    rules = CONVERSION_RULES[source]
    resolved: dict[str, np.ndarray] = {}

    def weights_of(name: str) -> np.ndarray:
        if name in resolved:
            return resolved[name]
        if name in rules and not (len(rules[name]) == 1 and rules[name][0][0] == name):
            row = sum(weight * weights_of(part) for part, weight in rules[name])
        else:
            row = np.zeros(layout.num_joints)
            row[layout.index(name)] = 1.0
        resolved[name] = row
        return row

    return np.stack([weights_of(name) for name in H36M17.joint_names])


def to_h36m17(keypoints, confidence=None, layout: str | Layout = "h36m17"):
    """Convert keypoints of ``layout`` to the H36M-17 layout.

    Args:
        keypoints: (..., J, D) array or tensor (D = 2 pixels or 3 mm); NaN marks a missing joint.
        confidence: (..., J) in [0, 1], or None (all ones).
        layout: source layout name.

    Returns:
        ``(keypoints (..., 17, D), confidence (..., 17))`` of the input's type. A derived joint's
        confidence is the minimum over its sources; if any source is NaN the joint is NaN with
        confidence 0.
    """
    layout = layout if isinstance(layout, Layout) else _ALL_LAYOUTS.get(layout) or get_layout(layout)
    if keypoints.shape[-2] != layout.num_joints:
        raise ShapeError(
            f"keypoints have {keypoints.shape[-2]} joints (shape {tuple(keypoints.shape)}) "
            f"but layout {layout.name!r} has {layout.num_joints}")
    is_torch = isinstance(keypoints, torch.Tensor)
    xp_keypoints = keypoints if is_torch else torch.from_numpy(np.asarray(keypoints))
    dtype = xp_keypoints.dtype if xp_keypoints.is_floating_point() else torch.float64
    xp_keypoints = xp_keypoints.to(dtype)
    if confidence is None:
        xp_confidence = torch.ones(xp_keypoints.shape[:-1], dtype=dtype, device=xp_keypoints.device)
    else:
        xp_confidence = (confidence if isinstance(confidence, torch.Tensor) else torch.from_numpy(np.asarray(confidence)))
        xp_confidence = xp_confidence.to(dtype=dtype, device=xp_keypoints.device)
        if xp_confidence.shape != xp_keypoints.shape[:-1]:
            raise ShapeError(f"confidence has shape {tuple(xp_confidence.shape)}, expected {tuple(xp_keypoints.shape[:-1])}")

    weights = torch.as_tensor(conversion_matrix(layout.name), dtype=dtype, device=xp_keypoints.device)
    uses = weights != 0                                                   # (17, J)
    missing = torch.isnan(xp_keypoints).any(-1)                           # (..., J)
    converted = torch.einsum("oj,...jd->...od", weights, torch.nan_to_num(xp_keypoints))
    any_missing = (missing.unsqueeze(-2) & uses).any(-1)                  # (..., 17)
    masked_confidence = torch.where(uses, xp_confidence.unsqueeze(-2), torch.full_like(weights, torch.inf))
    converted_confidence = masked_confidence.amin(-1)
    converted = converted.masked_fill(any_missing.unsqueeze(-1), float("nan"))
    converted_confidence = converted_confidence.masked_fill(any_missing, 0.0)
    if is_torch:
        return converted, converted_confidence
    return converted.numpy(), converted_confidence.numpy()
