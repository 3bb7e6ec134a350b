"""COCO keypoint JSON (detector results or a dataset file) -> one person's 2D track.

Two shapes of file are read:

- a *results list* ``[{"image_id", "category_id", "keypoints": [x, y, s] * 17, "score"}, ...]``
  as detectors write it: ``s`` is a keypoint score, confidence = clip(s, 0, 1); the position
  is kept whatever the score. One frame per distinct ``image_id``, ordered by id.
- a *dataset* object ``{"images": [...], "annotations": [...]}``: ``v`` is the COCO visibility
  flag (0 = not labelled -> NaN with confidence 0; 1 or 2 = labelled -> confidence 1). One frame
  per image, ordered by ``file_name`` (numbers inside names compare by value); an image without
  a person gives an all-NaN frame with confidence 0. ``image_size`` is taken from the images
  when they all share one width and height.

One person per frame: the entry with the highest ``score``; without scores, the largest
``bbox`` (width x height), then the largest ``area``. Only entries whose ``category_id`` is
``category_id`` (1 = person) are used; entries without ``category_id`` are used too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from poselift.errors import FormatError
from poselift.io._common import natural_key, read_json
from poselift.io.records import Keypoints2D, layout_num_joints, naming_file


def read_coco_keypoints(
    path: str | os.PathLike, *, layout: str = "coco17", fps: float | None = None, category_id: int = 1,
    person: str | int | None = None,
) -> Keypoints2D:
    """Read a COCO keypoint JSON file (results list or dataset object); see the module notes.
    ``person``: follow one person through the frames (:func:`poselift.io.people.follow_person`)."""
    path = Path(path)
    return coco_keypoints_from_data(path, read_json(path), layout=layout, fps=fps, category_id=category_id,
                                    person=person)


def is_coco_keypoints_data(data: Any) -> bool:
    """True for parsed JSON that looks like a COCO results list or dataset object."""
    if isinstance(data, dict):
        return "annotations" in data
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "keypoints" in data[0]


def _entry_keypoints(path: Path, entry: dict, num_joints: int) -> np.ndarray:
    """(J, 3) float64 from an entry's flat ``keypoints`` list; FormatError naming the image."""
    image_id = entry.get("image_id")
    values = entry.get("keypoints")
    if values is None:
        raise FormatError(path, f"image {image_id}: person has no 'keypoints' field")
    expected = 3 * num_joints
    if not isinstance(values, list) or len(values) != expected:
        count = len(values) if isinstance(values, list) else type(values).__name__
        raise FormatError(
            path,
            f"image {image_id}: 'keypoints' has {count} values, expected {expected} "
            f"({num_joints} joints x (x, y, v))",
        )
    try:
        array = np.array(values, dtype=np.float64).reshape(num_joints, 3)
    except (TypeError, ValueError):
        raise FormatError(path, f"image {image_id}: 'keypoints' contains a value that is not a number") from None
    if not np.isfinite(array).all():
        raise FormatError(path, f"image {image_id}: 'keypoints' contains NaN or infinite values")
    return array


def _ranking(entry: dict) -> tuple[float, float, float]:
    bbox = entry.get("bbox")
    bbox_area = float(bbox[2]) * float(bbox[3]) if isinstance(bbox, list) and len(bbox) == 4 else 0.0
    return (float(entry.get("score", -np.inf)), bbox_area, float(entry.get("area", 0.0)))


