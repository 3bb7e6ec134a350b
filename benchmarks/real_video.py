"""A lifting model on real footage: Pose2Sim's four calibrated phone videos against their triangulation.

``poselift video --calibration`` runs MediaPipe on each video, lifts every view with the model and
triangulates the four views (each view checked against the others first); each view's lifted 3D,
rotated into the world with its camera and put at the triangulated pelvis, is compared with the
triangulation (``multiview.json``). :func:`real_video_errors` returns the four views' MPJPE
(root-aligned) and P-MPJPE, mm, and their means; a model that reads the camera gets each video's
calibrated camera.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from poselift.fileio import write_text_atomic

MEASURES = ("mpjpe_mm", "p_mpjpe_mm")


def real_video_errors(model: str | Path, out_dir: Path, videos: Path) -> dict:
    """``{"views": {camera: {mpjpe_mm, p_mpjpe_mm, frames_swapped, size_ratio}}, "mpjpe_mm", "p_mpjpe_mm"}``
    (means over the views; ``frames_swapped`` and ``size_ratio`` only in caches made since they were added) of
    ``model`` (a checkpoint or a shipped model's name) on the videos of ``videos`` (Pose2Sim's folder:
    ``videos/*.mp4`` and ``Calib.qca.txt``); cached in ``out_dir/pose2sim.json``."""
    cache = out_dir / "pose2sim.json"
    if not cache.exists():
        with tempfile.TemporaryDirectory(prefix="poselift-pose2sim-") as scratch:
            out = Path(scratch) / "out"
            command = [sys.executable, "-m", "poselift.cli", "video",
                       *sorted(str(path) for path in (videos / "videos").glob("*.mp4")),
                       "--calibration", str(videos / "Calib.qca.txt"), "--model", str(model),
                       "--out", str(out), "--no-animation", "--quiet"]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            views = json.loads((out / "multiview.json").read_text())["views"]
        # per view also: the frames whose left/right labels the triangulation's view check still swapped
        # back after the single-view swap fix, and the lifted skeleton's size over the triangulated one's
        result = {"views": {Path(view["video"]).stem: {**{key: view[key] for key in MEASURES},
                                                        "frames_swapped": view["triangulation_check"]["frames_swapped"],
                                                        "size_ratio": view["bone_length_ratio"]}
                            for view in views}}
        for key in MEASURES:
            result[key] = sum(view[key] for view in result["views"].values()) / len(views)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache, json.dumps(result, indent=1) + "\n")
    return json.loads(cache.read_text())
