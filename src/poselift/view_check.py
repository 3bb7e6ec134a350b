"""Which calibrated views agree: a RANSAC over pairs of views with a left/right swap test.

One view whose detector swapped the person's left and right (MediaPipe on Pose2Sim's cam02 for
about 30 frames), or lost the person, pulls a least-squares triangulation towards a body that none
of the views sees. :func:`check_views` finds, per frame and per limb group
(:func:`poselift.swaps.limb_groups`), the labelling of each view that the others agree with:

1. **Hypotheses**: every pair of views (a, b), with b's labels as given or swapped, triangulates the
   group (:func:`poselift.camera.triangulate_dlt`).
2. **Score**: the hypothesis is projected into every view; each view takes the labelling (kept or
   swapped) it is closer to, at the confidence-weighted mean distance of the group's joints, in
   the view's person sizes (:func:`poselift.swaps.person_size`). The score is the sum over views of
   that distance capped at ``inlier``: the hypothesis most views agree with wins (MSAC).
3. **Mirror**: of the winner's two mirror images (the same 3D with left and right exchanged fits
   every view equally well, swapped) the one that keeps more views' labels is taken; on a tie the
   one that keeps the most confident view's.
4. **Refit**: the group is triangulated again from the views within ``inlier`` of the winner, each
   in the labelling it is closer to. Against this refit a view's labels are swapped when that brings
   it closer by more than ``margin`` and by more than half (where the two sides overlap in a view,
   e.g. the eyes and ears, either labelling is about as good and the detector's stays), and a view
   still farther than ``inlier`` is rejected for that frame and group (its weights become 0), as are
   all views of a group that fewer than two views agree on.

Frames and joints a view does not see take no part (weight 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np

from poselift.camera import Camera, triangulate_dlt
from poselift.swaps import limb_groups, person_size

#: A view is rejected for a group in a frame when it is farther than this (person sizes: 8 % of the
#: person's box diagonal, about 70 px for a person 800 px tall) from the group triangulated by the
#: others. Pose2Sim's calibrated views agree to 1-3 %; a swapped view is 10-35 % off.
INLIER = 0.08
#: A view's labels are swapped only when that brings it closer by more than this (person sizes) and
#: by more than half.
MARGIN = 0.02


@dataclass(frozen=True)
class ViewCheck:
    """What :func:`check_views` found, per view v, frame t and group g (in ``groups`` order).

    swapped: (V, T, G) bool, the view's labels of the group exchanged to agree with the others.
    rejected: (V, T, G) bool, the view left out of the group's triangulation (disagrees, or cannot
        be checked because fewer than two views see the group).
    rejected_joints: (V, T, J) bool, the joints whose weight was set to 0.
    """

    groups: tuple[str, ...]
    swapped: np.ndarray
    rejected: np.ndarray
    rejected_joints: np.ndarray

    def view_counts(self, view: int) -> dict:
        """``frames_swapped`` (any group), ``frames_rejected`` (any group), ``joints_rejected`` (joint-frames)."""
        return {"frames_swapped": int(self.swapped[view].any(-1).sum()),
                "frames_rejected": int(self.rejected[view].any(-1).sum()),
                "joints_rejected": int(self.rejected_joints[view].sum())}


def _group_errors(points_3d: np.ndarray, cameras: Sequence[Camera], positions: np.ndarray, weights: np.ndarray,
                  sizes: np.ndarray) -> np.ndarray:
    """(V, 2, T) confidence-weighted mean distance (person sizes) between the group's 3D points
    (T, 2P, 3) projected into each view and the view's joints in state 0 / 1 (positions (V, T, 2, 2P, 2),
    weights (V, T, 2, 2P)); NaN where nothing can be compared."""
    errors = []
    for view, camera in enumerate(cameras):                # a loop over views
        projected = np.asarray(camera.project_world(points_3d), dtype=np.float64)     # (T, 2P, 2)
        distance = np.linalg.norm(projected[:, None] - positions[view], axis=-1)       # (T, 2, 2P)
        weight = np.where(np.isfinite(distance), weights[view], 0.0)
        total = weight.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, (weight * np.nan_to_num(distance)).sum(-1) / total, np.nan)
        errors.append(mean.T / sizes[view])                                             # (2, T)
    return np.stack(errors)


def _triangulate_states(positions: np.ndarray, weights: np.ndarray, states: np.ndarray, used: np.ndarray,
                        cameras: Sequence[Camera]) -> np.ndarray:
    """The group triangulated from each frame's ``used`` (V, T) views in their ``states`` (V, T)."""
    frames = np.arange(positions.shape[1])
    chosen_positions = positions[np.arange(len(cameras))[:, None], frames, states]       # (V, T, 2P, 2)
    chosen_weights = weights[np.arange(len(cameras))[:, None], frames, states] * used[..., None]
    return np.asarray(triangulate_dlt(chosen_positions, cameras, chosen_weights), dtype=np.float64)


