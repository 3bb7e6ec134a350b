"""Acclaim skeleton (ASF) and motion (AMC) files: read and forward kinematics.

ASF describes a skeleton: units, the root, and per bone a rest ``direction`` (unit vector in the
world frame), a ``length``, a local coordinate system ``axis a1 a2 a3 ORDER`` and the rotational
degrees of freedom ``dof``; the ``:hierarchy`` section links bones to parents. AMC stores one
block per frame: the frame number, then ``root`` with its values in the ASF root ``order`` and
one line per bone with its dof values.

Conventions used here:

- Units: ``:units length L`` means one ASF length unit is 1/L inch, so
  millimetres = value * 25.4 / L. Angles are degrees unless ``angle rad`` (the AMC keywords
  ``:DEGREES`` / ``:RADIANS`` override the ASF for that motion).
- An order such as ``axis 0 0 20 XYZ`` or ``dof rx ry rz`` lists the angles in that order and
  applies them first to last about fixed axes: ``R = Rz @ Ry @ Rx`` for ``XYZ``.
- Bone global rotation ``G = G_parent @ C @ M @ C^-1`` (column vectors), where C is the bone's
  ``axis`` rotation and M its AMC dof rotation; the bone's distal end is
  ``start + G @ (direction * length)``, with start the distal end of the parent (the root
  position for bones attached to the root). The root uses ``C`` from ``orientation`` and the
  ``axis`` order, and its position is the ASF ``position`` plus the AMC translation.
- Bones with translation or length dof (``tx ty tz l``) are not supported (rare in practice).
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, ShapeError
from poselift.geometry import euler_to_matrix

_ROTATION_DOFS = ("rx", "ry", "rz")
_ROOT_CHANNELS = ("TX", "TY", "TZ", "RX", "RY", "RZ")
MM_PER_INCH = 25.4


@dataclass(frozen=True, eq=False)
class AsfSkeleton:
    """An Acclaim skeleton, values as in the file (lengths in ASF units, angles in ``angle_unit``).

    length_unit_mm: millimetres per ASF length unit (25.4 / L for ``:units length L``).
    angle_unit: ``"deg"`` or ``"rad"``.
    root_order: root channels in AMC order, e.g. ("TX", "TY", "TZ", "RX", "RY", "RZ").
    root_axis: order in which the root rotation applies, e.g. "XYZ".
    root_position: (3,) ASF units; root_orientation: (3,) angles in ``root_axis`` order.
    bone_names: B names in ASF ``:bonedata`` order.
    bone_parents: B parent indices into ``bone_names``, -1 for a bone attached to the root.
    directions: (B, 3) rest direction of each bone, world frame, unit vectors.
    lengths: (B,) ASF length units.
    axes: (B, 3) angles of each bone's local frame, listed in ``axis_orders`` order.
    axis_orders: B strings such as "XYZ".
    dofs: per bone, its rotational dof in AMC order, e.g. ("rx", "rz"); () for a fixed bone.
    """

    name: str
    length_unit_mm: float
    angle_unit: str
    root_order: tuple[str, ...]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    bone_names: tuple[str, ...]
    bone_parents: tuple[int, ...]
    directions: np.ndarray
    lengths: np.ndarray
    axes: np.ndarray
    axis_orders: tuple[str, ...]
    dofs: tuple[tuple[str, ...], ...]

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Names of the points ``asf_forward_kinematics`` returns: "root", then each bone's end."""
        return ("root",) + self.bone_names

    @property
    def joint_parents(self) -> tuple[int, ...]:
        """Parent of each of ``joint_names`` (-1 for the root)."""
        return (-1,) + tuple(parent + 1 for parent in self.bone_parents)


