"""After the 2D, one pipeline for every input (``poselift lift`` on a keypoint file, ``poselift video``):

1. **Lifting** (:func:`poselift.lift.lift_keypoints`): the track's layout becomes H36M-17, gaps of at
   most ``max_gap`` frames are interpolated, the model lifts every frame.
2. **Smoothing** (:func:`smooth_poses`): a Savitzky-Golay filter along time (a least-squares
   quadratic over a centred window of ``smoothing_s`` seconds, 0.2 by default: it does not lag and
   keeps the peaks of a motion better than a moving average), on each run of lifted frames. Only a
   time series is smoothed: a track without a frame rate (e.g. unrelated images) is not.
3. **Outputs**, all at the track's frame rate (:func:`resolve_fps`: ``--fps``, else the file's, else
   the video's, else none): ``poses_3d.npz`` / ``.json`` ((T, 17, 3) mm, root-relative, in the model's
   output frame), ``poses_3d.bvh`` (camera-frame models), ``poses_3d.csv``, ``poses_3d.trc`` (OpenSim)
   and ``poses_3d.c3d`` (with ezc3d) in a world frame with y or z up (``up``; :mod:`poselift.export`),
   ``figure.png`` (the most confident frame), ``animation.mp4`` (the 2D over the video when there
   is one, beside the rotating 3D skeleton), ``overlay.mp4`` (with a video: the 2D skeleton drawn on
   the original frames at full resolution) and ``viewer.html`` (:mod:`poselift.viewer`: one
   self-contained page playing the 3D skeleton in sync with the video, to turn and scrub).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from poselift.errors import PoseliftError, ShapeError
from poselift.io.records import Keypoints2D, Poses3D

DEFAULT_SMOOTHING_S = 0.2
SAVGOL_POLYORDER = 2
ASSUMED_FPS = 30.0      # what an animation plays at when the track has no frame rate


def resolve_fps(requested: float | None, keypoints: Keypoints2D, video_fps: float | None = None) -> tuple[float | None, str]:
    """(frame rate of the track or None, where it came from): ``requested`` (``--fps``), else the
    keypoint file's, else the video's; None when nobody knows it (:func:`lift_track` then writes
    :data:`ASSUMED_FPS` and says so, and does not smooth)."""
    if requested is not None:
        if not (requested > 0 and np.isfinite(requested)):
            raise PoseliftError(f"--fps must be a positive number, got {requested}")
        return float(requested), "--fps"
    if keypoints.fps:
        return float(keypoints.fps), "the keypoint file"
    if video_fps:
        return float(video_fps), "the video"
    return None, "unknown"


def smoothing_window(fps: float, window_s: float = DEFAULT_SMOOTHING_S) -> int:
    """Odd number of frames closest to ``window_s`` seconds at ``fps`` (1 = no smoothing)."""
    frames = int(round(window_s * fps))
    frames += 1 - frames % 2
    return frames if frames > SAVGOL_POLYORDER else 1


def smooth_poses(poses_mm: np.ndarray, window_frames: int, polyorder: int = SAVGOL_POLYORDER) -> np.ndarray:
    """Savitzky-Golay smoothing along time of each run of complete frames.

    Each output frame is the value at its own time of the least-squares polynomial of degree
    ``polyorder`` through the ``window_frames`` frames centred on it (near the ends of a run, the
    polynomial of the first / last window). A run shorter than the window uses the longest odd
    window that fits; frames with a NaN joint are left as they are and split the runs.

    Args:
        poses_mm: (T, J, 3) mm. window_frames: odd, > polyorder (1: no smoothing).
    Returns:
        (T, J, 3) float32, a new array.
    """
    from scipy.signal import savgol_filter

    smoothed = np.array(poses_mm, dtype=np.float32)
    complete = np.isfinite(smoothed).all(axis=(1, 2))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], complete.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):  # a loop over runs of frames
        window = min(window_frames, stop - start - (1 - (stop - start) % 2))
        if window > polyorder:
            smoothed[start:stop] = savgol_filter(smoothed[start:stop], window, polyorder, axis=0, mode="interp")
    return smoothed


@dataclass
class TrackResult:
    """What :func:`lift_track` made: the 3D poses (smoothed), report lines and the files written."""

    poses: Poses3D
    lines: list[str]
    written: list[Path] = field(default_factory=list)


def lift_track(keypoints: Keypoints2D, lifter, model_name: str, out_dir: Path, *, source: str,
               max_gap: int = 10, smoothing_s: float = DEFAULT_SMOOTHING_S, fps: float | None = None,
               fps_source: str = "the input",
               video: str | os.PathLike | None = None, animation: bool = True, progress: bool = False,
               orientation: str = "auto", up: str = "y", overlay: bool = True, bvh_unit: str = "m",
               meta: dict | None = None) -> TrackResult:
    """Lift, smooth and write every output of one 2D track into ``out_dir`` (which must exist).

    Args:
        keypoints: the 2D track (any layout). lifter: a loaded model; model_name: its name in outputs.
        source: what the track came from (a file or video name), for titles and the metadata.
        fps, fps_source: the track's frame rate and where it came from (:func:`resolve_fps`); None:
            unknown (outputs at :data:`ASSUMED_FPS`, said in their metadata; not smoothed).
        video: the video the keypoints come from (drawn under the 2D), or None.
        orientation: which way y points (:func:`poselift.conventions.check_upright`).
        up: the world frame of the CSV, TRC and C3D files: "y" or "z" up (:func:`poselift.export.world_positions`).
        bvh_unit: the BVH's length unit ("m", "cm", "mm"; :func:`poselift.export.export_bvh`).
        overlay: with a video and ``animation``, also write ``overlay.mp4`` (``poselift video`` writes it
            itself while tracking, :class:`poselift.viz.OverlayWriter`).
        meta: extra metadata stored with the poses. The track's ``notes`` (what was assumed or changed
        on the way in) open the report lines and are stored too.
    """
    from poselift import viz
    from poselift.conventions import check_upright
    from poselift.export import export_bvh, export_c3d, export_trc, write_csv
    from poselift.io.c3d import MISSING_EZC3D
    from poselift.io.poselift_format import write_poses_3d
    from poselift.lift import lift_keypoints, representative_frame
    from poselift.video.reading import read_frame, read_frames
    from poselift.viewer import write_viewer

    if not smoothing_s >= 0:
        raise PoseliftError(f"--smooth must be 0 (off) or more seconds, got {smoothing_s}")
    keypoints = replace(keypoints, fps=fps or ASSUMED_FPS)
    keypoints = check_upright(keypoints, orientation, source)
    poses, lift_report, (_, confidence_h36m) = lift_keypoints(keypoints, lifter, model_name, max_gap, source)
    if lift_report.frames_not_lifted == lift_report.frames:
        raise PoseliftError(f"{source}: no frame can be lifted: every frame lacks the pelvis "
                            "(both hips missing or NaN), which the 2D normalisation needs")
    window = smoothing_window(fps, smoothing_s) if fps else 1
    smoothing = {"filter": "savitzky-golay", "window_frames": window, "polyorder": SAVGOL_POLYORDER}
    poses = replace(poses, poses_3d=smooth_poses(poses.poses_3d, window),
                    meta={**poses.meta, "source": source, **(meta or {}), "notes": list(keypoints.notes),
                          "fps_source": fps_source if fps else f"assumed {ASSUMED_FPS:g} (the input gives none)",
                          "smoothing": smoothing if window > 1 else None,
                          "exports": {"csv_trc_c3d_frame": f"world, {up} up, feet on the floor, mm",
                                      "bvh_frame": f"Y up, {bvh_unit} (BVH's usual rest frame)"}})
    rate = (f"{fps:g} fps (from {fps_source})" if fps
            else f"no frame rate given: outputs at an assumed {ASSUMED_FPS:g} fps, not smoothed (set --fps)")
    lines = [f"note: {note}" for note in keypoints.notes] + [lift_report.summary() + f"; {rate}"
             + (f", smoothed over {window} frames ({window / fps:.2f} s)" if window > 1 else "")]

    written = [out_dir / "poses_3d.npz", out_dir / "poses_3d.json"]
    for path in written:
        write_poses_3d(path, poses)
    try:
        lines.append(export_bvh(out_dir / "poses_3d.bvh", poses, bvh_unit).summary())
        written.append(out_dir / "poses_3d.bvh")
    except ShapeError as error:                  # a BVH needs one complete pose to build its skeleton
        lines.append(f"no BVH: {error}")
    written += [write_csv(out_dir / "poses_3d.csv", poses, up), export_trc(out_dir / "poses_3d.trc", poses, up)]
    try:
        written.append(export_c3d(out_dir / "poses_3d.c3d", poses, up))
    except PoseliftError as error:
        if str(error) != MISSING_EZC3D:
            raise
        lines.append(f"no C3D: {MISSING_EZC3D}")
    lines.append(f"CSV, TRC and C3D: joints as markers in mm, world frame with {up} up (--up), feet on the floor")
    written.append(write_viewer(out_dir / "viewer.html", poses, confidence_h36m, video, title=Path(source).name))
    frame = representative_frame(confidence_h36m, poses.poses_3d)
    image = read_frame(video, frame) if video else None
    written.append(viz.save_figure(out_dir / "figure.png", keypoints.keypoints_2d[frame], keypoints.confidence[frame],
                                   poses.poses_3d[frame], keypoints.layout, image=image,
                                   title=f"{Path(source).name}, frame {frame}", image_size=keypoints.image_size))
    if animation:
        frames = None
        if video:                    # the full-resolution overlay, then the side-by-side animation
            from tqdm import tqdm

            def progress_frames(what: str):
                return tqdm(read_frames(video, keypoints.num_frames), total=keypoints.num_frames, unit="frame",
                            desc=f"{what} {Path(video).name}", disable=not progress, leave=False)

            if overlay:
                written.append(viz.save_overlay(out_dir / "overlay.mp4", progress_frames("overlay"),
                                                keypoints.keypoints_2d, keypoints.confidence, keypoints.layout,
                                                fps=keypoints.fps))
            frames = progress_frames("render")
        written.append(viz.save_animation(out_dir / "animation.mp4", keypoints.keypoints_2d, keypoints.confidence,
                                          poses.poses_3d, keypoints.layout, video_frames=frames,
                                          fps=keypoints.fps, image_size=keypoints.image_size,
                                          title=Path(source).name))
    return TrackResult(poses, lines, written)