def _everybody_by_image(path: Path, entries: list, category_id: int, num_joints: int) -> dict[Any, list[np.ndarray]]:
    """Every person's (J, 3) keypoints of each image id."""
    everybody: dict[Any, list[np.ndarray]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image_id" not in entry:
            raise FormatError(path, f"entry {index} is not a JSON object with an 'image_id'")
        if entry.get("category_id", category_id) == category_id:
            everybody.setdefault(entry["image_id"], []).append(_entry_keypoints(path, entry, num_joints))
    return everybody


def _people_by_image(
    path: Path, entries: list, category_id: int, num_joints: int
) -> dict[Any, tuple[dict, np.ndarray]]:
    """The chosen person of each image id, with its (J, 3) keypoints."""
    chosen: dict[Any, tuple[dict, np.ndarray]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FormatError(path, f"entry {index} is not a JSON object")
        if "image_id" not in entry:
            raise FormatError(path, f"entry {index} has no 'image_id' field")
        if entry.get("category_id", category_id) != category_id:
            continue
        keypoints = _entry_keypoints(path, entry, num_joints)
        image_id = entry["image_id"]
        if image_id not in chosen or _ranking(entry) > _ranking(chosen[image_id][0]):
            chosen[image_id] = (entry, keypoints)
    return chosen


def _image_order_key(image_id: Any) -> tuple:
    return (0, image_id, []) if isinstance(image_id, (int, float)) else (1, 0, natural_key(str(image_id)))


def coco_keypoints_from_data(
    path: Path, data: Any, *, layout: str = "coco17", fps: float | None = None, category_id: int = 1,
    person: str | int | None = None,
) -> Keypoints2D:
    """Build the track from parsed COCO JSON ``data`` read from ``path``; ``person`` (a rule of
    :func:`poselift.io.people.follow_person`) follows one person instead of taking each frame's best."""
    with naming_file(path):
        num_joints = layout_num_joints(layout)
    image_size = None
    if isinstance(data, list):
        people = _people_by_image(path, data, category_id, num_joints)
        frame_ids = sorted(people, key=_image_order_key)
        is_dataset = False
    elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
        people = _people_by_image(path, data["annotations"], category_id, num_joints)
        images = data.get("images")
        if isinstance(images, list) and images:
            if not all(isinstance(image, dict) and "id" in image for image in images):
                raise FormatError(path, "every entry of 'images' needs an 'id'")
            images = sorted(images, key=lambda image: natural_key(str(image.get("file_name", image["id"]))))
            frame_ids = [image["id"] for image in images]
            sizes = {(image.get("width"), image.get("height")) for image in images}
            if len(sizes) == 1 and None not in next(iter(sizes)):
                image_size = tuple(int(value) for value in next(iter(sizes)))
        else:
            frame_ids = sorted(people, key=_image_order_key)
        is_dataset = True
    else:
        raise FormatError(
            path, "not a COCO keypoints file: expected a list of results or an object with 'annotations'"
        )
    if not frame_ids:
        raise FormatError(path, f"no person (category_id {category_id}) with keypoints in the file")

    if person is not None:
        from poselift.io.people import follow_person

        entries = data if isinstance(data, list) else data["annotations"]
        everybody = _everybody_by_image(path, entries, category_id, num_joints)
        frames = []
        for image_id in frame_ids:
            candidates = []
            for values in everybody.get(image_id, []):
                seen = values[:, 2] > 0 if is_dataset else np.ones(num_joints, bool)
                candidates.append((np.where(seen[:, None], values[:, :2], np.nan),
                                   np.where(seen, np.clip(values[:, 2], 0.0, 1.0), 0.0)))
            frames.append(candidates)
        keypoints_2d, confidence, note = follow_person(frames, person, image_size, num_joints)
        with naming_file(path):
            return Keypoints2D(keypoints_2d, confidence, layout, image_size=image_size, fps=fps, notes=(note,))
    keypoints_2d = np.full((len(frame_ids), num_joints, 2), np.nan, dtype=np.float32)
    confidence = np.zeros((len(frame_ids), num_joints), dtype=np.float32)
    for frame, image_id in enumerate(frame_ids):
        if image_id not in people:
            continue
        values = people[image_id][1]
        keypoints_2d[frame] = values[:, :2]
        confidence[frame] = np.clip(values[:, 2], 0.0, 1.0)
        if is_dataset:
            unlabelled = values[:, 2] <= 0
            keypoints_2d[frame, unlabelled] = np.nan
            confidence[frame, unlabelled] = 0.0
    with naming_file(path):
        return Keypoints2D(keypoints_2d, confidence, layout, image_size=image_size, fps=fps)
