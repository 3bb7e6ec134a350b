"""From a video to 3D poses: the ``poselift video`` command.

What happens to a video, in order:

1. **Detection** (:class:`PersonTracker`): MediaPipe Pose (``mediapipe==0.10.14``, the legacy
   ``mediapipe.solutions.pose`` solution with its full model, ``model_complexity=1``, which ships in
   the wheel, so it runs offline) finds 33 landmarks per frame; a landmark's confidence is its
   MediaPipe *visibility*. MediaPipe follows one person, so the choice of that person is ours:

   - *search* (:func:`find_people`): single-image detection on the whole frame and on square tiles
     along its long side; every person found is greyed out and the search goes on, so several
     people are found, small ones in the background too;
   - *choice* (``--person``): ``largest`` (largest box, the default), ``central`` (box centre
     nearest the image centre) or ``N`` (the N-th person from the left, counting from 1), on the
     first frame where the search finds anybody;
   - *tracking*: MediaPipe's own tracker then runs on a crop around that person (1.5 times their
     box, moved only when they near its edge), with the other people greyed out on the first
     frame. A frame whose result is not near the person's last box counts as lost; the next frame
     searches again and takes the person nearest the last box (after a second without them, the
     person that ``--person`` picks).

   A frame without the person has NaN joints with confidence 0.
2. **Layout and lifting** (:func:`poselift.lift.lift_keypoints`): the 33 landmarks become H36M-17
   joints; gaps of at most ``--max-gap`` frames are interpolated (the summary says how many joints
   were filled); the model (``--model``: the default model or a checkpoint) lifts every frame.
3. **Smoothing** (:func:`smooth_poses`): a Savitzky-Golay filter along time (a least-squares
   quadratic over a window of 0.2 s, centred, so it does not lag and keeps the peaks of a motion
   better than a moving average) on each run of lifted frames.
4. **Outputs** (in ``--out``; one subfolder per video when there are several): ``keypoints_2d.json``
   (poselift 2D, layout mediapipe33, the video's size and frame rate), ``poses_3d.npz`` /
   ``poses_3d.json`` ((T, 17, 3) mm, camera frame, root-relative, smoothed), ``poses_3d.bvh`` and
   ``poses_3d.csv`` (:mod:`poselift.export`), ``figure.png`` and ``animation.mp4`` (the 2D skeleton
   over the video beside the rotating 3D skeleton). Every output uses the video's own frame rate.
   With ``--calibration`` the views are also triangulated and compared (:mod:`poselift.multiview`).

Progress bars (tqdm) show frames per second of detection and of rendering.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, TextIO

import numpy as np

from poselift.errors import FormatError, PoseliftError
from poselift.io.records import Keypoints2D, Poses3D
from poselift.wording import count

MEDIAPIPE_VERSION = "0.10.14"
MISSING_MEDIAPIPE = 'poselift video needs MediaPipe, which is not installed: pip install "poselift[video]"'
MEDIAPIPE_LAYOUT = "mediapipe33"
NUM_LANDMARKS = 33
PERSON_RULES = ("largest", "central")
DEFAULT_SMOOTHING_S = 0.2
SAVGOL_POLYORDER = 2

_CROP_SCALE = 1.5            # tracking crop side / the person's box side
_CROP_EDGE = 0.05            # move the crop when the box comes this close (fraction of its side) to its edge
_MASK_GREY = 128
_MASK_MARGIN = 0.15          # a found person is greyed out over their box grown by this fraction
_SAME_PERSON_IOU = 0.2
_RESELECT_AFTER_S = 1.0      # lost for longer than this: pick the person again by the --person rule
_MAX_PEOPLE = 6


# ----------------------------------------------------------------------------------------------
# Reading videos


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


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count of a video; decodes its first frame to be sure it is readable.

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
    usable_fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else None
    return VideoInfo(path, width, height, usable_fps, frame_count if frame_count > 0 else None)


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The frames of a video as RGB ``(H, W, 3)`` uint8 arrays, at most ``max_frames`` of them."""
    import cv2

    capture = _open_capture(Path(path))
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


# ----------------------------------------------------------------------------------------------
# MediaPipe


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


