"""``poselift video``: every video end to end (detection and tracking, then the shared pipeline of
:mod:`poselift.pipeline`), and with a calibration the multi-view comparison (:mod:`poselift.multiview`)."""

from __future__ import annotations

import functools
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from poselift.errors import PoseliftError
from poselift.io.records import Keypoints2D, Poses3D
from poselift.lift import resolve_model
from poselift.pipeline import DEFAULT_SMOOTHING_S, lift_track, resolve_fps, write_overlay
from poselift.video.reading import probe_video
from poselift.video.tracking import DetectionReport, detect_video

if TYPE_CHECKING:
    from poselift.camera import Camera

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class ViewResult:
    """Everything one video gave: its 2D track, smoothed 3D poses, reports and the files written."""

    video: Path
    keypoints: Keypoints2D
    poses: Poses3D
    detection: DetectionReport
    lines: list[str]
    written: list[Path] = field(default_factory=list)


def process_video(video: str | os.PathLike, out_dir: Path, lifter, model_name: str, options: VideoOptions,
                  camera: Camera | None = None) -> ViewResult:
    """Detect and track ``options.person``, then lift, smooth and write every output of one video into
    ``out_dir`` (which must exist): ``keypoints_2d.json`` (the MediaPipe track, with its left/right swaps
    undone unless ``options.swap_fix`` is False) and :func:`poselift.pipeline.lift_track`'s.
    ``options.fps`` overrides the video's own frame rate. The overlay is drawn while MediaPipe tracks,
    and drawn again when the swap fix changed the track; the animation's video panel is kept from
    that same decoding, shrunk (a temporary file), so the video is decoded once. ``camera`` (the
    video's calibrated camera) and ``options.focal_px`` (``--focal``) serve a model that reads the
    camera."""
    from poselift.io.poselift_format import write_keypoints_2d

    from poselift.viz import OverlayWriter

    video = Path(video)
    with tempfile.TemporaryDirectory(prefix="poselift-") as scratch:
        overlay = panel_video = None
        if options.animation:      # drawn and encoded while MediaPipe tracks the next frames
            fps_hint = options.fps or probe_video(video).fps
            with OverlayWriter(out_dir / "overlay.mp4", "mediapipe33", fps_hint,
                               panel_path=Path(scratch) / "panel.mp4") as writer:
                keypoints, detection = detect_video(video, options.person, options.max_frames, options.progress,
                                                    on_frame=functools.partial(writer.write, copy=False))
            overlay, panel_video = writer.written, writer.panel_written
        else:
            keypoints, detection = detect_video(video, options.person, options.max_frames, options.progress)
        track_fps, fps_source = resolve_fps(options.fps, keypoints)
        if options.fps is None and track_fps is not None:
            fps_source = "the video"
        write_keypoints_2d(out_dir / "keypoints_2d.json", keypoints)
        track = lift_track(replace(keypoints, camera=camera), lifter, model_name, out_dir, source=str(video),
                           fps=track_fps, fps_source=fps_source, video=video, overlay=False, panel_video=panel_video,
                           meta={"video": str(video), "person": str(options.person)}, **options.track_arguments())
    keypoints = track.keypoints
    if track.swaps is not None and track.swaps.frames_changed.any():   # the labels as lifted
        write_keypoints_2d(out_dir / "keypoints_2d.json", keypoints)
        if overlay:
            overlay = write_overlay(overlay, video, keypoints, options.progress)
    written = [out_dir / "keypoints_2d.json"] + track.written + ([overlay] if overlay else [])
    return ViewResult(video, keypoints, track.poses, detection, [detection.summary()] + track.lines, written)


