"""``poselift data convert``: any supported pose file -> poselift's own npz/json.

- 2D keypoint files (COCO, OpenPose, MediaPipe, VideoPose3D 2D, Stacked-Hourglass h5, poselift)
  -> poselift 2D, optionally converted to the H36M-17 layout (``to_layout="h36m17"``).
- 3D files (VideoPose3D 3D, Martinez h5, poselift) -> poselift 3D (H36M-32 -> H36M-17 on request).
- Motion capture: a BVH of a skeleton :mod:`poselift.mocap_mapping` knows (the CMU ``CC_Base`` avatar,
  FBX/Mixamo/CMU-conversion names, original-CMU/SMPL-style names, or any with a joint map), or an
  ASF/AMC pair (``asf=``), -> H36M-17 joint positions in mm, world frame with Z up, at the file's frame
  rate; a T-pose frame 0 (a converter's rest pose) is dropped and said.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from poselift.errors import PoseliftError
from poselift.fileio import check_output_file
from poselift.io.records import Poses3D
from poselift.skeleton import H36M17, to_h36m17
from poselift.wording import count

OUTPUT_SUFFIXES = (".npz", ".json")


def _mocap_to_poses(input_path: Path, asf: Path | None, units: str, joint_map: Path | None,
                    fps: float | None, keep_first_frame: bool) -> tuple[Poses3D, list[str]]:
    """(H36M-17 poses, mm, world Z up; notes on what was read or assumed) of a BVH or an ASF/AMC clip."""
    from poselift.data.sources import asf_amc_to_h36m17
    from poselift.io.asf_amc import read_amc, read_asf
    from poselift.io.bvh import read_bvh
    from poselift.mocap_mapping import is_t_pose, map_bvh

    suffix = input_path.suffix.lower()
    if suffix == ".bvh":
        motion = read_bvh(input_path)
        mapped = map_bvh(motion, input_path, units=units, joint_map=joint_map)
        poses, notes = mapped.poses_mm, [f"skeleton {mapped.skeleton}, unit {mapped.unit}", *mapped.notes]
        fps = fps or 1.0 / motion.frame_time_s
    else:
        if asf is None:
            raise PoseliftError(f"{input_path}: an .amc file needs its skeleton: add --asf SKELETON.asf")
        if units != "auto" or joint_map is not None:
            raise PoseliftError(f"{input_path}: --units and --joint-map are for BVH files; an ASF skeleton "
                                "states its own unit and bone names")
        skeleton = read_asf(asf)
        poses, _ = asf_amc_to_h36m17(skeleton, read_amc(input_path, skeleton), asf)
        notes = []
        if fps is None:                  # AMC files carry no frame rate; HDM05 names end in _<fps>
            suffix_fps = re.search(r"_(\d+)$", input_path.stem)
            fps = float(suffix_fps.group(1)) if suffix_fps else None
            notes.append(f"frame rate {fps:g} fps from the file name" if fps else
                         "an AMC file states no frame rate: give --fps (CMU and HDM05 capture at 120)")
    if len(poses) > 1 and is_t_pose(poses[0]) and not is_t_pose(poses[1]):
        if keep_first_frame:
            notes.append("frame 0 is a T-pose (arms out level; a converter's rest pose): kept (--keep-first-frame)")
        else:
            poses = poses[1:]
            notes.append("frame 0 was a T-pose (arms out level; a converter's rest pose): dropped "
                         "(--keep-first-frame keeps it)")
    return Poses3D(poses_3d=poses.astype(np.float32), joint_names=H36M17.joint_names, frame="world", fps=fps,
                   layout="h36m17", meta={"source": str(input_path), "axes": "Z up", "units": "mm",
                                          "notes": notes}), notes


def convert_file(input_path: Path, output_path: Path, asf: Path | None = None, to_layout: str | None = None,
                 force: bool = False, units: str = "auto", joint_map: Path | None = None, fps: float | None = None,
                 keep_first_frame: bool = False) -> str:
    """Convert ``input_path`` to ``output_path`` (poselift .npz or .json); returns the summary to print.

    Motion capture (BVH, ASF/AMC): ``units``, ``joint_map`` (BVH, :mod:`poselift.mocap_mapping`), ``fps``
    (overrides the file's; an AMC file has none), ``keep_first_frame`` (keep a T-pose frame 0)."""
    from poselift.io import load_keypoints_2d, load_poses_3d
    from poselift.io.poselift_format import write_keypoints_2d, write_poses_3d

    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PoseliftError(f"{output_path}: output must be a poselift .npz or .json file")
    if to_layout not in (None, "h36m17"):
        raise PoseliftError(f"--layout {to_layout!r}: only h36m17 is supported as a conversion target")
    check_output_file(output_path, force=force)
    if input_path.suffix.lower() in (".bvh", ".amc"):
        poses, notes = _mocap_to_poses(input_path, asf, units, joint_map, fps, keep_first_frame)
        write_poses_3d(output_path, poses)
        rate = f"{poses.fps:g} fps" if poses.fps else "unknown frame rate"
        return "\n".join([f"note: {note}" for note in notes]
                         + [f"wrote {output_path}: {count(len(poses.poses_3d), 'frame')} of H36M-17 3D poses in mm "
                            f"(world frame, Z up, {rate})"])
    try:
        keypoints = load_keypoints_2d(input_path)
    except PoseliftError as error_2d:
        try:
            poses = load_poses_3d(input_path)
        except PoseliftError:
            raise error_2d from None
        if to_layout == "h36m17" and poses.layout not in (None, "h36m17"):
            converted, _ = to_h36m17(poses.poses_3d, None, poses.layout)
            poses = Poses3D(poses_3d=converted, joint_names=H36M17.joint_names, frame=poses.frame, fps=poses.fps,
                            layout="h36m17", meta=poses.meta)
        write_poses_3d(output_path, poses)
        return f"wrote {output_path}: {count(len(poses.poses_3d), 'frame')} of 3D poses ({poses.layout or 'unnamed layout'})"
    if to_layout == "h36m17" and keypoints.layout != "h36m17":
        converted, confidence = to_h36m17(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout)
        keypoints = type(keypoints)(keypoints_2d=converted, confidence=confidence, layout="h36m17",
                                    image_size=keypoints.image_size, fps=keypoints.fps)
    write_keypoints_2d(output_path, keypoints)
    return f"wrote {output_path}: {count(len(keypoints.keypoints_2d), 'frame')} of 2D keypoints ({keypoints.layout})"
