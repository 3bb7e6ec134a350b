"""Biovision hierarchy (BVH) motion files: read, write and forward kinematics.

A BVH file has a ``HIERARCHY`` section (nested ``ROOT`` / ``JOINT`` / ``End Site`` blocks, each
with an ``OFFSET`` from its parent and, except End Sites, a ``CHANNELS`` list) and a ``MOTION``
section (``Frames:``, ``Frame Time:`` and one row of channel values per frame).

Conventions used here (the common ones; the CMU and HDM-style exports follow them):

- Joints are numbered in file order (depth first, parents before children). An ``End Site`` is a
  joint of its own named ``"<parent>_End"`` with no channels.
- Rotation channels are in degrees and compose in the listed order as intrinsic rotations: for
  channels listed ``Zrotation Yrotation Xrotation`` the local rotation is ``Rz @ Ry @ Rx``.
- Position channels are added to the joint's ``OFFSET`` (so a root with ``OFFSET 0 105 0`` and
  ``Yposition`` 7 stands at height 112).
- ``global_rotation = parent_global_rotation @ local_rotation`` and
  ``position = parent_position + parent_global_rotation @ local_translation``.

Lengths stay in the file's units (often centimetres; the CMU files here are in cm).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, ShapeError
from poselift.fileio import write_text_atomic
from poselift.geometry import euler_to_matrix
from poselift.io.records import naming_file

#: Channel names a BVH file may use, in their canonical spelling.
CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CANONICAL_CHANNEL = {name.lower(): name for name in CHANNEL_NAMES}
_END_SITE_SUFFIX = "_End"


@dataclass(frozen=True, eq=False)
class BvhMotion:
    """A BVH skeleton and its motion.

    joint_names: J names in file order (End Sites named ``"<parent>_End"``).
    parents: J parent indices, -1 for a root; every parent comes before its children.
    offsets: (J, 3) float64, offset of each joint from its parent, file units.
    channels: per joint, the channel names in file order (``()`` for End Sites).
    frame_time_s: seconds between frames.
    motion: (T, C) float64 channel values, C = total number of channels, columns in joint order;
        rotations in degrees, positions in file units.
    """

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time_s: float
    motion: np.ndarray

    def __post_init__(self) -> None:
        joint_names = tuple(str(name) for name in self.joint_names)
        parents = tuple(int(parent) for parent in self.parents)
        channels = tuple(tuple(str(channel) for channel in joint) for joint in self.channels)
        offsets = np.asarray(self.offsets, dtype=np.float64)
        motion = np.asarray(self.motion, dtype=np.float64)
        num_joints = len(joint_names)
        if len(parents) != num_joints or len(channels) != num_joints:
            raise ShapeError(
                f"BvhMotion: joint_names ({num_joints}), parents ({len(parents)}) and channels "
                f"({len(channels)}) must have one entry per joint"
            )
        if offsets.shape != (num_joints, 3):
            raise ShapeError(f"BvhMotion.offsets: expected shape ({num_joints}, 3), got {offsets.shape}")
        for index, parent in enumerate(parents):
            if not -1 <= parent < index:
                raise ShapeError(
                    f"BvhMotion.parents: joint {index} ({joint_names[index]}) has parent {parent}; "
                    "parents must come before their children (-1 for a root)"
                )
        for name, joint_channels in zip(joint_names, channels):
            unknown = [channel for channel in joint_channels if channel not in CHANNEL_NAMES]
            if unknown:
                raise ShapeError(f"BvhMotion.channels: joint {name} has unknown channel(s) {unknown}")
        num_channels = sum(len(joint_channels) for joint_channels in channels)
        if motion.ndim != 2 or motion.shape[1] != num_channels:
            raise ShapeError(f"BvhMotion.motion: expected shape (T, {num_channels}), got {motion.shape}")
        object.__setattr__(self, "joint_names", joint_names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "motion", motion)
        frame_time_s = float(self.frame_time_s)
        if not np.isfinite(frame_time_s) or frame_time_s <= 0:
            raise ShapeError(f"BvhMotion.frame_time_s: expected a positive number of seconds, got {frame_time_s}")
        object.__setattr__(self, "frame_time_s", frame_time_s)

    @property
    def num_frames(self) -> int:
        """Number of motion frames T."""
        return self.motion.shape[0]

    @property
    def fps(self) -> float:
        """Frames per second, ``1 / frame_time_s``."""
        return 1.0 / self.frame_time_s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BvhMotion):
            return NotImplemented
        return (
            self.joint_names == other.joint_names
            and self.parents == other.parents
            and self.channels == other.channels
            and self.frame_time_s == other.frame_time_s
            and np.array_equal(self.offsets, other.offsets)
            and np.array_equal(self.motion, other.motion)
        )


# ---------------------------------------------------------------------------------------------
# Reading


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _HierarchyParser:
    """Parses the HIERARCHY section from a list of lines; records joints in file order."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.lines = lines
        self.joint_names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[tuple[float, float, float] | None] = []
        self.channels: list[tuple[str, ...]] = []
        self.is_end_site: list[bool] = []
        self.joint_line: list[int] = []

    def error(self, line_number: int, problem: str) -> FormatError:
        return FormatError(self.path, f"line {line_number}: {problem}")

    def parse(self) -> int:
        """Parse up to the MOTION keyword; return the index (0-based) of the line after it."""
        tokens: list[tuple[str, int]] = []
        motion_line = None
        for index, line in enumerate(self.lines):
            words = line.split()
            if words and words[0].upper() == "MOTION":
                motion_line = index
                break
            tokens.extend((word, index + 1) for word in words)
        if not tokens or tokens[0][0].upper() != "HIERARCHY":
            line_number = tokens[0][1] if tokens else 1
            raise self.error(line_number, "expected the keyword HIERARCHY at the start of a BVH file")
        self._parse_tokens(tokens[1:], motion_line)
        if not self.joint_names:
            raise self.error(tokens[0][1], "HIERARCHY has no ROOT joint")
        return motion_line + 1

    def _parse_tokens(self, tokens: list[tuple[str, int]], motion_line: int | None) -> None:
        open_joints: list[int] = []
        position = 0
        last_line = tokens[-1][1] if tokens else 1

        def take(what: str) -> tuple[str, int]:
            nonlocal position
            if position >= len(tokens):
                raise self.error(last_line, f"file ends while reading {what}")
            token = tokens[position]
            position += 1
            return token

        def take_number(what: str) -> float:
            word, line_number = take(what)
            try:
                return float(word)
            except ValueError:
                raise self.error(line_number, f"expected a number for {what}, got {word!r}") from None

        while position < len(tokens):
            word, line_number = take("the hierarchy")
            keyword = word.upper()
            if keyword in ("ROOT", "JOINT"):
                if keyword == "ROOT" and open_joints:
                    raise self.error(line_number, "ROOT inside another joint (unbalanced braces?)")
                if keyword == "JOINT" and not open_joints:
                    raise self.error(line_number, "JOINT outside any ROOT (unbalanced braces?)")
                if open_joints and self.is_end_site[open_joints[-1]]:
                    raise self.error(line_number, "an End Site cannot have child joints")
                name_words = []
                while position < len(tokens) and tokens[position][1] == line_number and tokens[position][0] != "{":
                    name_words.append(take("a joint name")[0])
                if not name_words:
                    raise self.error(line_number, f"{keyword} without a joint name")
                self._add_joint(" ".join(name_words), open_joints, line_number, end_site=False)
                self._expect_brace(take("'{'"))
                open_joints.append(len(self.joint_names) - 1)
            elif keyword == "END":
                if not open_joints:
                    raise self.error(line_number, "End Site outside any joint (unbalanced braces?)")
                if position < len(tokens) and tokens[position][0].upper() == "SITE":
                    position += 1
                parent_name = self.joint_names[open_joints[-1]]
                self._add_joint(parent_name + _END_SITE_SUFFIX, open_joints, line_number, end_site=True)
                self._expect_brace(take("'{'"))
                open_joints.append(len(self.joint_names) - 1)
            elif keyword == "OFFSET":
                if not open_joints:
                    raise self.error(line_number, "OFFSET outside any joint")
                offset = tuple(take_number("OFFSET") for _ in range(3))
                self.offsets[open_joints[-1]] = offset
            elif keyword == "CHANNELS":
                if not open_joints:
                    raise self.error(line_number, "CHANNELS outside any joint")
                joint = open_joints[-1]
                if self.is_end_site[joint]:
                    raise self.error(line_number, "an End Site cannot have CHANNELS")
                count_word, count_line = take("the channel count")
                if not count_word.isdigit():
                    raise self.error(count_line, f"expected the number of channels, got {count_word!r}")
                names = []
                for _ in range(int(count_word)):
                    channel_word, channel_line = take("channel names")
                    canonical = _CANONICAL_CHANNEL.get(channel_word.lower())
                    if canonical is None:
                        raise self.error(
                            channel_line,
                            f"unknown channel {channel_word!r} (expected one of {', '.join(CHANNEL_NAMES)})",
                        )
                    names.append(canonical)
                self.channels[joint] = tuple(names)
            elif word == "}":
                if not open_joints:
                    raise self.error(line_number, "unbalanced braces: '}' without a matching '{'")
                closed = open_joints.pop()
                if self.offsets[closed] is None:
                    raise self.error(line_number, f"joint {self.joint_names[closed]} has no OFFSET")
            elif keyword.startswith("FRAMES"):
                raise self.error(line_number, "missing MOTION section (no MOTION keyword before 'Frames:')")
            else:
                raise self.error(line_number, f"unexpected {word!r} in HIERARCHY")

        if open_joints:
            joint = open_joints[-1]
            where = f"line {motion_line + 1}" if motion_line is not None else "the end of the file"
            raise self.error(
                motion_line + 1 if motion_line is not None else last_line,
                f"unbalanced braces: joint {self.joint_names[joint]} (opened at line "
                f"{self.joint_line[joint]}) is not closed before {where}",
            )
        if motion_line is None:
            raise self.error(last_line, "missing MOTION section")

    def _add_joint(self, name: str, open_joints: list[int], line_number: int, end_site: bool) -> None:
        self.joint_names.append(name)
        self.parents.append(open_joints[-1] if open_joints else -1)
        self.offsets.append(None)
        self.channels.append(())
        self.is_end_site.append(end_site)
        self.joint_line.append(line_number)

    def _expect_brace(self, token: tuple[str, int]) -> None:
        word, line_number = token
        if word != "{":
            raise self.error(line_number, f"expected '{{', got {word!r}")


