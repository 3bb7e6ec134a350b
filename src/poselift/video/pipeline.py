"""``poselift video``: every video end to end (detection and tracking, then the shared pipeline of
:mod:`poselift.pipeline`), and with a calibration the multi-view comparison (:mod:`poselift.multiview`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from poselift.errors import PoseliftError
from poselift.io.records import Keypoints2D, Poses3D
from poselift.pipeline import DEFAULT_SMOOTHING_S, lift_track, resolve_fps
from poselift.video.tracking import DetectionReport, detect_video


@dataclass
class ViewResult:
    """Everything one video gave: its 2D track, smoothed 3D poses, reports and the files written."""

    video: Path
    keypoints: Keypoints2D
    poses: Poses3D
    detection: DetectionReport
    lines: list[str]
    written: list[Path] = field(default_factory=list)


def process_video(video: str | os.PathLike, out_dir: Path, lifter, model_name: str, person: str | int = "largest",
                  max_gap: int = 10, animation: bool = True, max_frames: int | None = None,
                  smoothing_s: float = DEFAULT_SMOOTHING_S, progress: bool = True,
                  fps: float | None = None) -> ViewResult:
    """Detect and track the person, then lift, smooth and write every output of one video into ``out_dir``
    (which must exist): ``keypoints_2d.json`` (the MediaPipe track) and :func:`poselift.pipeline.lift_track`'s.
    ``fps`` overrides the video's own frame rate."""
    from poselift.io.poselift_format import write_keypoints_2d

    video = Path(video)
    keypoints, detection = detect_video(video, person, max_frames, progress)
    track_fps, fps_source = resolve_fps(fps, keypoints)
    if fps is None and track_fps is not None:
        fps_source = "the video"
    write_keypoints_2d(out_dir / "keypoints_2d.json", keypoints)
    track = lift_track(keypoints, lifter, model_name, out_dir, source=str(video), max_gap=max_gap,
                       smoothing_s=smoothing_s, fps=track_fps, fps_source=fps_source, video=video,
                       animation=animation, progress=progress, meta={"video": str(video), "person": str(person)})
    written = [out_dir / "keypoints_2d.json"] + track.written
    return ViewResult(video, keypoints, track.poses, detection, [detection.summary()] + track.lines, written)


def run_video(videos: list[str | os.PathLike], out_dir: str | os.PathLike, calibration: str | os.PathLike | None = None,
              person: str | int = "largest", model: str | os.PathLike = "default", force: bool = False,
              animation: bool = True, max_gap: int = 10, max_frames: int | None = None,
              smoothing_s: float = DEFAULT_SMOOTHING_S, progress: bool = True, echo=print,
              fps: float | None = None, device: str = "cpu") -> list[ViewResult]:
    """``poselift video``: every video end to end, then (with a calibration) the multi-view check.

    Everything that can be checked before the work starts is, so that nothing is written then:
    MediaPipe installed, the options, every video readable, the calibration matching the videos,
    the model loading, the output folder free (or ``force``).
    """
    from poselift.fileio import prepare_output_dir
    from poselift.lift import load_model
    from poselift.video.detection import import_mediapipe
    from poselift.video.reading import probe_video

    import_mediapipe()
    if max_frames is not None and max_frames < 1:
        raise PoseliftError(f"--max-frames must be at least 1, got {max_frames}")
    if max_gap < 0:
        raise PoseliftError(f"--max-gap must be 0 or more, got {max_gap}")
    if not smoothing_s >= 0:
        raise PoseliftError(f"--smooth must be 0 (off) or more seconds, got {smoothing_s}")
    if fps is not None and not fps > 0:
        raise PoseliftError(f"--fps must be a positive number, got {fps}")
    videos = [Path(video) for video in videos]
    infos = [probe_video(video) for video in videos]
    names = [video.stem for video in videos]
    if len(set(names)) != len(names):
        raise PoseliftError("videos must have different file names (each gets a subfolder named after it): "
                            + ", ".join(str(video) for video in videos))
    cameras = None
    if calibration is not None:
        from poselift.multiview import cameras_for_videos

        cameras, notes = cameras_for_videos(calibration, infos)
        for note in notes:
            echo(note)
    for info in infos:
        if info.fps is None and fps is None:
            echo(f"{info.path.name}: the video gives no frame rate; outputs use an assumed 30 fps (set --fps)")
    lifter = load_model(model, device=device)
    model_name = str(model)
    out_dir = prepare_output_dir(out_dir, force=force)

    results = []
    for video, name in zip(videos, names):
        view_dir = out_dir if len(videos) == 1 else out_dir / name
        view_dir.mkdir(parents=True, exist_ok=True)
        result = process_video(video, view_dir, lifter, model_name, person, max_gap, animation, max_frames,
                               smoothing_s, progress, fps)
        for line in result.lines:
            echo(line)
        for path in result.written:
            echo(f"wrote {path}")
        results.append(result)
    if cameras is not None:
        from poselift.multiview import compare_views

        summary = compare_views(results, cameras, out_dir, calibration)
        for line in summary.lines:
            echo(line)
        for path in summary.written:
            echo(f"wrote {path}")
    return results
