"""MediaPipe Pose on whole frames and tiles: finding the people in an image.

MediaPipe Pose (``mediapipe==0.10.14``, the legacy ``mediapipe.solutions.pose`` solution with its full
model, ``model_complexity=1``, which ships in the wheel, so it runs offline) finds 33 landmarks of one
person per image; a landmark's confidence is its MediaPipe *visibility*. :func:`find_people` finds
several: single-image detection on the whole frame and on square tiles along its long side; every
person found is greyed out and the search goes on, so small people in the background are found too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Iterator, TextIO

import numpy as np

from poselift.errors import PoseliftError

MEDIAPIPE_VERSION = "0.10.14"
MISSING_MEDIAPIPE = 'poselift video needs MediaPipe, which is not installed: pip install "poselift[video]"'
MEDIAPIPE_LAYOUT = "mediapipe33"
NUM_LANDMARKS = 33

_MASK_GREY = 128
_MASK_MARGIN = 0.15          # a found person is greyed out over their box grown by this fraction
_MAX_PEOPLE = 6


def import_mediapipe():
    """The ``mediapipe`` module; a one-line PoseliftError telling how to install it if it is missing."""
    try:
        import mediapipe
    except ImportError:
        raise PoseliftError(MISSING_MEDIAPIPE) from None
    return mediapipe


@contextlib.contextmanager
def mediapipe_logs_hidden() -> Iterator[TextIO]:
    """Hide MediaPipe's C++ log lines (TensorFlow Lite, absl) while it runs; yield the real stderr.

    Those lines are written straight to file descriptor 2, some from MediaPipe's own threads at
    any moment, so descriptor 2 points to /dev/null for the whole block. The yielded text stream
    writes to the real stderr: give it to progress bars. Python's ``sys.stderr`` is flushed before
    and after; it is restored with the descriptor on the way out.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    real_stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield real_stderr
    finally:
        real_stderr.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class MediaPipePose:
    """MediaPipe Pose on RGB images: 33 landmarks in pixels with visibilities.

    Args:
        static_image_mode: True = every image on its own (person detector each time, for the
            search); False = tracking (the detector only when the person is lost; landmarks
            smoothed over time by MediaPipe).
    """

    def __init__(self, static_image_mode: bool):
        mediapipe = import_mediapipe()
        self._pose = mediapipe.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1,
                                                   smooth_landmarks=True, enable_segmentation=False)

    def detect(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Landmarks of the person in ``image_rgb`` ((H, W, 3) uint8), or None when there is nobody.

        Returns:
            ``(keypoints_2d (33, 2) px in this image, x right, y down; visibility (33,) in [0, 1])``.
        """
        image = np.ascontiguousarray(image_rgb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # protobuf deprecation notes from MediaPipe
            result = self._pose.process(image)
        if result.pose_landmarks is None:
            return None
        height, width = image.shape[:2]
        values = np.array([(mark.x, mark.y, mark.visibility) for mark in result.pose_landmarks.landmark])
        return values[:, :2] * np.array([width, height]), np.clip(values[:, 2], 0.0, 1.0)

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> "MediaPipePose":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------
# Boxes and people


def person_box(keypoints_2d: np.ndarray) -> np.ndarray:
    """(4,) ``(x0, y0, x1, y1)`` px around (33, 2) landmarks."""
    return np.concatenate([keypoints_2d.min(axis=0), keypoints_2d.max(axis=0)])


def box_iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    width = max(0.0, min(first[2], second[2]) - max(first[0], second[0]))
    height = max(0.0, min(first[3], second[3]) - max(first[1], second[1]))
    intersection = width * height
    union = np.prod(first[2:] - first[:2]) + np.prod(second[2:] - second[:2]) - intersection
    return float(intersection / union) if union > 0 else 0.0


def _clip_box(box: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    return np.clip(box, 0, [image_size[0], image_size[1], image_size[0], image_size[1]])


def _grown_box(box: np.ndarray, fraction: float) -> np.ndarray:
    margin = fraction * (box[2:] - box[:2])
    return np.concatenate([box[:2] - margin, box[2:] + margin])


def _grey_out(image: np.ndarray, boxes: list[np.ndarray], offset=(0, 0)) -> np.ndarray:
    """A copy of ``image`` with each box (full-frame px, shifted by ``-offset``) filled with grey."""
    image = image.copy()
    for box in boxes:
        x0, y0, x1, y1 = np.round(_grown_box(box, _MASK_MARGIN) - np.tile(offset, 2)).astype(int)
        image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = _MASK_GREY
    return image


@dataclass(frozen=True)
class Person:
    """One person found by :func:`find_people`: keypoints_2d (33, 2) px, confidence (33,), box (4,)."""

    keypoints_2d: np.ndarray
    confidence: np.ndarray
    box: np.ndarray


def _search_regions(image_size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The whole frame, then square tiles (side = short side) overlapping by half along the long side."""
    width, height = image_size
    side = min(width, height)
    long_side = max(width, height)
    starts = sorted({*range(0, max(long_side - side, 0) + 1, max(side // 2, 1)), max(long_side - side, 0)})
    tiles = [(start, 0, start + side, side) if width > height else (0, start, side, start + side) for start in starts]
    return [(0, 0, width, height)] + ([] if len(tiles) == 1 else tiles)


def find_people(image_rgb: np.ndarray, detector: MediaPipePose, max_people: int = _MAX_PEOPLE) -> list[Person]:
    """Everybody MediaPipe finds in one image (a single-image ``detector``).

    MediaPipe returns one person per image: each person found is greyed out and the image searched
    again, on the whole frame and then on square tiles (so that people small in a tall or wide
    frame are seen at a larger scale).

    Returns:
        Up to ``max_people`` people, keypoints in the image's pixels.
    """
    height, width = image_rgb.shape[:2]
    people: list[Person] = []
    for x0, y0, x1, y1 in _search_regions((width, height)):
        while len(people) < max_people:
            view = _grey_out(image_rgb[y0:y1, x0:x1], [person.box for person in people], offset=(x0, y0))
            found = detector.detect(view)
            if found is None:
                break
            keypoints = found[0] + np.array([x0, y0])
            box = person_box(keypoints)
            if any(box_iou(box, person.box) > 0.5 for person in people):
                break  # the same person again (partly greyed out): nothing new in this region
            people.append(Person(keypoints, found[1], box))
    return people