def run_video(videos: list[str | os.PathLike], out_dir: str | os.PathLike, calibration: str | os.PathLike | None = None,
              person: str | int = "largest", model: str | os.PathLike = "default", force: bool = False,
              animation: bool = True, max_gap: int = 10, max_frames: int | None = None,
              smoothing_s: float = DEFAULT_SMOOTHING_S, progress: bool = True, echo=print,
              fps: float | None = None, device: str = "cpu", up: str = "y", bvh_unit: str = "m",
              people: str = "one", jobs: int | None = None, swap_fix: bool = True,
              fixed_bones: bool = True, focal_px: float | None = None) -> list[ViewResult]:
    """``poselift video``: every video end to end, then (with a calibration) the multi-view check.

    ``videos``: files and folders (a folder stands for the videos in it, :func:`expand_videos`).
    ``people``: "one" (the person ``person`` picks, followed by MediaPipe's tracker) or "all" (everybody,
    each with an id, :mod:`poselift.video.people`: ``person_<id>/`` per person and ``people.png``).
    ``jobs``: videos processed at once without a calibration, one process each (default
    :func:`default_jobs`); their lines are printed as each video ends. ``swap_fix``: undo the
    detector's left/right swaps in each view (:mod:`poselift.swaps`); ``fixed_bones``: the poses on
    the clip's one skeleton (:func:`poselift.pipeline.fit_skeleton`). A model that reads the camera
    is given each video's calibrated camera (with ``calibration``), else ``focal_px`` (``--focal``)
    with the principal point at the image centre, else the default camera of the video's size.
    Without ``calibration`` each video is processed on its own: one that fails is reported (a FAILED
    line and its row of the summary table) and the others go on; the run then ends with an error
    naming the failed ones. With ``calibration`` the videos are one rig, and everything that can be
    checked before the work starts is (every video readable, the calibration matching them), so
    nothing is written then. Always checked first: MediaPipe installed, the options, the model
    loading, the output folder free (or ``force``).
    """
    from poselift.fileio import prepare_output_dir
    from poselift.video.detection import import_mediapipe

    import_mediapipe()
    if max_frames is not None and max_frames < 1:
        raise PoseliftError(f"--max-frames must be at least 1, got {max_frames}")
    if max_gap < 0:
        raise PoseliftError(f"--max-gap must be 0 or more, got {max_gap}")
    if not smoothing_s >= 0:
        raise PoseliftError(f"--smooth must be 0 (off) or more seconds, got {smoothing_s}")
    if fps is not None and not fps > 0:
        raise PoseliftError(f"--fps must be a positive number, got {fps}")
    if people not in ("one", "all"):
        raise PoseliftError(f"--people must be one or all, got {people!r}")
    if focal_px is not None and calibration is not None:
        raise PoseliftError("--focal and --calibration both give the camera: the calibration has every camera's "
                            "focal length; leave --focal out")
    if people == "all" and calibration is not None:
        raise PoseliftError("--people all lifts every person of each video on its own; the multi-view comparison "
                            "(--calibration) follows one person: use --person")
    videos = expand_videos(videos)
    names = [video.stem for video in videos]
    if len(set(names)) != len(names):
        raise PoseliftError("videos must have different file names (each gets a subfolder named after it): "
                            + ", ".join(str(video) for video in videos))
    cameras, failures = None, {}
    if calibration is not None:                 # one rig: every view is needed, so any problem stops the run
        from poselift.multiview import cameras_for_videos

        cameras, notes = cameras_for_videos(calibration, [probe_video(video) for video in videos])
        for note in notes:
            echo(note)
    load_lifter(resolve_model(model, camera_known=True, time_series=True)[0], device)   # loads (or fails) first
    out_dir = prepare_output_dir(out_dir, force=force)
    options = VideoOptions(person, people, str(model), device, max_gap, animation, max_frames, smoothing_s,
                           progress, fps, up, bvh_unit, swap_fix, fixed_bones, focal_px)
    jobs = 1 if cameras is not None or len(videos) == 1 else max(1, min(jobs or default_jobs(), len(videos)))
    tasks = [(video, out_dir if len(videos) == 1 else out_dir / name) for video, name in zip(videos, names)]
    if jobs == 1:
        view_cameras = cameras if cameras is not None else [None] * len(tasks)
        outcomes = (process_one(video, view_dir, options, camera)
                    for (video, view_dir), camera in zip(tasks, view_cameras))
    else:                                         # one process per video, as many at once as ``jobs``
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        echo(f"{len(videos)} videos, {jobs} at a time (one process each)")
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        quiet = replace(options, progress=False)
        outcomes = pool.map(process_one, [video for video, _ in tasks], [view_dir for _, view_dir in tasks],
                            [quiet] * len(tasks))
    results = []
    try:
        for (video, _), (lines, result, error) in zip(tasks, outcomes):
            for line in lines:
                echo(line)
            if error is not None:
                if cameras is not None:           # one rig: every view is needed
                    raise PoseliftError(error)
                failures[video] = error
            elif result is not None:
                results.append(result)
    finally:
        if jobs > 1:
            pool.shutdown()
    if cameras is not None:
        from poselift.multiview import compare_views

        summary = compare_views(results, cameras, out_dir, calibration, up=up, bvh_unit=bvh_unit)
        for line in summary.lines:
            echo(line)
        for path in summary.written:
            echo(f"wrote {path}")
    if len(videos) > 1 and people == "one":
        for line in summary_table(videos, results, failures, out_dir):
            echo(line)
    if failures:
        raise PoseliftError(f"{len(failures)} of {len(videos)} videos failed ("
                            + ", ".join(video.name for video in failures) + "); the others are in " + str(out_dir))
    return results


