"""Make poselift's bundled sample: MediaPipe Pose 2D keypoints of one real video, computed once.

Reads a video, runs MediaPipe Pose (the ``mediapipe.solutions.pose`` tracker, whose models ship in
the mediapipe wheel) on every frame, and writes

- ``<out>/<video stem>_mediapipe33.json``: poselift's 2D keypoint file (``keypoints_2d`` (T, 33, 2)
  px with NaN written as null, ``confidence`` (T, 33) = MediaPipe's landmark visibility,
  ``layout`` "mediapipe33", ``image_size`` [width, height], ``fps``), written by
  ``poselift.io.poselift_format.write_keypoints_2d``;
- ``<out>/<video name>``: a copy of the video.

Frames where MediaPipe finds nobody get NaN keypoints and confidence 0. Pixels are stored to 1/8 px
and confidences to 1/256: both exact in float32, so the JSON stays short, and far below the
detector's own noise. Run it with a Python that has poselift and ``mediapipe==0.10.14`` (``pip install
poselift[video]``); the bundled sample was made in a virtual environment of its own holding both::

    python scripts/make_bundled_sample.py \\
        --video ../shared/data/pose2sim/videos/cam01.mp4 --out src/poselift/assets/sample
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from poselift.fileio import atomic_path
from poselift.io.poselift_format import write_keypoints_2d
from poselift.io.records import Keypoints2D

MEDIAPIPE_NUM_LANDMARKS = 33


def detect_keypoints(
    video_path: Path, model_complexity: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], float]:
    """Run MediaPipe Pose on every frame of ``video_path``.

    Returns:
        keypoints_2d (T, 33, 2) float32 px (x right, y down; NaN where nobody was found),
        confidence (T, 33) float32 in [0, 1] (landmark visibility; 0 where nobody was found),
        image_size (width, height) px, fps.
    """
    import mediapipe as mp

    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        sys.exit(f"{video_path}: cannot open the video")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    keypoints, visibility = [], []
    image_size = None
    with mp.solutions.pose.Pose(
        static_image_mode=False, model_complexity=model_complexity, enable_segmentation=False
    ) as pose:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            height, width = frame_bgr.shape[:2]
            image_size = (width, height)
            result = pose.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
            if result.pose_landmarks is None:
                keypoints.append(np.full((MEDIAPIPE_NUM_LANDMARKS, 2), np.nan))
                visibility.append(np.zeros(MEDIAPIPE_NUM_LANDMARKS))
                continue
            landmarks = result.pose_landmarks.landmark
            normalised = np.array([[landmark.x, landmark.y] for landmark in landmarks])
            keypoints.append(normalised * np.array([width, height]))
            visibility.append(np.array([landmark.visibility for landmark in landmarks]))
    capture.release()
    if image_size is None:
        sys.exit(f"{video_path}: no frame could be read")
    return (
        np.asarray(keypoints, dtype=np.float32),
        np.clip(np.asarray(visibility, dtype=np.float32), 0.0, 1.0),
        image_size,
        fps,
    )


def quantised(values: np.ndarray, steps_per_unit: int) -> np.ndarray:
    """``values`` rounded to a multiple of 1 / ``steps_per_unit`` (a power of two: exact in float32)."""
    return (np.round(values * steps_per_unit) / steps_per_unit).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True, help="input video (any format OpenCV reads)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--model-complexity", type=int, choices=(0, 1, 2), default=1,
        help="MediaPipe Pose model: 0 lite, 1 full, 2 heavy (only 1 ships in the wheel; 0 and 2 are downloaded)",
    )
    args = parser.parse_args(argv)

    keypoints_2d, confidence, image_size, fps = detect_keypoints(args.video, args.model_complexity)
    keypoints_path = args.out / f"{args.video.stem}_mediapipe33.json"
    keypoints = Keypoints2D(
        keypoints_2d=quantised(keypoints_2d, 8),
        confidence=quantised(confidence, 256),
        layout="mediapipe33",
        image_size=image_size,
        fps=fps,
    )
    write_keypoints_2d(keypoints_path, keypoints)
    video_copy = args.out / args.video.name
    with atomic_path(video_copy) as tmp:
        shutil.copyfile(args.video, tmp)

    detected = np.isfinite(keypoints.keypoints_2d).all(axis=(1, 2))
    confidence = keypoints.confidence
    print(f"frames: {len(detected)}  size: {image_size[0]}x{image_size[1]}  fps: {fps:g}")
    print(f"detection rate: {detected.mean():.1%} ({detected.sum()}/{len(detected)} frames)")
    if detected.any():
        print(f"mean confidence (detected frames): {confidence[detected].mean():.3f}")
    for path in (keypoints_path, video_copy):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
