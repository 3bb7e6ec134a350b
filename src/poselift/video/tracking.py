"""Following one person through a video: the choice (``--person``) and MediaPipe's tracker on a crop.

- *choice* (``--person``): ``largest`` (largest box, the default), ``central`` (box centre nearest the
  image centre) or ``N`` (the N-th person from the left, counting from 1), on the first frame where
  the search (:func:`~poselift.video.detection.find_people`) finds anybody;
- *tracking*: MediaPipe's own tracker then runs on a crop around that person (1.5 times their box,
  moved only when they near its edge), with the other people greyed out on the first frame. A frame
  whose result is not near the person's last box counts as lost; the next frame searches again and
  takes the person nearest the last box (after a second without them, the person ``--person`` picks).

A frame without the person has NaN joints with confidence 0.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from poselift.errors import FormatError, PoseliftError
from poselift.io.people import pick_by_rule
from poselift.io.records import Keypoints2D
from poselift.video.detection import (MEDIAPIPE_LAYOUT, NUM_LANDMARKS, MediaPipePose, Person, _clip_box, _grey_out,
                                      box_iou, find_people, mediapipe_logs_hidden, person_box)
from poselift.video.reading import probe_video, read_frames
from poselift.wording import count

PERSON_RULES = ("largest", "central")

_CROP_SCALE = 1.5            # tracking crop side / the person's box side
_CROP_EDGE = 0.05            # move the crop when the box comes this close (fraction of its side) to its edge
_SAME_PERSON_IOU = 0.2
_RESELECT_AFTER_S = 1.0      # lost for longer than this: pick the person again by the --person rule


def choose_person(people: list[Person], rule: str | int, image_size: tuple[int, int]) -> int | None:
    """Index in ``people`` of the person ``rule`` picks (None: nobody, or fewer than N people).

    ``largest``: largest box inside the image; ``central``: box centre nearest the image centre;
    N: the N-th from the left (box centres), counting from 1.
    """
    return pick_by_rule([_clip_box(person.box, image_size) for person in people], rule, image_size)


def _is_same_person(last_box: np.ndarray, box: np.ndarray, frames_lost: int, fps: float) -> bool:
    """A box belongs to the tracked person: it overlaps the last box, or its centre is within
    half a box size of it (plus a box size per second lost)."""
    if box_iou(last_box, box) >= _SAME_PERSON_IOU:
        return True
    size = float(np.max(last_box[2:] - last_box[:2]))
    distance = float(np.linalg.norm((box[:2] + box[2:]) / 2 - (last_box[:2] + last_box[2:]) / 2))
    return distance <= size * (0.5 + frames_lost / fps)


def _crop_around(box: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(4,) int crop ``(x0, y0, x1, y1)``: a square of 1.5 times the box's long side around its centre,
    inside the image."""
    side = max(_CROP_SCALE * float(np.max(box[2:] - box[:2])), 64.0)
    centre = (box[:2] + box[2:]) / 2
    crop = np.concatenate([centre - side / 2, centre + side / 2])
    return np.round(_clip_box(crop, image_size)).astype(int)


def _needs_new_crop(box: np.ndarray, crop: np.ndarray, image_size: tuple[int, int]) -> bool:
    """The person came near an edge of the crop that is not the image's edge, or shrank a lot."""
    side = float(np.max(crop[2:] - crop[:2]))
    margin = _CROP_EDGE * side
    limits = np.array([0, 0, image_size[0], image_size[1]])
    near_low = (box[:2] < crop[:2] + margin) & (crop[:2] > limits[:2])
    near_high = (box[2:] > crop[2:] - margin) & (crop[2:] < limits[2:])
    shrank = float(np.max(box[2:] - box[:2])) < 0.4 * side  # the crop starts at 1 / 1.5 = 0.67
    return bool(near_low.any() or near_high.any() or shrank)