def _check_group(positions: np.ndarray, weights: np.ndarray, cameras: Sequence[Camera], sizes: np.ndarray,
                 inlier: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(swapped (V, T), rejected (V, T)) for one group (positions (V, T, 2, 2P, 2), weights (V, T, 2, 2P))."""
    views, frames = positions.shape[:2]
    best_score = np.full(frames, np.inf)
    best_errors = np.full((views, 2, frames), np.nan)
    for first, second in combinations(range(views), 2):        # the hypotheses: V (V - 1) of them
        pair = [cameras[first], cameras[second]]
        for state in (0, 1):
            points_3d = triangulate_dlt(np.stack([positions[first, :, 0], positions[second, :, state]]), pair,
                                        np.stack([weights[first, :, 0], weights[second, :, state]]))
            errors = _group_errors(np.asarray(points_3d, np.float64), cameras, positions, weights, sizes)
            score = np.minimum(np.nan_to_num(np.nanmin(np.where(np.isnan(errors), np.inf, errors), axis=1),
                                             posinf=inlier), inlier).sum(0)
            better = score < best_score
            best_score[better] = score[better]
            best_errors[:, :, better] = errors[:, :, better]
    seen = np.isfinite(best_errors).all(1)                                         # (V, T)
    closer_swapped = np.where(seen, best_errors[:, 1] < best_errors[:, 0], False)
    agreeing = seen & (np.nanmin(np.where(seen[:, None], best_errors, np.inf), axis=1) < inlier)
    kept_votes = (agreeing & ~closer_swapped).sum(0)
    swapped_votes = (agreeing & closer_swapped).sum(0)
    confidence = weights[:, :, 0].sum(-1)                                         # (V, T)
    most_confident = np.argmax(np.where(agreeing, confidence, -1.0), axis=0)
    tie_swapped = closer_swapped[most_confident, np.arange(frames)]
    mirror = (swapped_votes > kept_votes) | ((swapped_votes == kept_votes) & tie_swapped)
    errors = np.where(mirror[None, None], best_errors[:, ::-1], best_errors)     # the mirror image's errors
    closer_swapped = seen & (errors[:, 1] < errors[:, 0])
    agreeing = seen & (np.where(closer_swapped, errors[:, 1], errors[:, 0]) < inlier)
    refit = _triangulate_states(positions, weights, closer_swapped.astype(np.int64), agreeing, cameras)
    errors = _group_errors(refit, cameras, positions, weights, sizes)
    states = seen & (errors[:, 1] < np.minimum(errors[:, 0] - margin, errors[:, 0] / 2))
    rejected = seen & ~(np.where(states, errors[:, 1], errors[:, 0]) < inlier)
    rejected |= seen & ((seen & ~rejected).sum(0)[None] < 2)                    # nobody left to agree with
    return states, rejected


def check_views(points_px: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], layout: str,
                inlier: float = INLIER, margin: float = MARGIN) -> tuple[np.ndarray, np.ndarray, ViewCheck]:
    """Swap each view's left/right labels to agree with the others, and reject the views that do not.

    Args:
        points_px: (V, T, J, 2) px, NaN where missing. confidence: (V, T, J). cameras: the V cameras.
        layout: the joints' layout (its left/right pairs give the groups).
        inlier, margin: in person sizes (see :data:`INLIER`, :data:`MARGIN`).
    Returns:
        ``(points_px, confidence, check)``: copies with the swaps undone and rejected joints' confidence
        0 (ready for :func:`poselift.camera.triangulate_dlt`), and the :class:`ViewCheck`.
    """
    points_px = np.array(points_px, dtype=np.float64)
    confidence = np.array(confidence, dtype=np.float64)
    views, frames = points_px.shape[:2]
    sizes = np.array([person_size(points_px[view], confidence[view]) for view in range(views)])
    groups = limb_groups(layout)
    swapped = np.zeros((views, frames, len(groups)), dtype=bool)
    rejected = np.zeros_like(swapped)
    rejected_joints = np.zeros(confidence.shape, dtype=bool)
    for number, pairs in enumerate(groups.values()):           # a loop over the 2-3 groups
        left, right = np.array(pairs).T
        order = np.stack([np.concatenate([left, right]), np.concatenate([right, left])])        # (2, 2P)
        positions, weights = points_px[:, :, order], confidence[:, :, order]                   # (V, T, 2, 2P, ...)
        visible = np.isfinite(positions).all(-1) & (weights > 0)
        weights = np.where(visible, weights, 0.0)
        states, rejected[..., number] = _check_group(positions, weights, cameras, sizes, inlier, margin)
        swapped[..., number] = states
        frame_index = np.arange(frames)[None, :, None]
        view_index = np.arange(views)[:, None, None]
        chosen = order[states.astype(np.int64)]                                                 # (V, T, 2P)
        points_px[view_index, frame_index, order[0]] = points_px[view_index, frame_index, chosen]
        confidence[view_index, frame_index, order[0]] = confidence[view_index, frame_index, chosen]
        dropped = rejected[..., number][..., None] & (confidence[:, :, order[0]] > 0)
        rejected_joints[view_index, frame_index, order[0]] |= dropped
        confidence[:, :, order[0]] = np.where(rejected[..., number][..., None], 0.0, confidence[:, :, order[0]])
    return points_px, confidence, ViewCheck(tuple(groups), swapped, rejected, rejected_joints)