def choose_person(people: list[Person], rule: str | int, image_size: tuple[int, int]) -> int | None:
    """Index in ``people`` of the person ``rule`` picks (None: nobody, or fewer than N people).

    ``largest``: largest box inside the image; ``central``: box centre nearest the image centre;
    N: the N-th from the left (box centres), counting from 1.
    """
    if not people:
        return None
    boxes = np.stack([_clip_box(person.box, image_size) for person in people])
    if rule == "largest":
        return int(np.argmax(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    if rule == "central":
        return int(np.argmin(np.linalg.norm(centres - np.array(image_size) / 2, axis=1)))
    order = np.argsort(centres[:, 0], kind="stable")
    return int(order[rule - 1]) if rule <= len(people) else None


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
                 progress: bool = True) -> tuple[Keypoints2D, DetectionReport]:
    """MediaPipe landmarks of one tracked person in every frame of a video.

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
            frames = tqdm(read_frames(info.path, max_frames), total=total, unit="frame", file=real_stderr,
                          desc=f"detect {info.path.name}", disable=not progress, leave=False)
            for frame in frames:
                found = tracker.update(frame)
                keypoints.append(found[0] if found else np.full((NUM_LANDMARKS, 2), np.nan))
                confidence.append(found[1] if found else np.zeros(NUM_LANDMARKS))
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


# ----------------------------------------------------------------------------------------------
# Smoothing


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


# ----------------------------------------------------------------------------------------------
# One video, end to end


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
                  smoothing_s: float = DEFAULT_SMOOTHING_S, progress: bool = True) -> ViewResult:
    """Detect, lift, smooth and write every output of one video into ``out_dir`` (which must exist)."""
    from poselift import viz
    from poselift.export import export_bvh, write_csv
    from poselift.io.poselift_format import write_keypoints_2d, write_poses_3d
    from poselift.lift import representative_frame, lift_keypoints

    video = Path(video)
    keypoints, detection = detect_video(video, person, max_frames, progress)
    fps = keypoints.fps or 30.0
    poses, lift_report, (_, confidence_h36m) = lift_keypoints(keypoints, lifter, model_name, max_gap)
    window = smoothing_window(fps, smoothing_s)
    poses = replace(poses, poses_3d=smooth_poses(poses.poses_3d, window),
                    meta={**poses.meta, "video": str(video), "person": str(person),
                          "smoothing": {"filter": "savitzky-golay", "window_frames": window,
                                        "polyorder": SAVGOL_POLYORDER}})
    lines = [detection.summary(), lift_report.summary()
             + (f"; smoothed over {window} frames ({window / fps:.2f} s)" if window > 1 else "")]

    written = [out_dir / "keypoints_2d.json", out_dir / "poses_3d.npz", out_dir / "poses_3d.json"]
    write_keypoints_2d(written[0], keypoints)
    write_poses_3d(written[1], poses)
    write_poses_3d(written[2], poses)
    bvh_report = export_bvh(out_dir / "poses_3d.bvh", poses)
    lines.append(bvh_report.summary())
    written += [out_dir / "poses_3d.bvh", write_csv(out_dir / "poses_3d.csv", poses)]
    frame = representative_frame(confidence_h36m, poses.poses_3d)
    image = read_frame(video, frame)
    written.append(viz.save_figure(out_dir / "figure.png", keypoints.keypoints_2d[frame], keypoints.confidence[frame],
                                   poses.poses_3d[frame], MEDIAPIPE_LAYOUT, image=image,
                                   title=f"{video.name}, frame {frame}"))
    if animation:
        written.append(render_animation(out_dir / "animation.mp4", video, keypoints, poses, progress))
    return ViewResult(video, keypoints, poses, detection, lines, written)


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


def render_animation(path: Path, video: Path, keypoints: Keypoints2D, poses: Poses3D, progress: bool = True) -> Path:
    """The 2D skeleton over the video beside the rotating 3D skeleton (:func:`poselift.viz.save_animation`)."""
    from tqdm import tqdm

    from poselift import viz

    frames = tqdm(read_frames(video, keypoints.num_frames), total=keypoints.num_frames, unit="frame",
                  desc=f"render {video.name}", disable=not progress, leave=False)
    return viz.save_animation(path, keypoints.keypoints_2d, keypoints.confidence, poses.poses_3d, MEDIAPIPE_LAYOUT,
                              video_frames=frames, fps=keypoints.fps or 30.0, title=video.name)


# ----------------------------------------------------------------------------------------------
# The command


def run_video(videos: list[str | os.PathLike], out_dir: str | os.PathLike, calibration: str | os.PathLike | None = None,
              person: str | int = "largest", model: str | os.PathLike = "default", force: bool = False,
              animation: bool = True, max_gap: int = 10, max_frames: int | None = None,
              smoothing_s: float = DEFAULT_SMOOTHING_S, progress: bool = True, echo=print) -> list[ViewResult]:
    """``poselift video``: every video end to end, then (with a calibration) the multi-view check.

    Everything that can be checked before the work starts is, so that nothing is written then:
    MediaPipe installed, the options, every video readable, the calibration matching the videos,
    the model loading, the output folder free (or ``force``).
    """
    from poselift.fileio import prepare_output_dir
    from poselift.lift import load_model

    import_mediapipe()
    if max_frames is not None and max_frames < 1:
        raise PoseliftError(f"--max-frames must be at least 1, got {max_frames}")
    if max_gap < 0:
        raise PoseliftError(f"--max-gap must be 0 or more, got {max_gap}")
    if not smoothing_s >= 0:
        raise PoseliftError(f"--smooth must be 0 (off) or more seconds, got {smoothing_s}")
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
        if info.fps is None:
            echo(f"{info.path.name}: the video gives no frame rate; outputs use 30 fps")
    lifter = load_model(model)
    model_name = str(model)
    out_dir = prepare_output_dir(out_dir, force=force)

    results = []
    for video, name in zip(videos, names):
        view_dir = out_dir if len(videos) == 1 else out_dir / name
        view_dir.mkdir(parents=True, exist_ok=True)
        result = process_video(video, view_dir, lifter, model_name, person, max_gap, animation, max_frames,
                               smoothing_s, progress)
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
