"""Lifting 2D keypoint files to 3D: the inference API behind ``poselift lift`` and ``poselift demo``.

What happens to an input, in order:

1. Read any supported 2D file (:func:`poselift.io.load_keypoints_2d`) and convert its layout to
   H36M-17 (:func:`poselift.skeleton.to_h36m17`: derived joints, minimum confidences, NaN stays NaN).
2. Missing joints (NaN or confidence 0): a gap of at most ``max_gap`` frames between two detections
   of the same joint is filled by linear interpolation in time (the filled joint gets half the
   lower confidence of its two neighbours); longer gaps stay missing. The report says how many.
3. The model (:func:`resolve_model`: ``default`` is the camera-aware temporal model for a time
   series, the camera-aware single-frame model for single frames, the per-pose one for a track whose
   camera and image size are unknown) lifts every frame in large batches; a temporal
   model (``poselift train temporal``) is given the whole track as one sequence and lifts it with
   its sliding windows (:mod:`poselift.models.temporal`). A model with the camera-aware encoding
   (``input_normalization="camera"``) reads the rays of the keypoints, from the camera's intrinsics
   (:func:`poselift.intrinsics.intrinsics_for_track`: ``--focal``, the calibration or the file's
   camera, else a default from the image size, said in the notes); one with the per-pose encoding
   normalises each pose on its own (root-centred, divided by its RMS joint distance), so image size,
   resolution and aspect ratio do not matter. A joint still missing is replaced by its training
   mean; a frame whose pelvis (from both hips) is missing cannot be normalised and is returned as NaN.
4. Then the pipeline every input shares (:mod:`poselift.pipeline`): smoothing of a time series,
   ``poses_3d.npz`` / ``.json`` ((T, 17, 3) mm, camera frame, root-relative), BVH, CSV, a PNG figure
   and an animation (mp4, or gif without an H.264 encoder), all at the track's frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from poselift.errors import PoseliftError
from poselift.fileio import prepare_output_dir
from poselift.io.records import Keypoints2D, Poses3D
from poselift.pipeline import DEFAULT_SMOOTHING_S
from poselift.skeleton import H36M17, to_h36m17
from poselift.wording import count

DEFAULT_MODEL = "default"
# Models shipped inside the package, by the name `--model` accepts (model cards: docs/default_model.md, docs/temporal.md).
SHIPPED_MODELS = {"camera": "camera.pt", "pose": "pose.pt", "temporal": "temporal.pt"}
# What "default" stands for (resolve_model): the camera-aware temporal model for a time series, the
# camera-aware single-frame model for single frames (and for load_model()), and the per-pose model for a
# track whose camera is unknown (no calibration, no camera of its own, no image size).
DEFAULT_SHIPPED, DEFAULT_SEQUENCE, DEFAULT_FALLBACK = "camera", "temporal", "pose"


def model_name(model: str | Path) -> str:
    """The name a model is reported by: "default" is the shipped model it stands for; others unchanged."""
    return DEFAULT_SHIPPED if str(model) == DEFAULT_MODEL else str(model)


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of a model shipped inside the package (a name of :data:`SHIPPED_MODELS`, or "default")."""
    file_name = SHIPPED_MODELS[model_name(name)]
    return Path(str(resources.files("poselift") / "assets" / "models" / file_name))


def default_model_path() -> Path:
    """Path of the default model shipped inside the package (the camera-aware one)."""
    return shipped_model_path(DEFAULT_MODEL)


def load_model(model: str | Path = DEFAULT_MODEL, device: str = "cpu"):
    """Load a lifting model: a shipped one by name or a checkpoint path.

    The shipped ones: ``"default"`` = ``"camera"`` here (single frames; reads the camera, so ``lift``
    needs ``intrinsics=``, e.g. ``poselift.intrinsics.Intrinsics.for_image_size((width, height))``;
    the lift and video commands take ``"temporal"`` for a time series, :func:`resolve_model`),
    ``"pose"`` (single frames, each pose normalised on its own: needs no camera) and ``"temporal"``
    (whole tracks; reads the camera like ``"camera"``).

    The returned model has ``lift(keypoints_2d (..., 17, 2) px, confidence=None, intrinsics=None) ->
    (..., 17, 3) mm`` taking and returning numpy arrays or tensors.
    """
    from poselift.checkpoint import load_model as load_checkpoint_model

    shipped = model_name(model) in SHIPPED_MODELS
    path = shipped_model_path(model_name(model)) if shipped else Path(model)
    if shipped and not path.exists():
        raise PoseliftError(f"{path}: the shipped {model!r} model is missing from this installation")
    return load_checkpoint_model(path, map_location=device)


