"""Speed of the stages of ``poselift video`` on this CPU: decode, detect, lift, smooth + export, render.

Runs each stage on the first ``--frames`` frames of a real video (default: Pose2Sim's cam01,
1080 x 1920 px, 60 fps) and prints frames per second per stage:

- decode: reading the frames with OpenCV (part of every other stage's input);
- search: one people search (whole frame + square tiles, people greyed out in turn), which runs
  on the first frame and after the person is lost;
- detect: :func:`poselift.video.tracking.detect_video` end to end (decode, one search, MediaPipe tracking);
- lift: :func:`poselift.lift.lift_keypoints` with the default model (layout conversion, gap
  filling, one batched forward pass);
- smooth + export: Savitzky-Golay smoothing, BVH (rotations solved, written), CSV, TRC and the viewer page;
- overlay: the 2D drawn on the full-resolution frames and encoded (H.264), and the frames shrunk to
  the animation's panel and kept, while MediaPipe tracks, as ``poselift video`` does it
  (:class:`poselift.viz.OverlayWriter`): the time it adds to detection;
- render: :func:`poselift.viz.save_animation` from those shrunk frames (2D over the video beside the
  rotating 3D, H.264; OpenCV);
- whole: :func:`poselift.video.pipeline.process_video`, everything ``poselift video`` does for one
  video (detection with the overlay, swap fix, lifting, skeleton fit, every export, the figure and
  the animation), timed end to end, and its rate as a fraction of detection alone in the same run.

    python benchmarks/bench_video.py [--video ../shared/data/pose2sim/videos/cam01.mp4] [--frames 100] [--threads 1]

Needs the video extra (``pip install "poselift[video]"``).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim" / "videos" / "cam01.mp4"


def timed(function):
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=100, help="frames to process (default 100)")
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    args = parser.parse_args(argv)

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from poselift import viz
    from poselift.export import export_bvh, export_trc, write_csv
    from poselift.intrinsics import Intrinsics
    from poselift.lift import lift_keypoints, load_model, resolve_model
    from poselift.pipeline import DEFAULT_SMOOTHING_S, smooth_poses, smoothing_window
    from poselift.video.pipeline import VideoOptions, process_video
    from poselift.video.detection import MediaPipePose, find_people, import_mediapipe, mediapipe_logs_hidden
    from poselift.video.reading import probe_video, read_frames
    from poselift.video.tracking import detect_video
    from poselift.viewer import write_viewer

    mediapipe = import_mediapipe()
    info = probe_video(args.video)
    print(f"video {info.path.name}: {info.width}x{info.height} px, {info.fps:g} fps; first {args.frames} frames")
    print(f"CPU: {platform.processor() or platform.machine()}, threads {args.threads}; torch {torch.__version__}, "
          f"OpenCV {cv2.__version__}, MediaPipe {mediapipe.__version__}")

    rows = []
    def decode():
        first_frames, count = [], 0
        for frame in read_frames(info.path, args.frames):
            count += 1
            if len(first_frames) < 2:
                first_frames.append(frame)
        return first_frames, count

    seconds, (frames, count) = timed(decode)
    rows.append(("decode (OpenCV, RGB)", count, seconds))
    with mediapipe_logs_hidden(), MediaPipePose(static_image_mode=True) as searcher:
        find_people(frames[0], searcher)                      # MediaPipe's first call loads its models
        seconds, people = timed(lambda: find_people(frames[1], searcher))
    rows.append((f"people search (found {len(people)})", 1, seconds))
    detect_seconds, (keypoints, report) = timed(lambda: detect_video(info.path, max_frames=args.frames,
                                                                       progress=False))
    rows.append((f"detect (MediaPipe, {report.searches} search)", keypoints.num_frames, detect_seconds))
    name, _ = resolve_model("default", camera_known=True, time_series=True)     # as `poselift video` picks it
    model = load_model(name)
    camera = Intrinsics.for_image_size(info.image_size) if model.reads_intrinsics else None
    lift_keypoints(keypoints, model, name, intrinsics=camera)               # warm-up
    seconds, (poses, _, _) = timed(lambda: lift_keypoints(keypoints, model, name, intrinsics=camera))
    rows.append((f"lift (the default model, {name})", poses.num_frames, seconds))
    with tempfile.TemporaryDirectory() as folder:
        def smooth_and_export():
            smoothed = replace(poses, poses_3d=smooth_poses(poses.poses_3d, smoothing_window(info.fps or 30.0)))
            export_bvh(Path(folder) / "poses_3d.bvh", smoothed)
            write_csv(Path(folder) / "poses_3d.csv", smoothed, "y")
            export_trc(Path(folder) / "poses_3d.trc", smoothed)
            write_viewer(Path(folder) / "viewer.html", smoothed, None, info.path)
            return smoothed

        seconds, smoothed = timed(smooth_and_export)
        rows.append(("smooth + BVH, CSV, TRC, viewer", poses.num_frames, seconds))
        def detect_with_overlay():
            with viz.OverlayWriter(Path(folder) / "overlay.mp4", "mediapipe33", info.fps,
                                   panel_path=Path(folder) / "panel.mp4") as writer:
                detect_video(info.path, max_frames=args.frames, progress=False,
                             on_frame=lambda *frame: writer.write(*frame, copy=False))
            return writer.written, writer.panel_written

        overlapped, (path, panel) = timed(detect_with_overlay)
        rows.append((f"overlay ({path.suffix[1:]}, full res.), beyond detect", poses.num_frames,
                     max(overlapped - detect_seconds, 1e-3)))
        seconds, path = timed(lambda: viz.save_animation(
            Path(folder) / "animation.mp4", keypoints.keypoints_2d, keypoints.confidence, smoothed.poses_3d,
            "mediapipe33", video_frames=read_frames(panel or info.path, args.frames), fps=info.fps,
            video_size=info.image_size if panel else None))
        rows.append((f"render ({path.suffix[1:]}, 2D over video + 3D)", poses.num_frames, seconds))
        options = VideoOptions(person="largest", people="one", model="default", device="cpu", max_gap=10,
                               animation=True, max_frames=args.frames, smoothing_s=DEFAULT_SMOOTHING_S,
                               progress=False, fps=None, up="y", bvh_unit="m")
        whole_dir = Path(folder) / "whole"
        whole_dir.mkdir()
        whole_seconds, _ = timed(lambda: process_video(info.path, whole_dir, model, name, options))

    print()
    print(f"| {'stage':<40} | frames | seconds | frames/s |")
    print(f"|{'-' * 42}|-------:|--------:|---------:|")
    for name, count, seconds in rows:
        print(f"| {name:<40} | {count:>6} | {seconds:>7.2f} | {count / seconds:>8.1f} |")
    print(f"| {'all of poselift video, end to end':<40} | {poses.num_frames:>6} | {whole_seconds:>7.2f} | "
          f"{poses.num_frames / whole_seconds:>8.1f} |")
    print(f"\nThe whole command at {poses.num_frames / whole_seconds:.1f} frames/s = {detect_seconds / whole_seconds:.2f} "
          f"of detection and tracking alone ({poses.num_frames / detect_seconds:.1f} frames/s, same run); targets: "
          f"20 frames/s and 0.7.")


if __name__ == "__main__":
    main()
