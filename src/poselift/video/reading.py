"""Reading videos with OpenCV: what a file says about itself, and its frames as RGB arrays.

The one frame reader of poselift (``poselift video``, and the video drawn under ``poselift lift
--video``): frames are decoded in order, which is exact for any codec.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from poselift.errors import FormatError


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself. fps is None when the container gives no usable rate."""

    path: Path
    width: int
    height: int
    fps: float | None
    frame_count: int | None  # as stored in the container (may be approximate)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.width, self.height


def _open_capture(path: Path):
    import cv2

    if not path.is_file():
        raise FormatError(path, "no such video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise FormatError(path, "cannot read this video (not a video, or a format OpenCV's FFmpeg cannot decode)")
    return capture


# Still images OpenCV also opens as a one-frame "video": they have no frame rate (OpenCV reports 25).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count of a video; decodes its first frame to be sure it is readable.
    A still image (:data:`IMAGE_SUFFIXES`) is one frame without a frame rate.

    Raises:
        FormatError: no such file, not a video, or no frame can be decoded.
    """
    import cv2

    path = Path(path)
    capture = _open_capture(path)
    try:
        ok, frame = capture.read()
        if not ok or frame is None:
            raise FormatError(path, "cannot read this video: no frame could be decoded")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    height, width = frame.shape[:2]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return VideoInfo(path, width, height, None, 1)
    usable_fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else None
    return VideoInfo(path, width, height, usable_fps, frame_count if frame_count > 0 else None)


def read_frames(path: str | os.PathLike, max_frames: int | None = None, ahead: int = 0) -> Iterator[np.ndarray]:
    """The frames of a video as RGB ``(H, W, 3)`` uint8 arrays, at most ``max_frames`` of them.

    ``ahead`` > 0: a background thread decodes up to that many frames ahead of the caller (OpenCV
    decodes without holding Python's lock), so decoding overlaps the caller's own work, e.g. MediaPipe.
    """
    frames = _decoded_frames(Path(path), max_frames)
    return _produced_ahead(frames, ahead) if ahead > 0 else frames


def _decoded_frames(path: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    import cv2

    capture = _open_capture(path)
    try:
        index = 0
        while max_frames is None or index < max_frames:
            ok, frame_bgr = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


_END = object()


def _produced_ahead(items: Iterator, ahead: int) -> Iterator:
    """``items``, produced by a background thread at most ``ahead`` items before they are taken; an
    error of the producer is raised in the caller, and a caller that stops early stops the producer."""
    import queue
    import threading

    produced: "queue.Queue" = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                produced.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_END)
        except BaseException as error:            # raised again in the caller's thread
            hand_over(error)
        finally:
            items.close()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := produced.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def read_frame(path: str | os.PathLike, index: int) -> np.ndarray:
    """Frame ``index`` (from 0) of a video as RGB (H, W, 3) uint8, read in order (exact for any codec)."""
    frames = read_frames(path, index + 1)
    try:
        for number, frame in enumerate(frames):
            if number == index:
                return frame
    finally:
        frames.close()
    raise FormatError(path, f"has no frame {index}")
