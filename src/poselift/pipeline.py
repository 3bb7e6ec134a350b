"""After the 2D, one pipeline for every input (``poselift lift`` on a keypoint file, ``poselift video``):

1. **Left/right swaps** (:func:`poselift.swaps.undo_swaps`): where the detector gave a limb group
   the other side's labels for a while, they are swapped back (``swap_fix``; ``--no-swap-fix`` keeps
   them); the frames changed are said in the notes and stored in the metadata.
2. **Lifting** (:func:`poselift.lift.lift_keypoints`): the track's layout becomes H36M-17, gaps of at
   most ``max_gap`` frames are interpolated, the model lifts every frame. A model that reads the
   camera gets the track's intrinsics (:func:`poselift.intrinsics.intrinsics_for_track`: ``--focal``,
   else the calibrated or the file's camera, else a default from the image size); a note says which.
3. **Smoothing** (:func:`smooth_poses`): a Savitzky-Golay filter along time (a least-squares
   quadratic over a centred window of ``smoothing_s`` seconds, 0.2 by default: it does not lag and
   keeps the peaks of a motion better than a moving average), on each run of lifted frames.
4. **One skeleton** (:func:`fit_skeleton`): every bone set to the clip's median length, left and
   right alike (:func:`poselift.export.skeleton_bone_lengths`), the skeleton the BVH plays, so every
   file holds the same joints (``fixed_bones``; ``--free-bones`` keeps the lifted lengths).
   Steps 1, 3 and 4 need a time series: a track without a frame rate (e.g. unrelated images, maybe
   of different people) is lifted frame by frame only.
5. **Outputs**, all at the track's frame rate (:func:`resolve_fps`: ``--fps``, else the file's, else
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from poselift.errors import PoseliftError, ShapeError
from poselift.io.records import Keypoints2D, Poses3D

if TYPE_CHECKING:
    from poselift.swaps import SwapReport

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


def fit_skeleton(poses_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The poses on the clip's one skeleton.

    Args:
        poses_mm: (T, 17, 3) mm, H36M-17; NaN frames stay NaN.
    Returns:
        ``(fitted (T, 17, 3) float32, bone_lengths_mm (17,) from``
        :func:`poselift.export.skeleton_bone_lengths` ``, mean distance (mm) the joints moved)``.
    """
    from poselift.export import fixed_length_positions, skeleton_bone_lengths

    lengths = skeleton_bone_lengths(poses_mm)
    fitted = fixed_length_positions(poses_mm, lengths)
    moved = np.linalg.norm(fitted - poses_mm, axis=-1)
    return fitted.astype(np.float32), lengths, float(np.nanmean(moved)) if np.isfinite(moved).any() else 0.0


def skeleton_meta(lengths_mm: np.ndarray, fitted: bool) -> dict:
    """JSON-ready record of the skeleton: each bone's length (mm, named by its child joint) and whether
    the poses were fitted to it."""
    from poselift.skeleton import H36M17

    return {"bone_lengths_mm": {name: round(float(length), 2) for name, length, parent
                                in zip(H36M17.joint_names, lengths_mm, H36M17.parents) if parent >= 0},
            "poses_fitted": fitted,
            "rule": "median over frames of each bone (parent to the named joint), left and right averaged"}


@dataclass
class TrackResult:
    """What :func:`lift_track` made: the 3D poses (smoothed, on one skeleton), report lines, the files
    written, the 2D track as lifted (after the orientation check and the swap fix) and the swap report
    (None when the fix was off or the track is not a time series)."""

    poses: Poses3D
    lines: list[str]
    written: list[Path] = field(default_factory=list)
    keypoints: Keypoints2D | None = None
    swaps: SwapReport | None = None


def video_frames(video: str | os.PathLike, frames: int, what: str, progress: bool):
    """The first ``frames`` RGB frames of ``video``, with a progress bar named ``what`` when ``progress``."""
    from tqdm import tqdm

    from poselift.video.reading import read_frames

    return tqdm(read_frames(video, frames, ahead=4), total=frames, unit="frame", desc=f"{what} {Path(video).name}",
                disable=not progress, leave=False)


def write_overlay(path: Path, video: str | os.PathLike, keypoints: Keypoints2D, progress: bool = False) -> Path:
    """``overlay.mp4``: the 2D skeleton of ``keypoints`` drawn on the video's frames at full resolution."""
    from poselift import viz

    return viz.save_overlay(path, video_frames(video, keypoints.num_frames, "overlay", progress),
                            keypoints.keypoints_2d, keypoints.confidence, keypoints.layout, fps=keypoints.fps)