@dataclass(frozen=True, eq=False)
class AmcMotion:
    """An AMC motion for an ``AsfSkeleton``, values as in the file.

    frame_numbers: (T,) int, the number that opens each frame block.
    root_values: (T, len(root_order)) float64, root channels in the ASF root order (ASF length
        units, angles in ``angle_unit``).
    bone_values: bone name -> (T, len(dof)) float64 dof values, for every bone with dof.
    angle_unit: ``"deg"`` or ``"rad"``.
    """

    frame_numbers: np.ndarray
    root_values: np.ndarray
    bone_values: dict[str, np.ndarray]
    angle_unit: str

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return self.frame_numbers.shape[0]


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_bytes().decode("latin-1").splitlines()
    except OSError as error:
        raise FormatError(path, f"cannot read {what} file ({error.strerror or error})") from None


# ---------------------------------------------------------------------------------------------
# ASF


class _AsfParser:
    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.lines = lines
        self.name = ""
        self.length_scale = 1.0
        self.angle_unit = "deg"
        self.root_order: tuple[str, ...] = _ROOT_CHANNELS
        self.root_axis = "XYZ"
        self.root_position = np.zeros(3)
        self.root_orientation = np.zeros(3)
        self.bones: list[dict] = []
        self.children: dict[str, list[tuple[str, int]]] = {}

    def error(self, line_number: int, problem: str) -> FormatError:
        return FormatError(self.path, f"line {line_number}: {problem}")

    def numbers(self, words: list[str], count: int, line_number: int, what: str) -> np.ndarray:
        if len(words) != count:
            raise self.error(line_number, f"{what} needs {count} numbers, got {len(words)}")
        try:
            return np.array([float(word) for word in words], dtype=np.float64)
        except ValueError:
            raise self.error(line_number, f"{what} has a value that is not a number: {' '.join(words)}") from None

    def parse(self) -> None:
        section = None
        bone: dict | None = None
        saw_bonedata = saw_hierarchy = False
        for index, line in enumerate(self.lines):
            line_number = index + 1
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0].startswith(":"):
                section = words[0][1:].lower()
                if section == "name":
                    self.name = " ".join(words[1:])
                elif section == "bonedata":
                    saw_bonedata = True
                elif section == "hierarchy":
                    saw_hierarchy = True
                if section == "units" and len(words) > 1:  # ":units length 0.45" on one line
                    self._parse_unit(words[1:], line_number)
                continue
            if section == "units":
                self._parse_unit(words, line_number)
            elif section == "root":
                self._parse_root(words, line_number)
            elif section == "bonedata":
                bone = self._parse_bone_line(words, line_number, bone)
            elif section == "hierarchy":
                self._parse_hierarchy_line(words, line_number)
        if bone is not None:
            raise self.error(bone["line"], "bone block without 'end'")
        if not saw_bonedata or not self.bones:
            raise FormatError(self.path, "no :bonedata section with bones (not an ASF file?)")
        if not saw_hierarchy:
            raise FormatError(self.path, "no :hierarchy section")

    def _parse_unit(self, words: list[str], line_number: int) -> None:
        key = words[0].lower()
        if key == "length":
            scale = self.numbers(words[1:2], 1, line_number, "units length")[0]
            if scale <= 0:
                raise self.error(line_number, f"units length must be positive, got {scale}")
            self.length_scale = float(scale)
        elif key == "angle":
            unit = words[1].lower() if len(words) > 1 else ""
            if unit not in ("deg", "rad"):
                raise self.error(line_number, f"units angle must be 'deg' or 'rad', got {unit!r}")
            self.angle_unit = unit

    def _parse_root(self, words: list[str], line_number: int) -> None:
        key = words[0].lower()
        if key == "order":
            order = tuple(word.upper() for word in words[1:])
            unknown = [word for word in order if word not in _ROOT_CHANNELS]
            if unknown or len(set(order)) != len(order):
                raise self.error(line_number, f"root order has unknown or repeated channels: {' '.join(words[1:])}")
            self.root_order = order
        elif key == "axis":
            self.root_axis = self._axis_order(words[1:2], line_number, "root axis")
        elif key == "position":
            self.root_position = self.numbers(words[1:], 3, line_number, "root position")
        elif key == "orientation":
            self.root_orientation = self.numbers(words[1:], 3, line_number, "root orientation")

    def _axis_order(self, words: list[str], line_number: int, what: str) -> str:
        order = words[0].upper() if words else ""
        if sorted(order) != ["X", "Y", "Z"]:
            raise self.error(line_number, f"{what} order must be a permutation of XYZ, got {order!r}")
        return order

    def _parse_bone_line(self, words: list[str], line_number: int, bone: dict | None) -> dict | None:
        key = words[0].lower()
        if key == "begin":
            if bone is not None:
                raise self.error(line_number, "'begin' inside a bone block (missing 'end')")
            return {"line": line_number, "dof": ()}
        if bone is None:
            raise self.error(line_number, f"{words[0]!r} outside a begin/end bone block")
        if key == "end":
            for field in ("name", "direction", "length"):
                if field not in bone:
                    raise self.error(line_number, f"bone block starting at line {bone['line']} has no {field}")
            bone.setdefault("axis", np.zeros(3))
            bone.setdefault("axis_order", "XYZ")
            self.bones.append(bone)
            return None
        if key == "name":
            bone["name"] = " ".join(words[1:])
        elif key == "direction":
            bone["direction"] = self.numbers(words[1:], 3, line_number, "direction")
        elif key == "length":
            bone["length"] = float(self.numbers(words[1:], 1, line_number, "length")[0])
        elif key == "axis":
            bone["axis"] = self.numbers(words[1:4], 3, line_number, "axis")
            bone["axis_order"] = self._axis_order(words[4:5], line_number, "axis")
        elif key == "dof":
            dofs = tuple(word.lower() for word in words[1:])
            unsupported = [dof for dof in dofs if dof not in _ROTATION_DOFS]
            if unsupported:
                raise self.error(
                    line_number,
                    f"bone {bone.get('name', '?')}: dof {' '.join(unsupported)} not supported "
                    "(only rotations rx ry rz)",
                )
            bone["dof"] = dofs
        return bone

    def _parse_hierarchy_line(self, words: list[str], line_number: int) -> None:
        if words[0].lower() in ("begin", "end"):
            return
        parent, children = words[0], words[1:]
        self.children.setdefault(parent, []).extend((child, line_number) for child in children)

    def skeleton(self) -> AsfSkeleton:
        names = [bone["name"] for bone in self.bones]
        index_of = {name: index for index, name in enumerate(names)}
        if len(index_of) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise FormatError(self.path, f"bone {duplicate!r} is defined twice")
        parents = [None] * len(names)
        queue = deque(["root"])
        while queue:
            parent_name = queue.popleft()
            for child, line_number in self.children.get(parent_name, []):
                if child not in index_of:
                    raise self.error(line_number, f"hierarchy names unknown bone {child!r}")
                if parents[index_of[child]] is not None:
                    raise self.error(line_number, f"bone {child!r} has two parents in the hierarchy")
                parents[index_of[child]] = -1 if parent_name == "root" else index_of[parent_name]
                queue.append(child)
        unattached = [name for name, parent in zip(names, parents) if parent is None]
        if unattached:
            raise FormatError(self.path, f"bones not connected to the root in :hierarchy: {', '.join(unattached)}")
        return AsfSkeleton(
            name=self.name,
            length_unit_mm=MM_PER_INCH / self.length_scale,
            angle_unit=self.angle_unit,
            root_order=self.root_order,
            root_axis=self.root_axis,
            root_position=self.root_position,
            root_orientation=self.root_orientation,
            bone_names=tuple(names),
            bone_parents=tuple(parents),
            directions=np.array([bone["direction"] for bone in self.bones], dtype=np.float64),
            lengths=np.array([bone["length"] for bone in self.bones], dtype=np.float64),
            axes=np.array([bone["axis"] for bone in self.bones], dtype=np.float64),
            axis_orders=tuple(bone["axis_order"] for bone in self.bones),
            dofs=tuple(bone["dof"] for bone in self.bones),
        )


