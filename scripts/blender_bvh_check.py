"""Blender's own BVH importer reads poselift's BVH: the joints, frame by frame, against poselift's.

    python scripts/blender_bvh_check.py [BVH] [--figure docs/images/blender_bvh.png]

Without BVH, the bundled sample is lifted first (``poselift demo``) and its ``poses_3d.bvh`` checked.
Blender (Debian's ``blender`` package, run headless: ``blender -b --python-expr``) imports the file
with its BVH importer at its default scale 1 and axes (BVH's Y up becomes Blender's Z up); every
joint's world position in every frame (bone heads, and the tails of the bones that end in an End
Site) is compared with poselift's forward kinematics of the same file, turned the same way. Prints
the mean and largest distance (mm) and, with ``--figure``, plots them per joint. Debian's Blender 3.4
runs its importer on Python 3.11, which refuses the importer's ``open(path, 'rU')``: the script maps
that mode to ``'r'`` before importing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_BLENDER_SCRIPT = r"""
import builtins, json, sys
import bpy
_open = builtins.open
def _open_without_u(file, mode="r", *args, **kwargs):
    return _open(file, mode.replace("U", ""), *args, **kwargs)
builtins.open = _open_without_u
path, out = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(filepath=path)
armature = next(obj for obj in bpy.context.scene.objects if obj.type == "ARMATURE")
scene = bpy.context.scene
frames = []
for frame in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(frame)
    frames.append({bone.name: {"head": list(armature.matrix_world @ bone.head),
                               "tail": list(armature.matrix_world @ bone.tail)} for bone in armature.pose.bones})
with open(out, "w") as handle:
    json.dump({"frames": frames, "start": scene.frame_start, "end": scene.frame_end}, handle)
"""


def blender_executable() -> str | None:
    return shutil.which("blender")


def blender_joint_positions(bvh: Path, joint_names: tuple[str, ...], parents: tuple[int, ...]) -> np.ndarray:
    """(T, J, 3) in the file's unit, Blender's world (Z up), of every BVH joint (End Sites: their
    parent bone's tail) as Blender's importer poses them."""
    with tempfile.TemporaryDirectory() as folder:
        script, out = Path(folder) / "dump.py", Path(folder) / "joints.json"
        script.write_text(_BLENDER_SCRIPT)
        subprocess.run([blender_executable(), "-b", "--factory-startup", "--python", str(script), "--", str(bvh),
                        str(out)], check=True, capture_output=True, timeout=600)
        dump = json.loads(out.read_text())
    positions = np.zeros((len(dump["frames"]), len(joint_names), 3))
    for index, frame in enumerate(dump["frames"]):
        for joint, name in enumerate(joint_names):
            if name in frame:
                positions[index, joint] = frame[name]["head"]
            else:                                    # an End Site: the tail of its parent's bone
                positions[index, joint] = frame[joint_names[parents[joint]]]["tail"]
    return positions


def compare(bvh: Path) -> tuple[list[str], np.ndarray]:
    """(joint names, (T, J) distances in mm between Blender's and poselift's joints)."""
    from poselift.io.bvh import bvh_forward_kinematics, read_bvh

    motion = read_bvh(bvh)
    ours, _ = bvh_forward_kinematics(motion)                      # (T, J, 3), file units, Y up
    ours_in_blender = np.stack([ours[..., 0], -ours[..., 2], ours[..., 1]], axis=-1)   # Y up -> Blender's Z up
    theirs = blender_joint_positions(bvh, motion.joint_names, motion.parents)
    frames = min(len(theirs), len(ours_in_blender))
    unit_mm = 1000.0 if np.abs(ours).max() < 50 else 1.0           # metres (the default) or millimetres
    return list(motion.joint_names), np.linalg.norm(theirs[:frames] - ours_in_blender[:frames], axis=-1) * unit_mm


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bvh", nargs="?", type=Path, help="a BVH written by poselift (default: the demo's)")
    parser.add_argument("--figure", type=Path, help="plot the distance per joint here")
    args = parser.parse_args(argv)
    if blender_executable() is None:
        sys.exit("no Blender here: apt install blender")
    with tempfile.TemporaryDirectory() as folder:
        bvh = args.bvh
        if bvh is None:
            from poselift.lift import run_demo

            run_demo(Path(folder) / "demo")
            bvh = Path(folder) / "demo" / "poses_3d.bvh"
        names, distances = compare(bvh)
    print(f"{bvh.name}: {distances.shape[0]} frames x {distances.shape[1]} joints; Blender's importer vs poselift: "
          f"mean {distances.mean():.4f} mm, largest {distances.max():.4f} mm")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
        ax.bar(range(len(names)), distances.max(axis=0), color="#1f77b4", label="largest over frames")
        ax.bar(range(len(names)), distances.mean(axis=0), color="#ff7f0e", label="mean")
        ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
        ax.set_ylabel("mm")
        ax.set_title(f"Blender's BVH importer vs poselift's forward kinematics ({bvh.name}, {distances.shape[0]} frames)")
        ax.legend(fontsize=8)
        figure.savefig(args.figure, dpi=90)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