def root_trajectory(poses_mm: np.ndarray, keypoints_h36m: np.ndarray, confidence_h36m: np.ndarray,
                    keypoints: Keypoints2D, frame: str, intrinsics, focal_px: float | None, window: int,
                    source: str) -> tuple[np.ndarray | None, dict]:
    """The root's path in the camera frame for the exports, estimated from one view
    (:func:`poselift.root_position.estimate_root_positions`), smoothed like the poses.

    Args:
        poses_mm: (T, 17, 3) the clip's root-relative poses, mm, camera frame. keypoints_h36m,
            confidence_h36m: their 2D (T, 17, 2) px and (T, 17). keypoints: the track (image size,
            camera). frame: the poses' frame. intrinsics: the camera the lifter read, or None (then
            :func:`poselift.intrinsics.intrinsics_for_track` decides). window: smoothing frames.
    Returns:
        ``((T, 3) mm or None, metadata with a one-line "summary")``: None where the poses are not in the
        camera frame or neither an image size nor a camera is known.
    """
    from poselift.intrinsics import intrinsics_for_track
    from poselift.root_position import estimate_root_positions

    if frame != "camera":
        return None, {"estimated": False, "summary": f"the exports keep the root at the origin (poses in the {frame} "
                                                     "frame)"}
    if intrinsics is None:
        try:
            intrinsics, _ = intrinsics_for_track(keypoints.image_size, focal_px, keypoints.camera, source)
        except PoseliftError:
            return None, {"estimated": False, "summary": "the exports keep the root at the origin: no image size "
                                                         "or camera to place the person with (--image-size)"}
    root = estimate_root_positions(poses_mm, keypoints_h36m, confidence_h36m, intrinsics)
    root = smooth_poses(root[:, None], window)[:, 0]
    depth = float(np.nanmedian(root[:, 2])) if np.isfinite(root[:, 2]).any() else float("nan")
    summary = (f"the exports move the root along its path, estimated from this one view (median distance from "
               f"the camera {depth / 1000:.1f} m; {intrinsics.describe()}): it scales with the skeleton's size and "
               "the focal length, so read it as an estimate")
    return root, {"estimated": True, "method": "single view: least squares of the 2D rays and the 3D pose",
                  "camera": intrinsics.describe(), "median_distance_mm": round(depth, 1), "summary": summary}