def read_asf(path: str | os.PathLike) -> AsfSkeleton:
    """Read an Acclaim ASF skeleton file (Latin-1 text).

    Raises FormatError naming the file and line for malformed numbers, unknown dof, bone blocks
    without name/direction/length, or a hierarchy that names unknown or unattached bones.
    """
    path = Path(path)
    parser = _AsfParser(path, _read_lines(path, "ASF"))
    parser.parse()
    return parser.skeleton()


# ---------------------------------------------------------------------------------------------
# AMC


def read_amc(path: str | os.PathLike, skeleton: AsfSkeleton) -> AmcMotion:
    """Read an Acclaim AMC motion file (Latin-1 text) for ``skeleton``.

    Raises FormatError naming the file and the frame number for a frame that lacks the root or
    a bone that has dof, and naming the line for unknown bones or wrong value counts.
    """
    path = Path(path)
    lines = _read_lines(path, "AMC")
    value_counts = {"root": len(skeleton.root_order)}
    value_counts.update(
        (name, len(dofs)) for name, dofs in zip(skeleton.bone_names, skeleton.dofs)
    )
    required = ["root"] + [name for name, dofs in zip(skeleton.bone_names, skeleton.dofs) if dofs]
    angle_unit = skeleton.angle_unit

    frame_numbers: list[int] = []
    frame_rows: list[list[str]] = []
    current: dict[str, list[str]] | None = None
    current_line = 0

    def finish_frame() -> None:
        if current is None:
            return
        missing = [name for name in required if name not in current]
        if missing:
            raise FormatError(
                path,
                f"frame {frame_numbers[-1]} (line {current_line}) has no values for bone "
                f"{missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            )
        frame_rows.append([word for name in required for word in current[name]])

    for index, line in enumerate(lines):
        line_number = index + 1
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith(":"):
            keyword = words[0].upper()
            if keyword == ":DEGREES":
                angle_unit = "deg"
            elif keyword == ":RADIANS":
                angle_unit = "rad"
            continue
        if len(words) == 1 and words[0].isdigit():
            finish_frame()
            frame_numbers.append(int(words[0]))
            current, current_line = {}, line_number
            continue
        name, values = words[0], words[1:]
        if current is None:
            raise FormatError(path, f"line {line_number}: bone values before the first frame number")
        if name not in value_counts:
            raise FormatError(
                path,
                f"line {line_number}: frame {frame_numbers[-1]} names bone {name!r}, which the skeleton does not have",
            )
        if len(values) != value_counts[name]:
            raise FormatError(
                path,
                f"line {line_number}: frame {frame_numbers[-1]}, bone {name!r} has {len(values)} values, "
                f"expected {value_counts[name]}",
            )
        if name in current:
            raise FormatError(path, f"line {line_number}: frame {frame_numbers[-1]} lists bone {name!r} twice")
        current[name] = values
    finish_frame()
    if not frame_rows:
        raise FormatError(path, "no frames (expected blocks that start with a frame number)")

    try:
        table = np.array(frame_rows, dtype=np.float64)
    except ValueError:
        raise FormatError(path, "a motion value is not a number") from None
    columns = np.cumsum([0] + [value_counts[name] for name in required])
    bone_values = {name: table[:, columns[i] : columns[i + 1]] for i, name in enumerate(required) if name != "root"}
    return AmcMotion(
        frame_numbers=np.array(frame_numbers, dtype=np.int64),
        root_values=table[:, columns[0] : columns[1]],
        bone_values=bone_values,
        angle_unit=angle_unit,
    )


# ---------------------------------------------------------------------------------------------
# Forward kinematics


def _angles_rad(values: np.ndarray, angle_unit: str) -> np.ndarray:
    return np.deg2rad(values) if angle_unit == "deg" else np.asarray(values, dtype=np.float64)


def _frame_rotation(axis_order: str, angles_rad: np.ndarray) -> np.ndarray:
    """C for a local frame given by angles (3,) listed in ``axis_order``."""
    return euler_to_matrix(tuple(axis_order), angles_rad, intrinsic=False)


def asf_forward_kinematics(skeleton: AsfSkeleton, motion: AmcMotion) -> tuple[tuple[str, ...], np.ndarray]:
    """Root position and the distal end of every bone, for every frame.

    Returns (names, positions): names ``("root", *bone_names)`` and positions (T, B + 1, 3) float64
    in millimetres, in the ASF world frame (Y up for VICON/HDM05/CMU exports). The loop runs over
    bones only; frames are processed together.
    """
    names, positions, _ = asf_bone_frames(skeleton, motion)
    return names, positions


def asf_bone_frames(skeleton: AsfSkeleton, motion: AmcMotion) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """:func:`asf_forward_kinematics` with each bone's global rotation: ``(names, positions (T, B+1, 3)
    mm, rotations (T, B+1, 3, 3))``, a rotation mapping the ASF rest pose (bone directions in world
    axes) onto the frame's, so a bone's end is its parent's end + rotation @ direction * length."""
    num_frames = motion.num_frames
    mm = skeleton.length_unit_mm
    if motion.root_values.shape != (num_frames, len(skeleton.root_order)):
        raise ShapeError(
            f"AmcMotion.root_values: expected shape ({num_frames}, {len(skeleton.root_order)}), "
            f"got {motion.root_values.shape}"
        )

    translation = np.zeros((num_frames, 3))
    root_angles = np.zeros((num_frames, 3))  # indexed by X, Y, Z
    for column, channel in enumerate(skeleton.root_order):
        target = translation if channel[0] == "T" else root_angles
        target[:, "XYZ".index(channel[1])] = motion.root_values[:, column]
    axis_columns = ["XYZ".index(axis) for axis in skeleton.root_axis]
    root_c = _frame_rotation(skeleton.root_axis, _angles_rad(skeleton.root_orientation, skeleton.angle_unit))
    root_m = euler_to_matrix(tuple(skeleton.root_axis), _angles_rad(root_angles[:, axis_columns], motion.angle_unit),
                             intrinsic=False)
    root_rotation = root_c @ root_m @ root_c.T

    num_bones = len(skeleton.bone_names)
    positions = np.zeros((num_frames, num_bones + 1, 3))
    positions[:, 0] = (skeleton.root_position + translation) * mm
    rotations = np.zeros((num_frames, num_bones + 1, 3, 3))
    rotations[:, 0] = root_rotation

    for bone in _parents_first_order(skeleton.bone_parents):
        name = skeleton.bone_names[bone]
        dofs = skeleton.dofs[bone]
        frame_c = _frame_rotation(skeleton.axis_orders[bone], _angles_rad(skeleton.axes[bone], skeleton.angle_unit))
        if dofs:
            values = motion.bone_values.get(name)
            if values is None or values.shape != (num_frames, len(dofs)):
                raise ShapeError(
                    f"AmcMotion.bone_values[{name!r}]: expected shape ({num_frames}, {len(dofs)}), "
                    f"got {None if values is None else values.shape}"
                )
            dof_axes = tuple(dof[1].upper() for dof in dofs)
            dof_rotation = euler_to_matrix(dof_axes, _angles_rad(values, motion.angle_unit), intrinsic=False)
            local = frame_c @ dof_rotation @ frame_c.T
        else:
            local = np.eye(3)
        parent = skeleton.bone_parents[bone] + 1  # index into positions / rotations
        rotations[:, bone + 1] = rotations[:, parent] @ local
        bone_vector_mm = skeleton.directions[bone] * skeleton.lengths[bone] * mm
        positions[:, bone + 1] = positions[:, parent] + rotations[:, bone + 1] @ bone_vector_mm
    return skeleton.joint_names, positions, rotations


def _parents_first_order(parents: tuple[int, ...]) -> list[int]:
    """Bone indices ordered so that every parent comes before its children."""
    children: dict[int, list[int]] = {}
    for bone, parent in enumerate(parents):
        children.setdefault(parent, []).append(bone)
    order: list[int] = []
    queue = deque(children.get(-1, []))
    while queue:
        bone = queue.popleft()
        order.append(bone)
        queue.extend(children.get(bone, []))
    return order
