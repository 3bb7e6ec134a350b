"""Every person of a video, each with a stable id (``poselift video --people all``).

Every frame is searched for everybody (:func:`poselift.video.detection.find_people`: MediaPipe on the
whole frame and on tiles, each person found greyed out before the next search), and the people found
are matched to the tracks of the frames before by their box centres
(:func:`poselift.io.people.match_to_tracks`, which ``lift --person`` uses too: the assignment of least
total distance; a pair farther apart than 0.75 of the track's box diagonal, a margin growing by 10 % a
frame while the track is unseen, is no match).
A person matched to no track starts a new one; a track unseen for more than a second ends and is not
continued. Detections MediaPipe itself doubts (mean landmark visibility under 0.7), tracks seen in fewer than 3
frames or in under a quarter of the frames from their first one, and tracks whose mean visibility is
under 0.85 are dropped: single-image MediaPipe sometimes "finds" a person in an empty corner. Ids count from 0 in order of first appearance (left to right within a frame).

Searching every frame costs MediaPipe several passes a frame (about 4-6 frames/s on 2 CPU cores,
against about 30 for one tracked person): ``--people all`` trades speed for everybody.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poselift.errors import FormatError, PoseliftError
from poselift.io.people import match_to_tracks
from poselift.io.records import Keypoints2D
from poselift.video.detection import (MEDIAPIPE_LAYOUT, NUM_LANDMARKS, MediaPipePose, find_people,
                                      mediapipe_logs_hidden)
from poselift.video.reading import probe_video, read_frames

_FORGET_AFTER_S = 1.0
_MIN_MEAN_CONFIDENCE = 0.7         # a detection whose landmarks MediaPipe itself doubts is not a person
_MIN_TRACK_FRAMES = 3              # nor a track seen in fewer frames than this,
_MIN_TRACK_SHARE = 0.25            # or in less than this share of the frames from its first one on,
_MIN_TRACK_CONFIDENCE = 0.85       # or whose landmarks are this doubtful on average (measured: the two real
                                   # people of cam01 0.92 and 0.97, its corner "person" 0.78)


@dataclass
class Track:
    """One person's id, their last box and the frames they were seen in."""

    id: int
    box: np.ndarray
    first_frame: int
    unseen: int = 0
    frames: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)   # frame -> (33, 2), (33,)


def _centre(box: np.ndarray) -> np.ndarray:
    return (box[:2] + box[2:]) / 2


def detect_everybody(path: str | os.PathLike, max_frames: int | None = None, progress: bool = True) -> list[Keypoints2D]:
    """One MediaPipe 33-landmark track per person (NaN, confidence 0, where that person is not seen),
    in order of their ids (module doc). FormatError for an unreadable video, PoseliftError when
    nobody is found."""
    from tqdm import tqdm

    info = probe_video(path)
    forget = max(1, round(_FORGET_AFTER_S * (info.fps or 30.0)))
    total = info.frame_count if max_frames is None else min(max_frames, info.frame_count or max_frames)
    open_tracks: list[Track] = []
    every_track: list[Track] = []
    frames = 0
    started = time.perf_counter()
    with mediapipe_logs_hidden() as real_stderr, MediaPipePose(static_image_mode=True) as detector:
        for index, frame in enumerate(tqdm(read_frames(info.path, max_frames, ahead=4), total=total, unit="frame",
                                           file=real_stderr, desc=f"everybody in {info.path.name}",
                                           disable=not progress, leave=False)):
            frames += 1
            people = sorted((person for person in find_people(frame, detector)
                             if float(np.mean(person.confidence)) >= _MIN_MEAN_CONFIDENCE),
                            key=lambda person: _centre(person.box)[0])
            matches = match_to_tracks([person.box for person in people], [track.box for track in open_tracks],
                                       [track.unseen for track in open_tracks])
            for person_index, person in enumerate(people):
                if person_index in matches:
                    track = open_tracks[matches[person_index]]
                else:
                    track = Track(len(every_track), person.box, index)
                    every_track.append(track)
                    open_tracks.append(track)
                track.box, track.unseen = person.box, -1
                track.frames[index] = (person.keypoints_2d, person.confidence)
            for track in open_tracks:
                track.unseen += 1
            open_tracks = [track for track in open_tracks if track.unseen <= forget]
    if frames == 0:
        raise FormatError(info.path, "cannot read this video: no frame could be decoded")
    kept = [track for track in every_track
            if len(track.frames) >= max(_MIN_TRACK_FRAMES, _MIN_TRACK_SHARE * (frames - track.first_frame))
            and np.mean([scores.mean() for _, scores in track.frames.values()]) >= _MIN_TRACK_CONFIDENCE]
    if not kept:
        raise PoseliftError(f"{info.path}: MediaPipe found nobody in enough of its {frames} frames "
                            f"({len(every_track)} brief detections dropped)")
    tracks = []
    for track in kept:
        keypoints = np.full((frames, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
        confidence = np.zeros((frames, NUM_LANDMARKS), dtype=np.float32)
        for index, (points, scores) in track.frames.items():
            keypoints[index], confidence[index] = points, scores
        tracks.append(Keypoints2D(keypoints, confidence, MEDIAPIPE_LAYOUT, image_size=info.image_size, fps=info.fps,
                                  notes=(f"person {len(tracks)}: first seen in frame {track.first_frame}, in "
                                         f"{len(track.frames)} of {frames} frames "
                                         f"({frames / max(time.perf_counter() - started, 1e-9):.1f} frames/s)",)))
    return tracks


def save_people_preview(path: Path, video: Path, tracks: list[Keypoints2D]) -> Path:
    """A PNG of the video's frame where the most people are seen, each person's box drawn with their id
    (``person_<id>`` is their output folder)."""
    import cv2

    from poselift.fileio import atomic_path
    from poselift.render import put_label
    from poselift.video.reading import read_frame

    seen = np.stack([np.isfinite(track.keypoints_2d).all(axis=-1).any(axis=-1) for track in tracks])   # (P, T)
    frame = int(np.argmax(seen.sum(axis=0)))
    image = np.array(read_frame(video, frame))
    thickness = max(2, image.shape[0] // 300)
    for person, track in enumerate(tracks):
        points = track.keypoints_2d[frame]
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) == 0:
            continue
        x0, y0 = points.min(axis=0).astype(int)
        x1, y1 = points.max(axis=0).astype(int)
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 127, 14), thickness)
        put_label(image, f"person {person}", origin=(int(x0) + 4, max(30, int(y0) - 10)), scale=1.2)
    put_label(image, f"frame {frame}: {int(seen[:, frame].sum())} of {len(tracks)} people", origin=(12, 40), scale=1.2)
    with atomic_path(path) as tmp:                     # the temporary name ends in .png too
        cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
