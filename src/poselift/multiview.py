"""Several calibrated videos of one person: triangulation, and a check of single-view lifting against it.

``poselift video --calibration Calib.qca.txt cam01.mp4 cam02.mp4 ...`` lifts every video on its
own (:mod:`poselift.video`) and then:

1. **Cameras** (:func:`cameras_for_videos`): each video gets the calibration's camera of the same
   name (``cam01.mp4`` -> camera ``cam01``) or, when the names do not match, the camera in the
   same position in the file. A video whose size differs from its camera's is accepted when it
   is the calibrated image scaled (the intrinsics are scaled with it) or at most 2 % smaller on
   each side (a video encoder's crop, e.g. 1080 px wide against a 1088 px sensor: pixel
   coordinates are used unchanged, i.e. the video is taken as the sensor's top-left part; on
   Pose2Sim's demo, shifting it by 4 px moves the re-projection errors by about 1 px either way).
   The videos must have the same frame rate; the views are compared over their common frames.
2. **Triangulation** (:func:`triangulate_views`): first each view is checked against the others
   (:func:`poselift.view_check.check_views`: a RANSAC over pairs of views, per frame and limb group,
   with a left/right swap test), so a view whose labels are swapped is swapped back and a view that
   disagrees is left out; then the 33 MediaPipe landmarks of all views by
   :func:`poselift.camera.triangulate_dlt`, each view weighted by the landmark's confidence,
   then the H36M-17 joints derived from them in 3D (:func:`poselift.skeleton.to_h36m17`), world
   frame, mm. Its re-projection error into every view (over the joints it kept) is reported, with
   how many frames of each view were swapped back or left out.
3. **Agreement** (:func:`view_agreement`): each view's lifted poses (camera frame, root-relative)
   are turned into the world with that camera's rotation and put at the triangulated pelvis
   (:func:`lifted_to_world`); the distance to the triangulated joints is the root-aligned MPJPE.
   P-MPJPE (after the best rotation, translation and scale) separates the pose from the camera
   orientation and the body size; the bone-length ratio says how much of it is size.

Outputs (beside the views' subfolders): ``multiview.json`` (the numbers), ``triangulated_3d.npz``
and ``.json`` (H36M-17, world frame) and ``multiview.png`` (the skeletons at one frame and the
error of every view over time).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from poselift.camera import Camera, to_world_frame, triangulate_dlt
from poselift.errors import PoseliftError
from poselift.fileio import write_text_atomic
from poselift.io.records import Keypoints2D, Poses3D
from poselift.skeleton import H36M17, conversion_matrix, to_h36m17
from poselift.view_check import ViewCheck, check_views
from poselift.wording import count

CROP_TOLERANCE = 0.02        # a video up to 2 % smaller than its calibration on each side is a crop
SCALE_TOLERANCE = 0.005      # width and height scaled by the same factor, to 0.5 %
CONFIDENT = 0.5              # landmarks counted in the re-projection error


# ----------------------------------------------------------------------------------------------
# Cameras for the videos


def _camera_for_size(camera: dict, image_size: tuple[int, int], video: Path, calibration: Path) -> tuple[Camera, str | None]:
    """The calibration's camera dict as a :class:`Camera` for a video of ``image_size`` (width, height)."""
    width, height = image_size
    calibrated = (camera.get("width") or width, camera.get("height") or height)
    fields = {key: camera[key] for key in ("name", "fx", "fy", "cx", "cy", "k", "p", "R", "centre")}
    if (width, height) == calibrated:
        return Camera(**fields, width=width, height=height), None
    scale_x, scale_y = width / calibrated[0], height / calibrated[1]
    described = f"{video.name} is {width}x{height} px, its camera {camera['name']} {calibrated[0]}x{calibrated[1]} px"
    if abs(scale_x - scale_y) <= SCALE_TOLERANCE * scale_x:
        for key in ("fx", "cx"):
            fields[key] = camera[key] * scale_x
        for key in ("fy", "cy"):
            fields[key] = camera[key] * scale_y
        return Camera(**fields, width=width, height=height), f"{described}: intrinsics scaled by {scale_x:.4f}"
    if all(0 <= calibrated[axis] - image_size[axis] <= CROP_TOLERANCE * calibrated[axis] for axis in (0, 1)):
        note = f"{described}: taken as the calibrated image's top-left {width}x{height} px (pixels unchanged)"
        return Camera(**fields, width=width, height=height), note
    raise PoseliftError(f"{video}: {width}x{height} px does not fit camera {camera['name']} of {calibration} "
                        f"({calibrated[0]}x{calibrated[1]} px; neither a scaled copy nor a crop of at most "
                        f"{CROP_TOLERANCE:.0%})")