_FRAMES_RE = re.compile(r"^\s*Frames\s*:\s*(\S+)\s*$", re.IGNORECASE)
_FRAME_TIME_RE = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", re.IGNORECASE)


def _next_content_line(lines: list[str], start: int) -> int:
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _parse_motion(path: Path, lines: list[str], start: int, num_channels: int) -> tuple[float, np.ndarray]:
    """Parse ``Frames:``, ``Frame Time:`` and the rows from line index ``start``."""
    index = _next_content_line(lines, start)
    match = _FRAMES_RE.match(lines[index]) if index < len(lines) else None
    if match is None or not match.group(1).isdigit():
        raise FormatError(path, f"line {min(index, len(lines)) + 1}: expected 'Frames: <count>' after MOTION")
    num_frames = int(match.group(1))
    index = _next_content_line(lines, index + 1)
    match = _FRAME_TIME_RE.match(lines[index]) if index < len(lines) else None
    try:
        frame_time_s = float(match.group(1)) if match else None
    except ValueError:
        frame_time_s = None
    if frame_time_s is None or not frame_time_s > 0:
        raise FormatError(path, f"line {min(index, len(lines)) + 1}: expected 'Frame Time: <seconds>' (> 0)")

    values: list[str] = []
    rows_read = 0
    for line_index in range(index + 1, len(lines)):
        words = lines[line_index].split()
        if not words:
            continue
        if rows_read == num_frames:
            raise FormatError(
                path, f"line {line_index + 1}: more motion rows than 'Frames: {num_frames}'"
            )
        if len(words) != num_channels:
            raise FormatError(
                path,
                f"line {line_index + 1}: motion row {rows_read + 1} has {len(words)} values, "
                f"expected {num_channels} (one per channel)",
            )
        values.extend(words)
        rows_read += 1
    if rows_read < num_frames:
        raise FormatError(
            path,
            f"line {len(lines)}: file is truncated: it ends after {rows_read} motion rows but "
            f"'Frames:' says {num_frames}",
        )
    try:
        motion = np.array(values, dtype=np.float64).reshape(num_frames, num_channels)
    except ValueError:
        for row, line_index in enumerate(i for i in range(index + 1, len(lines)) if lines[i].strip()):
            try:
                [float(word) for word in lines[line_index].split()]
            except ValueError:
                raise FormatError(
                    path, f"line {line_index + 1}: motion row {row + 1} has a value that is not a number"
                ) from None
        raise
    return frame_time_s, motion