def resolve_model(model: str | Path, camera_known: bool, time_series: bool) -> tuple[str, str | None]:
    """Which model lifts a track: ``(model, note or None)``.

    ``"default"`` stands for the camera-aware models, which need the track's camera or at least its
    image size (:func:`poselift.intrinsics.intrinsics_for_track`): the temporal one for a time series
    (a track with a frame rate), the single-frame one otherwise. A track whose camera is unknown is
    lifted with the per-pose model, and the note says so. Any other model is kept.
    """
    if str(model) != DEFAULT_MODEL:
        return model_name(model), None
    if camera_known:
        return (DEFAULT_SEQUENCE if time_series else DEFAULT_SHIPPED), None
    return DEFAULT_FALLBACK, (f"model: the default models read the camera, and this input gives neither its image "
                              f"size nor a camera: lifted with the per-pose model '{DEFAULT_FALLBACK}' instead "
                              f"(give --image-size WIDTH HEIGHT, and --focal PX if known, for the default "
                              f"'{DEFAULT_SEQUENCE if time_series else DEFAULT_SHIPPED}' model)")


def model_for_track(model: str | Path, keypoints: Keypoints2D, time_series: bool,
                    focal_px: float | None = None) -> tuple[str, str | None]:
    """:func:`resolve_model` for a 2D track: its camera is known from the track's own camera, its image
    size or ``--focal`` (which then asks for the image size itself)."""
    camera_known = keypoints.camera is not None or keypoints.image_size is not None or focal_px is not None
    return resolve_model(model, camera_known, time_series)


def fill_short_gaps(keypoints_2d: np.ndarray, confidence: np.ndarray, max_gap: int = 10):
    """Fill gaps of at most ``max_gap`` frames in each joint's track by linear interpolation.

    Args:
        keypoints_2d: (T, J, 2) px, NaN where missing. confidence: (T, J); 0 = missing.

    Returns:
        ``(keypoints (T, J, 2), confidence (T, J), filled (T, J) bool)``; new arrays.
    """
    keypoints = keypoints_2d.astype(np.float32, copy=True)
    confidence = confidence.astype(np.float32, copy=True)
    missing = ~np.isfinite(keypoints).all(-1) | (confidence <= 0)
    filled = np.zeros_like(missing)
    frames = np.arange(len(keypoints))
    for joint in np.flatnonzero(missing.any(0) & (~missing).any(0)):      # a loop over joints, frames at once
        seen = ~missing[:, joint]
        seen_frames = frames[seen]
        previous = np.searchsorted(seen_frames, frames, side="right") - 1     # last seen frame before
        following = np.searchsorted(seen_frames, frames, side="left")        # first seen frame after
        inside = (previous >= 0) & (following < len(seen_frames))
        gap = np.where(inside, seen_frames[np.clip(following, 0, len(seen_frames) - 1)]
                       - seen_frames[np.clip(previous, 0, len(seen_frames) - 1)] - 1, np.iinfo(np.int64).max)
        fill = missing[:, joint] & inside & (gap <= max_gap)
        if not fill.any():
            continue
        for axis in range(2):
            keypoints[fill, joint, axis] = np.interp(frames[fill], seen_frames, keypoints[seen, joint, axis])
        neighbour_confidence = np.minimum(confidence[seen_frames[previous[fill]], joint],
                                          confidence[seen_frames[following[fill]], joint])
        confidence[fill, joint] = 0.5 * neighbour_confidence
        filled[fill, joint] = True
    return keypoints, confidence, filled


@dataclass
class LiftReport:
    frames: int
    frames_not_lifted: int
    joints_filled: int
    joints_missing: int
    model: str

    def summary(self) -> str:
        return (f"lifted {self.frames - self.frames_not_lifted}/{count(self.frames, 'frame')} with model {self.model}; "
                f"{count(self.joints_filled, 'missing joint')} filled by interpolation, {self.joints_missing} left missing"
                + (f"; {count(self.frames_not_lifted, 'frame')} without a pelvis: NaN" if self.frames_not_lifted else ""))


def lift_keypoints(keypoints: Keypoints2D, model, model_name: str = "", max_gap: int = 10,
                   source: str = "keypoints", intrinsics=None):
    """Lift a 2D track of any layout -> ``(Poses3D, LiftReport, (keypoints_h36m (T,17,2), confidence (T,17)))``.

    The declared layout is checked against the anatomy first
    (:func:`poselift.conventions.check_layout_anatomy`; ``source`` names the track in its message).
    ``intrinsics``: the track's camera (:class:`poselift.intrinsics.Intrinsics`), for a model that
    reads it (``model.reads_intrinsics``).
    """
    from poselift.conventions import check_layout_anatomy

    check_layout_anatomy(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout, source)
    keypoints_h36m, confidence_h36m = to_h36m17(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout)
    keypoints_h36m, confidence_h36m, filled = fill_short_gaps(keypoints_h36m, confidence_h36m, max_gap)
    visible_confidence = np.where(np.isfinite(keypoints_h36m).all(-1), confidence_h36m, 0.0).astype(np.float32)
    camera = {"intrinsics": intrinsics} if model.reads_intrinsics else {}
    poses = model.lift(np.nan_to_num(keypoints_h36m), visible_confidence, **camera)
    poses = np.asarray(poses, dtype=np.float32)
    not_lifted = ~np.isfinite(poses).all(axis=(-1, -2))
    still_missing = ~np.isfinite(keypoints_h36m).all(-1) | (confidence_h36m <= 0)
    report = LiftReport(len(poses), int(not_lifted.sum()), int(filled.sum()), int(still_missing.sum()), model_name)
    record = Poses3D(poses_3d=poses, joint_names=H36M17.joint_names, frame=model.output_frame, fps=keypoints.fps,
                     layout="h36m17", meta={"model": model_name, "root_relative": True, "units": "mm"})
    return record, report, (keypoints_h36m, confidence_h36m)