def cameras_for_videos(calibration: str | os.PathLike, videos: Sequence) -> tuple[list[Camera], list[str]]:
    """One calibrated camera per video, matched by name or else by position in the file.

    Args:
        calibration: a Qualisys ``.qca.txt`` file (:func:`poselift.io.qca.read_qca`).
        videos: :class:`poselift.video.reading.VideoInfo` of each video (path, size, fps).
    Returns:
        ``(cameras, notes)``: the cameras in the videos' order, sized to the videos, and one line per
        choice a user should know about (matching by order, a resized or cropped video).
    Raises:
        PoseliftError: fewer than 2 videos, a camera count that does not allow a match, a size that
        does not fit, or different frame rates.
    """
    from poselift.io.qca import read_qca

    calibration = Path(calibration)
    if len(videos) < 2:
        raise PoseliftError(f"{calibration}: triangulation needs at least 2 videos, got {len(videos)}")
    camera_dicts = read_qca(calibration)
    by_name = {camera["name"]: camera for camera in camera_dicts}
    notes = []
    if all(info.path.stem in by_name for info in videos):
        chosen = [by_name[info.path.stem] for info in videos]
    elif len(camera_dicts) == len(videos):
        chosen = camera_dicts
        notes.append(f"{calibration.name}: video file names are not camera names; cameras taken in file order: "
                     + ", ".join(f"{info.path.name} -> {camera['name']}" for info, camera in zip(videos, chosen)))
    else:
        raise PoseliftError(f"{calibration}: has {len(camera_dicts)} cameras ({', '.join(by_name)}) for "
                            f"{len(videos)} videos; name the videos after the cameras or give one video per camera")
    rates = {info.path.name: info.fps for info in videos}
    known = [rate for rate in rates.values() if rate is not None]
    if len(known) != len(rates) or max(known) - min(known) > 1e-3 * max(known):
        raise PoseliftError("the videos of a calibrated set must have the same frame rate, got "
                            + ", ".join(f"{name} {rate or 'unknown'} fps" for name, rate in rates.items()))
    cameras = []
    for info, camera in zip(videos, chosen):
        fitted, note = _camera_for_size(camera, info.image_size, info.path, calibration)
        cameras.append(fitted)
        if note:
            notes.append(note)
    return cameras, notes


# ----------------------------------------------------------------------------------------------
# Triangulation and agreement


@dataclass
class Triangulation:
    """landmarks_world (T, 33, 3) mm and poses_world (T, 17, 3) mm H36M-17, world frame (NaN: not
    seen with weight in two views); reprojection_px (V,) median re-projection error per view over
    the joints it kept; check: which views' labels were swapped back or left out
    (:class:`poselift.view_check.ViewCheck`, None when the views were not checked)."""

    landmarks_world: np.ndarray
    poses_world: np.ndarray
    reprojection_px: np.ndarray
    check: ViewCheck | None = None


def _common_frames(keypoints: Sequence[Keypoints2D]) -> int:
    return min(track.num_frames for track in keypoints)


def triangulate_views(keypoints: Sequence[Keypoints2D], cameras: Sequence[Camera], check: bool = True) -> Triangulation:
    """Triangulate the views' MediaPipe landmarks and derive H36M-17 joints in the world.

    Args:
        keypoints: V tracks (layout mediapipe33) of the same frames; the first T frames common to
            all are used. cameras: the V cameras, sized to the videos.
        check: first swap back each view's left/right labels where the others disagree and leave out
            the views that still disagree (:func:`poselift.view_check.check_views`); False: every
            view as it is (plain confidence-weighted DLT).
    """
    for track in keypoints:
        if track.layout != "mediapipe33":
            raise PoseliftError(f"triangulation takes mediapipe33 landmarks, got layout {track.layout!r}")
    frames = _common_frames(keypoints)
    points_px = np.stack([track.keypoints_2d[:frames] for track in keypoints]).astype(np.float64)  # (V, T, 33, 2)
    confidence = np.stack([track.confidence[:frames] for track in keypoints]).astype(np.float64)   # (V, T, 33)
    view_check = None
    if check:
        points_px, confidence, view_check = check_views(points_px, confidence, cameras, "mediapipe33")
    landmarks_world = triangulate_dlt(points_px, cameras, confidence)                              # (T, 33, 3)
    poses_world, _ = to_h36m17(landmarks_world, None, "mediapipe33")
    used = np.flatnonzero(np.abs(conversion_matrix("mediapipe33")).sum(0) > 0)                    # landmarks H36M-17 uses
    errors = []
    for view, camera in enumerate(cameras):
        projected = np.asarray(camera.project_world(landmarks_world[:, used]))
        distance = np.linalg.norm(projected - points_px[view][:, used], axis=-1)
        counted = np.isfinite(distance) & (confidence[view][:, used] >= CONFIDENT)
        errors.append(float(np.median(distance[counted])) if counted.any() else math.nan)
    return Triangulation(landmarks_world, poses_world, np.array(errors), view_check)