def read_bvh(path: str | os.PathLike) -> BvhMotion:
    """Read a BVH file (any hierarchy, any channel order).

    Raises FormatError naming the file and line for a missing HIERARCHY/MOTION section,
    unbalanced braces, unknown channels, or motion rows that are missing or of the wrong length.
    """
    path = Path(path)
    try:
        text = _read_text(path)
    except OSError as error:
        raise FormatError(path, f"cannot read BVH file ({error.strerror or error})") from None
    lines = text.splitlines()
    parser = _HierarchyParser(path, lines)
    motion_start = parser.parse()
    num_channels = sum(len(channels) for channels in parser.channels)
    frame_time_s, motion = _parse_motion(path, lines, motion_start, num_channels)
    with naming_file(path):
        return BvhMotion(
            joint_names=tuple(parser.joint_names),
            parents=tuple(parser.parents),
            offsets=np.array(parser.offsets, dtype=np.float64).reshape(-1, 3),
            channels=tuple(parser.channels),
            frame_time_s=frame_time_s,
            motion=motion,
        )


# ---------------------------------------------------------------------------------------------
# Writing


def _format_number(value: float) -> str:
    """Shortest text that reads back as exactly the same float64."""
    return repr(float(value))


def _is_end_site(motion: BvhMotion, joint: int, children: list[list[int]]) -> bool:
    parent = motion.parents[joint]
    return (
        parent >= 0
        and not motion.channels[joint]
        and not children[joint]
        and motion.joint_names[joint] == motion.joint_names[parent] + _END_SITE_SUFFIX
    )