def lift_track(keypoints: Keypoints2D, lifter, model_name: str, out_dir: Path, *, source: str,
               max_gap: int = 10, smoothing_s: float = DEFAULT_SMOOTHING_S, fps: float | None = None,
               fps_source: str = "the input",
               video: str | os.PathLike | None = None, animation: bool = True, progress: bool = False,
               orientation: str = "auto", up: str = "y", overlay: bool = True, bvh_unit: str = "m",
               meta: dict | None = None, swap_fix: bool = True, fixed_bones: bool = True,
               focal_px: float | None = None, panel_video: str | os.PathLike | None = None) -> TrackResult:
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
        swap_fix: undo the detector's left/right swaps first (:func:`poselift.swaps.undo_swaps`).
        fixed_bones: fit the poses to the clip's one skeleton (:func:`fit_skeleton`) after smoothing.
        Both apply to a time series only (``fps`` given).
        focal_px: ``--focal``, the camera's focal length in px, for a model that reads the camera (the
            track's ``camera``, when it has one, is used otherwise; a note says what was assumed).
        panel_video: the video's frames already shrunk to the animation's panel
            (:class:`poselift.viz.OverlayWriter`'s ``panel_path``), read instead of ``video`` for the animation.
    """
    from poselift import viz
    from poselift.conventions import check_upright
    from poselift.export import export_bvh, export_c3d, export_trc, world_positions, write_csv
    from poselift.intrinsics import intrinsics_for_track
    from poselift.io.c3d import MISSING_EZC3D
    from poselift.io.poselift_format import write_poses_3d
    from poselift.lift import lift_keypoints, representative_frame
    from poselift.export import skeleton_bone_lengths
    from poselift.swaps import undo_swaps
    from poselift.video.reading import read_frame
    from poselift.viewer import write_viewer

    if not smoothing_s >= 0:
        raise PoseliftError(f"--smooth must be 0 (off) or more seconds, got {smoothing_s}")
    keypoints = replace(keypoints, fps=fps or ASSUMED_FPS)
    keypoints = check_upright(keypoints, orientation, source)
    swaps = None
    if swap_fix and fps:
        keypoints, swaps = undo_swaps(keypoints, Path(source).name)
    intrinsics = None
    if lifter.reads_intrinsics:
        intrinsics, note = intrinsics_for_track(keypoints.image_size, focal_px, keypoints.camera, source)
        keypoints = replace(keypoints, notes=keypoints.notes + (note,))
    elif focal_px is not None:
        keypoints = replace(keypoints, notes=keypoints.notes + (
            f"--focal not used for lifting: model {model_name} does not read the camera (its 2D input is normalised "
            "per pose or in pixels); only the exports' root path reads it",))
    poses, lift_report, (keypoints_h36m, confidence_h36m) = lift_keypoints(keypoints, lifter, model_name, max_gap,
                                                                           source, intrinsics)
    if lift_report.frames_not_lifted == lift_report.frames:
        raise PoseliftError(f"{source}: no frame can be lifted: every frame lacks the pelvis "
                            "(both hips missing or NaN), which the 2D normalisation needs")
    window = smoothing_window(fps, smoothing_s) if fps else 1
    smoothing = {"filter": "savitzky-golay", "window_frames": window, "polyorder": SAVGOL_POLYORDER}
    poses_3d = smooth_poses(poses.poses_3d, window)
    fitted = bool(fixed_bones and fps)
    if fitted:
        poses_3d, lengths, moved_mm = fit_skeleton(poses_3d)
    else:
        lengths = skeleton_bone_lengths(poses_3d)            # what the BVH plays
    trajectory, trajectory_meta = root_trajectory(poses_3d, keypoints_h36m, confidence_h36m, keypoints, poses.frame,
                                                  intrinsics, focal_px, window, source)
    poses = replace(poses, poses_3d=poses_3d,
                    meta={**poses.meta, "source": source, **(meta or {}), "notes": list(keypoints.notes),
                          "fps_source": fps_source if fps else f"assumed {ASSUMED_FPS:g} (the input gives none)",
                          "smoothing": smoothing if window > 1 else None,
                          "left_right_swaps": swaps.to_meta() if swaps else None,
                          "skeleton": skeleton_meta(lengths, fitted),
                          "root_trajectory": trajectory_meta,
                          "exports": {"world_json_csv_trc_c3d_frame": f"world, {up} up, feet on the floor, mm",
                                      "bvh_frame": f"Y up, {bvh_unit} (BVH's usual rest frame)"}})
    rate = (f"{fps:g} fps (from {fps_source})" if fps
            else f"no frame rate given: outputs at an assumed {ASSUMED_FPS:g} fps, not smoothed (set --fps)")
    lines = [f"note: {note}" for note in keypoints.notes]
    if swaps is not None and not swaps.frames_changed.any():
        lines.append(swaps.summary())
    lines.append(lift_report.summary() + f"; {rate}"
                 + (f", smoothed over {window} frames ({window / fps:.2f} s)" if window > 1 else ""))
    if fitted:
        lines.append(f"one skeleton: every bone at the clip's median length, left and right alike; the joints "
                     f"moved {moved_mm:.1f} mm on average (--free-bones keeps the lifted lengths)")
    lines.append(trajectory_meta["summary"])
    exported = poses if trajectory is None else replace(poses, poses_3d=poses.poses_3d + trajectory[:, None])

    written = [out_dir / "poses_3d.npz", out_dir / "poses_3d.json"]
    for path in written:
        write_poses_3d(path, poses)
    try:
        lines.append(export_bvh(out_dir / "poses_3d.bvh", exported, bvh_unit, lengths).summary())
        written.append(out_dir / "poses_3d.bvh")
    except ShapeError as error:                  # a BVH needs one complete pose to build its skeleton
        lines.append(f"no BVH: {error}")
    world = replace(exported, poses_3d=world_positions(exported.poses_3d, exported.frame, up, exported.up),
                    frame="world", up=up)
    write_poses_3d(out_dir / "poses_3d_world.json", world)
    written += [out_dir / "poses_3d_world.json", write_csv(out_dir / "poses_3d.csv", exported, up),
                export_trc(out_dir / "poses_3d.trc", exported, up)]
    try:
        written.append(export_c3d(out_dir / "poses_3d.c3d", exported, up))
    except PoseliftError as error:
        if str(error) != MISSING_EZC3D:
            raise
        lines.append(f"no C3D: {MISSING_EZC3D}")
    lines.append(f"CSV, TRC and C3D: joints as markers in mm, world frame with {up} up (--up), feet on the floor")
    written.append(write_viewer(out_dir / "viewer.html", poses, confidence_h36m, video, title=Path(source).name))
    frame = representative_frame(confidence_h36m, poses.poses_3d)

    def save_figure() -> Path:
        image = read_frame(video, frame) if video else None
        return viz.save_figure(out_dir / "figure.png", keypoints.keypoints_2d[frame], keypoints.confidence[frame],
                               poses.poses_3d[frame], keypoints.layout, image=image,
                               title=f"{Path(source).name}, frame {frame}", image_size=keypoints.image_size)

    # The figure is drawn in a second thread while the videos render: most of their time is spent where
    # Python's lock is free (decoding, OpenCV's drawing, ffmpeg in its own process).
    figure_at = len(written)
    with ThreadPoolExecutor(max_workers=1) as background:
        figure = background.submit(save_figure)
        if animation:
            frames = None
            if video:                    # the full-resolution overlay, then the side-by-side animation
                if overlay:
                    written.append(write_overlay(out_dir / "overlay.mp4", video, keypoints, progress))
                frames = video_frames(panel_video or video, keypoints.num_frames, "render", progress)
            written.append(viz.save_animation(out_dir / "animation.mp4", keypoints.keypoints_2d, keypoints.confidence,
                                              poses.poses_3d, keypoints.layout, video_frames=frames,
                                              fps=keypoints.fps, image_size=keypoints.image_size,
                                              title=Path(source).name,
                                              video_size=keypoints.image_size if video and panel_video else None))
        written.insert(figure_at, figure.result())
    return TrackResult(poses, lines, written, keypoints, swaps)