def representative_frame(confidence: np.ndarray, poses: np.ndarray) -> int:
    """The frame with the highest mean confidence among lifted frames (for the still figure)."""
    score = np.where(np.isfinite(poses).all(axis=(-1, -2)), np.nan_to_num(confidence).mean(-1), -1.0)
    return int(np.argmax(score))


def lift_file(input_path: str | Path, out_dir: str | Path, model: str | Path = DEFAULT_MODEL, force: bool = False,
              video: str | Path | None = None, animation: bool = True, max_gap: int = 10,
              read_options: dict | None = None, fps: float | None = None,
              smoothing_s: float = DEFAULT_SMOOTHING_S, orientation: str = "auto",
              image_size: tuple[int, int] | None = None, device: str = "cpu",
              up: str = "y", bvh_unit: str = "m", swap_fix: bool = True,
              fixed_bones: bool = True, focal_px: float | None = None) -> tuple[list[str], list[Path]]:
    """Lift a 2D keypoint file and write every output of :func:`poselift.pipeline.lift_track` into ``out_dir``.

    ``read_options`` go to the reader (e.g. ``subject``, ``action``, ``camera`` for a VideoPose3D file);
    ``fps`` overrides the file's frame rate (else the file's, else ``video``'s); ``image_size``
    (width, height) px the file's (needed to scale normalised coordinates); ``orientation`` says which
    way y points (:func:`poselift.conventions.check_upright`); ``device`` where the model runs;
    ``swap_fix`` undoes the detector's left/right swaps and ``fixed_bones`` puts the poses on one
    skeleton (both for a time series: :func:`poselift.pipeline.lift_track`); ``focal_px`` the
    camera's focal length for a model that reads the camera (``--focal``).
    Returns the report lines and the files written.
    """
    from poselift.io import load_keypoints_2d
    from poselift.pipeline import lift_track, resolve_fps
    from poselift.video.reading import probe_video

    from poselift.conventions import pixels_from_normalised

    keypoints = load_keypoints_2d(input_path, **(read_options or {}))
    if len(keypoints.keypoints_2d) == 0:
        raise PoseliftError(f"{input_path}: holds no frames")
    if image_size is not None:
        keypoints = replace(keypoints, image_size=tuple(image_size))
    keypoints = pixels_from_normalised(keypoints, str(input_path))
    video_fps = probe_video(video).fps if video else None
    track_fps, fps_source = resolve_fps(fps, keypoints, video_fps)
    name, model_note = model_for_track(model, keypoints, track_fps is not None, focal_px)
    if model_note:
        keypoints = replace(keypoints, notes=keypoints.notes + (model_note,))
    lifter = load_model(name, device=device)
    lifter = lifter.fuse_for_inference()           # e.g. BatchNorm folded into the Linears: same poses, faster
    out_dir = prepare_output_dir(out_dir, force=force)
    track = lift_track(keypoints, lifter, name, out_dir, source=str(input_path), max_gap=max_gap,
                       smoothing_s=smoothing_s, fps=track_fps, fps_source=fps_source, video=video,
                       animation=animation, orientation=orientation, up=up, bvh_unit=bvh_unit,
                       meta={"input": str(input_path)}, swap_fix=swap_fix, fixed_bones=fixed_bones,
                       focal_px=focal_px)
    return track.lines, track.written


def bundled_sample() -> tuple[Path, Path]:
    """(2D keypoints json, video) of the bundled sample: MediaPipe on Pose2Sim's cam01 (BSD 3-Clause)."""
    folder = Path(str(resources.files("poselift") / "assets" / "sample"))
    return folder / "cam01_mediapipe33.json", folder / "cam01.mp4"


def run_demo(out_dir: str | Path, force: bool = False, model: str | Path = DEFAULT_MODEL):
    """Lift the bundled sample with the default model (the README's first command)."""
    keypoints_path, video_path = bundled_sample()
    return lift_file(keypoints_path, out_dir, model=model, force=force, video=video_path)