def lifted_to_world(poses_cam_mm: np.ndarray, camera: Camera, root_world_mm: np.ndarray) -> np.ndarray:
    """Root-relative camera-frame poses turned into the world and put at a given root.

    Args:
        poses_cam_mm: (T, J, 3) mm, camera frame, root at the origin. camera: the view's camera.
        root_world_mm: (T, 3) mm, world frame, where the root goes (the triangulated pelvis).
    Returns:
        (T, J, 3) mm, world frame: ``R^T pose + root``.
    """
    return to_world_frame(poses_cam_mm, camera.R, root_world_mm)


def _bone_length_sum(poses_mm: np.ndarray) -> np.ndarray:
    parents = np.array(H36M17.parents)
    children = np.flatnonzero(parents >= 0)
    return np.linalg.norm(poses_mm[..., children, :] - poses_mm[..., parents[children], :], axis=-1).sum(-1)


def view_agreement(lifted_world_mm: np.ndarray, triangulated_mm: np.ndarray) -> dict:
    """Distances between one view's lifted poses in the world and the triangulated poses.

    Args:
        lifted_world_mm, triangulated_mm: (T, 17, 3) mm, world frame, same root; frames with a NaN
            in either are left out.
    Returns:
        ``frames_compared``, ``mpjpe_mm`` (mean over frames and joints, root-aligned),
        ``median_frame_mpjpe_mm``, ``p_mpjpe_mm`` (after similarity alignment), ``bone_length_ratio``
        (lifted / triangulated skeleton size), ``per_joint_mm`` (mean per joint) and
        ``frame_mpjpe_mm`` ((T,) with NaN for frames left out).
    """
    from poselift.metrics import mpjpe, p_mpjpe

    both = np.isfinite(lifted_world_mm).all(axis=(1, 2)) & np.isfinite(triangulated_mm).all(axis=(1, 2))
    frame_error = np.full(len(both), np.nan)
    if not both.any():
        return {"frames_compared": 0, "mpjpe_mm": None, "median_frame_mpjpe_mm": None, "p_mpjpe_mm": None,
                "bone_length_ratio": None, "per_joint_mm": {}, "frame_mpjpe_mm": frame_error}
    lifted, triangulated = lifted_world_mm[both], triangulated_mm[both]
    frame_error[both] = mpjpe(lifted, triangulated)
    per_joint = np.linalg.norm(lifted - triangulated, axis=-1).mean(0)
    return {
        "frames_compared": int(both.sum()),
        "mpjpe_mm": float(frame_error[both].mean()),
        "median_frame_mpjpe_mm": float(np.median(frame_error[both])),
        "p_mpjpe_mm": float(np.mean(p_mpjpe(lifted, triangulated))),
        "bone_length_ratio": float(np.mean(_bone_length_sum(lifted)) / np.mean(_bone_length_sum(triangulated))),
        "per_joint_mm": {name: float(value) for name, value in zip(H36M17.joint_names, per_joint)},
        "frame_mpjpe_mm": frame_error,
    }


# ----------------------------------------------------------------------------------------------
# The multi-view step of ``poselift video``


@dataclass
class MultiviewSummary:
    report: dict
    lines: list[str]
    written: list[Path] = field(default_factory=list)


def _rounded(value, digits: int = 1):
    return None if value is None else round(float(value), digits)


