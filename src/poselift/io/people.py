"""One person followed through a multi-person keypoint file (COCO results, OpenPose), frame by frame.

Detectors list every person of a frame in no stable order. :func:`follow_person` picks one with the
rule ``poselift video --person`` uses, on the first frame that has anybody: ``largest`` (largest box),
``central`` (box centre nearest the image centre; without an image size, the centre of everybody's
boxes) or N (the N-th person from the left, counting from 1). Then it keeps to that person: in each
frame, the candidate whose box centre is nearest the person's last one, if it is within 0.75 of the
last box's diagonal (a margin that grows by 10 % for every frame the person was not seen); no such
candidate: the frame is missing (NaN, confidence 0) and the next frames look a little farther.
"""

from __future__ import annotations

import numpy as np

Candidate = tuple[np.ndarray, np.ndarray]        # keypoints (J, 2) px with NaN where missing, confidence (J,)
_NEAR = 0.75                                     # of the last box's diagonal
_GROWTH_PER_LOST_FRAME = 0.1


def _box(candidate: Candidate) -> np.ndarray | None:
    keypoints, confidence = candidate
    seen = np.isfinite(keypoints).all(axis=1) & (confidence > 0)
    if seen.sum() < 2:
        return None
    points = keypoints[seen]
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def pick_by_rule(boxes: list[np.ndarray], rule: str | int, image_size: tuple[int, int] | None) -> int | None:
    """Index of the box ``rule`` picks among ``(4,)`` ``(x0, y0, x1, y1)`` boxes (None: none, or fewer
    than N): ``largest``, ``central`` (nearest the image centre; without an image size, the boxes'
    mean centre) or N (the N-th from the left, counting from 1). ``poselift video --person`` too."""
    if not boxes:
        return None
    boxes_array = np.stack(boxes)
    centres = (boxes_array[:, :2] + boxes_array[:, 2:]) / 2
    if rule == "largest":
        return int(np.argmax(np.prod(boxes_array[:, 2:] - boxes_array[:, :2], axis=1)))
    if rule == "central":
        middle = np.array(image_size, dtype=np.float64) / 2 if image_size else centres.mean(axis=0)
        return int(np.argmin(np.linalg.norm(centres - middle, axis=1)))
    order = np.argsort(centres[:, 0], kind="stable")
    return int(order[rule - 1]) if rule <= len(boxes) else None


def reach(box: np.ndarray, unseen_frames: int) -> float:
    """How far (px) from ``box``'s centre the same person may be found after ``unseen_frames`` frames."""
    return _NEAR * float(np.linalg.norm(box[2:] - box[:2])) * (1 + _GROWTH_PER_LOST_FRAME * unseen_frames)


def match_to_tracks(boxes: list[np.ndarray], track_boxes: list[np.ndarray], unseen: list[int]) -> dict[int, int]:
    """{index of a box: index of its track}: the assignment of least total box-centre distance (SciPy's
    ``linear_sum_assignment``), a pair farther apart than :func:`reach` of the track being no match."""
    if not boxes or not track_boxes:
        return {}
    from scipy.optimize import linear_sum_assignment

    centres = np.array([(box[:2] + box[2:]) / 2 for box in boxes])
    track_centres = np.array([(box[:2] + box[2:]) / 2 for box in track_boxes])
    distances = np.linalg.norm(centres[:, None] - track_centres[None], axis=-1)
    reaches = np.array([reach(box, frames) for box, frames in zip(track_boxes, unseen)])
    rows, columns = linear_sum_assignment(np.where(distances <= reaches[None], distances, 1e12))
    return {int(row): int(column) for row, column in zip(rows, columns) if distances[row, column] <= reaches[column]}


def follow_person(frames: list[list[Candidate]], rule: str | int, image_size: tuple[int, int] | None = None,
                  num_joints: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(keypoints (T, J, 2) px, confidence (T, J), a sentence on who was followed)`` from every
    frame's candidates (module doc). ``num_joints`` sizes the arrays when no frame has anybody."""
    joints = num_joints if num_joints is not None else next(len(c[0]) for frame in frames for c in frame)
    keypoints = np.full((len(frames), joints, 2), np.nan, dtype=np.float32)
    confidence = np.zeros((len(frames), joints), dtype=np.float32)
    last_box, lost, first, found = None, 0, None, 0
    for index, candidates in enumerate(frames):
        boxed = [(candidate, box) for candidate in candidates if (box := _box(candidate)) is not None]
        choice = None
        if boxed and last_box is None:
            choice = pick_by_rule([box for _, box in boxed], rule, image_size)
            first = index if choice is not None else None
        elif boxed:
            choice = {track: box for box, track in match_to_tracks([box for _, box in boxed], [last_box],
                                                                   [lost]).items()}.get(0)
        if choice is None:
            lost += 1
            continue
        (points, scores), last_box = boxed[choice]
        keypoints[index], confidence[index] = points, np.where(np.isfinite(points).all(axis=1), scores, 0.0)
        lost, found = 0, found + 1
    who = "the largest person" if rule == "largest" else "the most central person" if rule == "central" else (
        f"person {rule} from the left")
    if first is None:
        return keypoints, confidence, f"--person {rule}: nobody matches in any frame"
    return keypoints, confidence, (f"followed {who} from frame {first}: found in {found} of {len(frames)} frames "
                                   "(the nearest candidate to their last position)")