@dataclass(frozen=True)
class VideoOptions:
    """What :func:`process_one` does with each video (the options of ``poselift video``)."""

    person: str | int
    people: str
    model: str
    device: str
    max_gap: int
    animation: bool
    max_frames: int | None
    smoothing_s: float
    progress: bool
    fps: float | None
    up: str
    bvh_unit: str
    swap_fix: bool = True
    fixed_bones: bool = True
    focal_px: float | None = None

    def track_arguments(self) -> dict:
        """The keyword arguments of :func:`poselift.pipeline.lift_track` that come from these options."""
        return dict(max_gap=self.max_gap, smoothing_s=self.smoothing_s, animation=self.animation,
                    progress=self.progress, up=self.up, bvh_unit=self.bvh_unit, swap_fix=self.swap_fix,
                    fixed_bones=self.fixed_bones, focal_px=self.focal_px)


def default_jobs() -> int:
    """Videos processed at once by default: a quarter of the CPU cores (MediaPipe and ffmpeg use about
    two each, the lifting more), at least one: one at a time on this project's 2-core machines."""
    return max(1, (os.cpu_count() or 1) // 4)


@functools.lru_cache(maxsize=2)
def load_lifter(model: str, device: str):
    """The lifting model, loaded once per process."""
    from poselift.lift import load_model

    return load_model(model, device=device)


def process_one(video: Path, view_dir: Path, options: VideoOptions,
                camera: Camera | None = None) -> tuple[list[str], ViewResult | None, str | None]:
    """One video end to end, in this process or a worker's: ``(lines to print, its result or None, the
    error that stopped it or None)``; ``camera``: the video's calibrated camera, if any."""
    lines: list[str] = []
    started = time.perf_counter()
    try:
        info = probe_video(video)
        if info.fps is None and options.fps is None:
            lines.append(f"{video.name}: no frame rate in the file; outputs use an assumed 30 fps (set --fps)")
        view_dir.mkdir(parents=True, exist_ok=True)
        # a video's image size is known, so "default" is a camera-aware model: temporal with a frame rate
        name, _ = resolve_model(options.model, camera_known=True, time_series=(options.fps or info.fps) is not None)
        lifter = load_lifter(name, options.device)
        if options.people == "all":
            for line, path in process_everybody(video, view_dir, lifter, name, options):
                lines.append(line if path is None else f"wrote {path}")
            return lines + [f"{video.name}: done in {time.perf_counter() - started:.0f} s"], None, None
        result = process_video(video, view_dir, lifter, name, options, camera)
    except PoseliftError as error:
        return lines + [f"{video.name}: FAILED: {error}"], None, str(error)
    lines += result.lines + [f"wrote {path}" for path in result.written]
    return lines + [f"{video.name}: done in {time.perf_counter() - started:.0f} s"], result, None


def process_everybody(video: Path, out_dir: Path, lifter, model_name: str, options: VideoOptions):
    """Every person of one video (:func:`poselift.video.people.detect_everybody`), each lifted into
    ``out_dir/person_<id>/`` like a single-person run (no overlay video), and ``people.png`` showing who
    is who. Yields ``(line, None)`` to print and ``(None-free line, path)`` for each file written."""
    from poselift.io.poselift_format import write_keypoints_2d
    from poselift.video.people import detect_everybody, save_people_preview

    tracks = detect_everybody(video, options.max_frames, options.progress)
    yield f"{video.name}: {len(tracks)} people", None
    yield "", save_people_preview(out_dir / "people.png", video, tracks)
    for person, keypoints in enumerate(tracks):
        if np.isfinite(keypoints.keypoints_2d).all(axis=-1).any(axis=-1).sum() < 2:
            yield f"person {person}: seen in fewer than 2 frames, not lifted", None
            continue
        person_dir = out_dir / f"person_{person}"
        person_dir.mkdir(parents=True, exist_ok=True)
        track_fps, fps_source = resolve_fps(options.fps, keypoints)
        write_keypoints_2d(person_dir / "keypoints_2d.json", keypoints)
        try:
            track = lift_track(keypoints, lifter, model_name, person_dir, source=f"{video.name} person {person}",
                               fps=track_fps, fps_source=fps_source if options.fps is not None else "the video",
                               video=video, overlay=False, meta={"video": str(video), "person_id": person},
                               **options.track_arguments())
        except PoseliftError as error:           # e.g. never seen with a pelvis: the others go on
            yield f"person {person}: not lifted: {error}", None
            continue
        if track.swaps is not None and track.swaps.frames_changed.any():   # the labels as lifted
            write_keypoints_2d(person_dir / "keypoints_2d.json", track.keypoints)
        for line in track.lines:
            yield f"person {person}: {line}", None
        for path in [person_dir / "keypoints_2d.json", *track.written]:
            yield "", path


def expand_videos(paths) -> list[Path]:
    """The videos of ``paths``: files as given, folders replaced by the videos (and still images) in
    them, sorted by name. FormatError for a path that does not exist or a folder without any."""
    from poselift.errors import FormatError
    from poselift.video.reading import IMAGE_SUFFIXES

    videos = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(child for child in path.iterdir()
                           if child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES)
            if not found:
                raise FormatError(path, f"a folder without videos ({', '.join(VIDEO_SUFFIXES)})")
            videos += found
        elif path.exists():
            videos.append(path)
        else:
            raise FormatError(path, "no such video file or folder")
    return videos


def summary_table(videos: list[Path], results: list[ViewResult], failures: dict[Path, str], out_dir: Path) -> list[str]:
    """A markdown table, one row per video: frames, frames with the person, mean confidence, where or why not."""
    by_video = {result.video: result for result in results}
    lines = ["", "| video | frames | person found in | mean confidence | result |", "|---|---:|---:|---:|---|"]
    for video in videos:
        if video in by_video:
            detection = by_video[video].detection
            lines.append(f"| {video.name} | {detection.frames} | {detection.frames_with_person} | "
                         f"{detection.mean_confidence:.2f} | {out_dir / video.stem} |")
        else:
            lines.append(f"| {video.name} | | | | failed: {failures[video]} |")
    return lines