def compare_views(results: Sequence, cameras: Sequence[Camera], out_dir: Path, calibration: str | os.PathLike,
                  up: str = "y", bvh_unit: str = "m") -> MultiviewSummary:
    """Triangulate the views of ``results`` (:class:`poselift.video.pipeline.ViewResult`), compare every view's
    lifted poses with it, and write ``multiview.json``, ``triangulated_3d.npz/json`` and ``multiview.png``,
    and the triangulated poses as BVH (``bvh_unit``, with the root's trajectory), CSV, TRC and C3D (world
    frame with ``up`` up: :mod:`poselift.export`)."""
    from poselift.io.poselift_format import write_poses_3d

    keypoints = [result.keypoints for result in results]
    frames = _common_frames(keypoints)
    fps = keypoints[0].fps
    triangulation = triangulate_views(keypoints, cameras)
    pelvis_world = triangulation.poses_world[:, H36M17.root_index]
    views, lifted_world, lines = [], [], []
    if any(track.num_frames != frames for track in keypoints):
        lines.append(f"views compared over their first {count(frames, 'frame')} (" + ", ".join(
            f"{result.video.name} {track.num_frames}" for result, track in zip(results, keypoints)) + ")")
    for number, (result, camera, reprojection) in enumerate(zip(results, cameras, triangulation.reprojection_px)):
        world = lifted_to_world(result.poses.poses_3d[:frames].astype(np.float64), camera, pelvis_world)
        agreement = view_agreement(world, triangulation.poses_world)
        lifted_world.append(world)
        checked = triangulation.check.view_counts(number)
        views.append({
            "video": str(result.video), "camera": camera.name, "image_size": list(result.keypoints.image_size),
            "reprojection_error_px": _rounded(reprojection), "triangulation_check": checked,
            **{key: (_rounded(value) if key.endswith("_mm") else value)
               for key, value in agreement.items() if key not in ("per_joint_mm", "frame_mpjpe_mm")},
            "bone_length_ratio": _rounded(agreement["bone_length_ratio"], 3),
            "per_joint_mm": {name: _rounded(value) for name, value in agreement["per_joint_mm"].items()},
            "frame_mpjpe_mm": [_rounded(value) if np.isfinite(value) else None for value in agreement["frame_mpjpe_mm"]],
        })
        lines.append(f"{result.video.name} (camera {camera.name}): triangulation swapped its left/right labels back "
                     f"in {count(checked['frames_swapped'], 'frame')} and left it out in "
                     f"{count(checked['frames_rejected'], 'frame')} ({count(checked['joints_rejected'], 'joint')}); "
                     f"re-projection {reprojection:.1f} px; lifted vs "
                     f"triangulated over {count(agreement['frames_compared'], 'frame')}: MPJPE "
                     f"{_format_mm(agreement['mpjpe_mm'])} root-aligned, P-MPJPE {_format_mm(agreement['p_mpjpe_mm'])}")
    report = {
        "calibration": str(calibration), "frames": frames, "fps": fps,
        "triangulation": "each view checked against the others per frame and limb group (RANSAC over pairs of "
                         "views with a left/right swap test: swapped labels swapped back, disagreeing views left "
                         "out), then confidence-weighted DLT of the 33 MediaPipe landmarks; H36M-17 joints "
                         "derived in 3D",
        "comparison": "each view's lifted poses (camera frame, root-relative, smoothed) rotated into the world "
                      "with its camera and put at the triangulated pelvis; MPJPE = mean joint distance (mm)",
        "frames_triangulated": int(np.isfinite(triangulation.poses_world).all(axis=(1, 2)).sum()),
        "views": views,
    }
    written = [out_dir / "multiview.json", out_dir / "triangulated_3d.npz", out_dir / "triangulated_3d.json"]
    write_text_atomic(written[0], json.dumps(report, indent=1) + "\n")
    triangulated = Poses3D(poses_3d=triangulation.poses_world.astype(np.float32), joint_names=H36M17.joint_names,
                           frame="world", fps=fps, layout="h36m17",
                           meta={"units": "mm", "calibration": str(calibration),
                                 "videos": [str(result.video) for result in results],
                                 "method": report["triangulation"]})
    write_poses_3d(written[1], triangulated)
    write_poses_3d(written[2], triangulated)
    if report["frames_triangulated"]:           # the best 3D poselift makes, in every export format
        from poselift.export import export_bvh, export_c3d, export_trc, write_csv
        from poselift.io.c3d import MISSING_EZC3D

        lines.append(export_bvh(out_dir / "triangulated_3d.bvh", triangulated, bvh_unit).summary()
                     + " (triangulated: the root's trajectory in the world)")
        written += [out_dir / "triangulated_3d.bvh", write_csv(out_dir / "triangulated_3d.csv", triangulated, up),
                    export_trc(out_dir / "triangulated_3d.trc", triangulated, up)]
        try:
            written.append(export_c3d(out_dir / "triangulated_3d.c3d", triangulated, up))
        except PoseliftError as error:
            if str(error) != MISSING_EZC3D:
                raise
    if report["frames_triangulated"]:
        from poselift.viz import save_multiview_figure

        written.append(save_multiview_figure(out_dir / "multiview.png", triangulation.poses_world, lifted_world,
                                             [view["camera"] for view in views],
                                             [np.array(view["frame_mpjpe_mm"], dtype=float) for view in views], fps))
    return MultiviewSummary(report, lines, written)


def _format_mm(value) -> str:
    return "n/a" if value is None else f"{value:.0f} mm"