def _depth_first_order(parents: tuple[int, ...], children: list[list[int]]) -> list[int]:
    order: list[int] = []
    stack = [joint for joint in reversed(range(len(parents))) if parents[joint] < 0]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed(children[joint]))
    return order


def format_bvh(motion: BvhMotion) -> str:
    """The BVH text of ``motion`` (numbers written so that they read back exactly)."""
    num_joints = len(motion.joint_names)
    if num_joints == 0:
        raise ShapeError("BvhMotion: no joints to write")
    children: list[list[int]] = [[] for _ in range(num_joints)]
    for joint, parent in enumerate(motion.parents):
        if parent >= 0:
            children[parent].append(joint)
    if _depth_first_order(motion.parents, children) != list(range(num_joints)):
        raise ShapeError(
            "BvhMotion: joints must be in depth-first order (each joint's subtree directly after it) "
            "to be written as BVH"
        )

    out: list[str] = ["HIERARCHY"]

    def write_joint(joint: int, depth: int) -> None:
        indent = "\t" * depth
        offset = " ".join(_format_number(value) for value in motion.offsets[joint])
        if _is_end_site(motion, joint, children):
            out.extend([f"{indent}End Site", f"{indent}{{", f"{indent}\tOFFSET {offset}", f"{indent}}}"])
            return
        keyword = "ROOT" if motion.parents[joint] < 0 else "JOINT"
        out.extend([f"{indent}{keyword} {motion.joint_names[joint]}", f"{indent}{{", f"{indent}\tOFFSET {offset}"])
        channels = motion.channels[joint]
        out.append(f"{indent}\tCHANNELS {len(channels)}" + "".join(f" {name}" for name in channels))
        for child in children[joint]:
            write_joint(child, depth + 1)
        out.append(f"{indent}}}")

    for root in (joint for joint in range(num_joints) if motion.parents[joint] < 0):
        write_joint(root, 0)
    out.append("MOTION")
    out.append(f"Frames: {motion.num_frames}")
    out.append(f"Frame Time: {_format_number(motion.frame_time_s)}")
    out.extend(" ".join(map(repr, row)) for row in motion.motion.tolist())
    return "\n".join(out) + "\n"


def write_bvh(path: str | os.PathLike, motion: BvhMotion) -> None:
    """Write ``motion`` as a BVH file, atomically; ``read_bvh(path) == motion`` afterwards.

    Joints with no channels and no children named ``"<parent>_End"`` are written as End Sites.
    """
    write_text_atomic(path, format_bvh(motion))


# ---------------------------------------------------------------------------------------------
# Forward kinematics


def bvh_forward_kinematics(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and rotations for every frame.

    Returns positions (T, J, 3) float64 in file units, world frame of the file, and rotations
    (T, J, 3, 3) float64, each joint's global rotation (columns: its local axes in world).
    Frames are processed together; the loop runs over joints only.
    """
    num_frames = motion.num_frames
    num_joints = len(motion.joint_names)
    positions = np.zeros((num_frames, num_joints, 3), dtype=np.float64)
    rotations = np.zeros((num_frames, num_joints, 3, 3), dtype=np.float64)
    column = 0
    for joint, joint_channels in enumerate(motion.channels):
        values = motion.motion[:, column : column + len(joint_channels)]
        column += len(joint_channels)
        translation = np.repeat(motion.offsets[joint][None, :], num_frames, axis=0)
        rotation_axes: list[str] = []
        rotation_columns: list[int] = []
        for index, channel in enumerate(joint_channels):
            axis = channel[0]
            if channel.endswith("position"):
                translation[:, "XYZ".index(axis)] += values[:, index]
            else:
                rotation_axes.append(axis)
                rotation_columns.append(index)
        local_rotation = euler_to_matrix(rotation_axes, np.deg2rad(values[:, rotation_columns]))
        parent = motion.parents[joint]
        if parent < 0:
            rotations[:, joint] = local_rotation
            positions[:, joint] = translation
        else:
            parent_rotation = rotations[:, parent]
            rotations[:, joint] = parent_rotation @ local_rotation
            positions[:, joint] = positions[:, parent] + np.einsum("tij,tj->ti", parent_rotation, translation)
    return positions, rotations