class PersonTracker:
    """Follows one person through the frames of a video (see the module doc).

    Args:
        person: ``largest``, ``central`` or N (see :func:`choose_person`).
        image_size: (width, height) px. fps: frames per second (for the time-based rules).
    """

    def __init__(self, person: str | int, image_size: tuple[int, int], fps: float):
        self.person = person
        self.image_size = image_size
        self.fps = fps
        self.searches = 0
        self.most_people = 0
        self._searcher = MediaPipePose(static_image_mode=True)
        self._tracker: MediaPipePose | None = None
        self._box: np.ndarray | None = None       # the person's box in the last frame they were seen
        self._crop: np.ndarray | None = None
        self._frames_lost = 0
        self._found_once = False

    def _acquire(self, image: np.ndarray) -> tuple[Person, list[Person]] | None:
        people = find_people(image, self._searcher)
        self.searches += 1
        self.most_people = max(self.most_people, len(people))
        if not people:
            return None
        if not self._found_once or self._frames_lost > _RESELECT_AFTER_S * self.fps:
            index = choose_person(people, self.person, self.image_size)
        else:
            near = [i for i, person in enumerate(people)
                    if _is_same_person(self._box, person.box, self._frames_lost, self.fps)]
            index = min(near, key=lambda i: np.linalg.norm(people[i].box - self._box)) if near else None
        if index is None:
            return None
        return people[index], [person for i, person in enumerate(people) if i != index]

    def update(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The tracked person's ``(keypoints_2d (33, 2) px, confidence (33,))`` in this frame, or None."""
        others: list[Person] = []
        if self._tracker is None:
            acquired = self._acquire(image_rgb)
            if acquired is None:
                return self._lost()
            target, others = acquired
            self._tracker = MediaPipePose(static_image_mode=False)
            self._crop = _crop_around(target.box, self.image_size)
            self._box = target.box
        elif _needs_new_crop(self._box, self._crop, self.image_size):
            self._crop = _crop_around(self._box, self.image_size)
        x0, y0, x1, y1 = self._crop
        view = image_rgb[y0:y1, x0:x1]
        if others:
            view = _grey_out(view, [person.box for person in others], offset=(x0, y0))
        found = self._tracker.detect(view)
        if found is None:
            return self._lost()
        keypoints = found[0] + np.array([x0, y0])
        box = person_box(keypoints)
        if not _is_same_person(self._box, box, 0, self.fps):
            return self._lost()  # MediaPipe jumped to someone else
        self._box, self._frames_lost, self._found_once = box, 0, True
        return keypoints, found[1]

    def _lost(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        self._frames_lost += 1
        return None

    def close(self) -> None:
        self._searcher.close()
        if self._tracker is not None:
            self._tracker.close()


@dataclass
class DetectionReport:
    video: str
    frames: int
    frames_with_person: int
    searches: int
    most_people: int
    mean_confidence: float
    seconds: float
    fps: float | None

    def summary(self) -> str:
        rate = f"{self.fps:g} fps" if self.fps else "unknown frame rate (30 fps assumed for outputs)"
        return (f"{self.video}: {count(self.frames, 'frame')} at {rate}; the person was found in {self.frames_with_person} "
                f"(up to {count(self.most_people, 'person', 'people')} seen, {count(self.searches, 'search', 'searches')}), "
                f"mean confidence "
                f"{self.mean_confidence:.2f}; detection {self.frames / max(self.seconds, 1e-9):.1f} frames/s")


def detect_video(path: str | os.PathLike, person: str | int = "largest", max_frames: int | None = None,
                 progress: bool = True, on_frame=None) -> tuple[Keypoints2D, DetectionReport]:
    """MediaPipe landmarks of one tracked person in every frame of a video.

    ``on_frame(frame_rgb (H, W, 3), keypoints (33, 2) px or NaN, confidence (33,))`` is called after each
    frame, e.g. to draw and encode the overlay video while the next frames are tracked
    (:class:`poselift.viz.OverlayWriter`: it draws in its own thread, ffmpeg encodes in its own
    process); the tracker is done with the frame then, so the callback may keep it and draw on it.

    Returns:
        ``Keypoints2D`` (keypoints_2d (T, 33, 2) px, NaN where the person was not found;
        confidence (T, 33), 0 there; layout mediapipe33; the video's image_size and fps) and a report.
    Raises:
        PoseliftError: unreadable video, MediaPipe missing, or the person never found.
    """
    from tqdm import tqdm

    info = probe_video(path)
    total = info.frame_count if max_frames is None else min(max_frames, info.frame_count or max_frames)
    keypoints, confidence = [], []
    started = time.perf_counter()
    with mediapipe_logs_hidden() as real_stderr:
        tracker = PersonTracker(person, info.image_size, info.fps or 30.0)
        try:
            frames = tqdm(read_frames(info.path, max_frames, ahead=4), total=total, unit="frame", file=real_stderr,
                          desc=f"detect {info.path.name}", disable=not progress, leave=False)
            for frame in frames:
                found = tracker.update(frame)
                keypoints.append(found[0] if found else np.full((NUM_LANDMARKS, 2), np.nan))
                confidence.append(found[1] if found else np.zeros(NUM_LANDMARKS))
                if on_frame is not None:
                    on_frame(frame, keypoints[-1], confidence[-1])
        finally:
            tracker.close()
    seconds = time.perf_counter() - started
    if not keypoints:
        raise FormatError(info.path, "cannot read this video: no frame could be decoded")
    keypoints_2d = np.asarray(keypoints, dtype=np.float32)
    confidence = np.asarray(confidence, dtype=np.float32)
    found = np.isfinite(keypoints_2d).all(axis=(1, 2))
    if not found.any():
        who = "nobody" if isinstance(person, str) else f"no person {person} from the left"
        raise PoseliftError(f"{info.path}: MediaPipe found {who} in any of the {count(len(found), 'frame')} "
                            f"(at most {count(tracker.most_people, 'person', 'people')} in a frame)")
    record = Keypoints2D(keypoints_2d=keypoints_2d, confidence=confidence, layout=MEDIAPIPE_LAYOUT,
                         image_size=info.image_size, fps=info.fps)
    report = DetectionReport(info.path.name, len(found), int(found.sum()), tracker.searches, tracker.most_people,
                             float(confidence[found].mean()), seconds, info.fps)
    return record, report
