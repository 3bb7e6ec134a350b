"""Left/right swaps of a 2D detector, found and undone per limb group.

A detector sometimes gives a person's left limbs the right's labels for a while: MediaPipe on
Pose2Sim's cam02 does it for about 30 frames at confidence 0.98. The 2D then jumps at the start and
at the end of the swap (every left joint lands where the right one was), while the swapped labels
move smoothly. :func:`undo_swaps` looks for the labelling that moves least.

- **Groups** (:func:`limb_groups`): a layout's left/right pairs fall into ``arms`` (shoulders to
  fingers), ``legs`` (hips to toes) and ``head`` (eyes, ears, mouth). Each group has its own state
  (OpenPose-style detectors swap one limb, MediaPipe tends to swap everything at once).
- **States**: in each frame a group is either *kept* (the detector's labels) or *swapped* (every
  left/right pair of the group exchanged, positions with their confidences).
- **Cost** (:func:`group_motion_costs`): between two consecutive frames where the group is seen, for
  each pair of states, the confidence-weighted mean distance its joints move, divided by the person's
  size (the median diagonal of the 2D box over the track); the weight of a joint is the smaller of
  its two confidences, so an unsure joint counts little. Each swapped frame of a group costs
  ``swapped_cost``: with no motion to tell them apart the detector's labels win, and a whole track
  is never swapped, only the part that disagrees with the rest.
- **Viterbi** (:func:`viterbi`, :func:`find_swaps`): the cheapest sequence of the groups' joint
  states (2^G of them), exactly. A change costs ``switch_penalty`` once however many groups change
  together: a detector's swap is one event, so a group whose own motion hardly tells (the legs close
  together) follows the others.

What it cannot see: which of two stretches is the swapped one when the whole body swaps (the 2D of a
person facing the camera and of their mirror image facing away are the same): the shorter one is
taken, so a swap that lasts most of a track (or all of it) is not undone and the rest is swapped
instead; and a swap that starts or ends while the two sides overlap in the image (a side view with
the legs crossing), where swapping changes the 2D by less than the penalty and so matters little to
the 3D either. With several calibrated views the triangulation tests each view against the others
(:mod:`poselift.view_check`), which settles both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from poselift.io.records import Keypoints2D
from poselift.skeleton import Layout, get_layout
from poselift.wording import count

#: A change of state costs this much motion (in person sizes): 2 % of the person's box diagonal
#: moved by every joint of the group in one frame. A real swap in a front view moves the joints by
#: the shoulder or hip width (10-25 % of the diagonal) twice, a person's own motion between frames at
#: 50-60 fps about 1 %. On the small benchmark's noisy 2D (simulated one-frame limb swaps,
#: ``benchmarks/video_swaps.py``) 0.02 finds 101 of 105 swaps with none false, 0.05 finds 89 and
#: 0.1 finds 60 with 7 false; on Pose2Sim's four videos 0.01-0.05 change the same frames.
SWITCH_PENALTY = 0.02
#: Each swapped frame costs this much (person sizes): when motion cannot tell the two labellings apart
#: the detector's own is kept, and of two stretches the shorter one is taken as the swap.
SWAPPED_COST = 1e-3

_GROUP_WORDS = (       # the first group whose word is in a joint's name; legs first ("foot_index")
    ("legs", ("hip", "knee", "ankle", "heel", "foot", "toe")),
    ("arms", ("shoulder", "elbow", "wrist", "hand", "pinky", "index", "thumb")),
    ("head", ("eye", "ear", "mouth")),
)


def limb_groups(layout: str | Layout) -> dict[str, tuple[tuple[int, int], ...]]:
    """The layout's left/right pairs sorted into groups decided on their own.

    Returns:
        ``{"legs": ((left, right), ...), "arms": ..., "head": ...}`` (joint indices; only groups the
        layout has). A pair whose names match none of the groups' words forms a group ``other``.
    """
    layout = get_layout(layout)
    groups: dict[str, list[tuple[int, int]]] = {}
    for left, right in layout.left_right:
        name = layout.joint_names[left].lower()
        group = next((group for group, words in _GROUP_WORDS if any(word in name for word in words)), "other")
        groups.setdefault(group, []).append((left, right))
    return {group: tuple(pairs) for group, pairs in groups.items()}


def person_size(keypoints_2d: np.ndarray, confidence: np.ndarray) -> float:
    """Median over frames of the diagonal (px) of the box around the joints seen (confidence > 0);
    1 when no frame has two joints seen."""
    seen = np.isfinite(keypoints_2d).all(-1) & (confidence > 0)
    frames = np.flatnonzero(seen.sum(-1) >= 2)
    if not len(frames):
        return 1.0
    low = np.where(seen[frames, :, None], keypoints_2d[frames], np.inf).min(1)
    high = np.where(seen[frames, :, None], keypoints_2d[frames], -np.inf).max(1)
    diagonal = np.linalg.norm(high - low, axis=-1)
    return float(np.median(diagonal)) if np.median(diagonal) > 0 else 1.0


def _group_states(keypoints_2d: np.ndarray, confidence: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 2, 2P, 2) and weights (T, 2, 2P) of a group's joints in state 0 (kept: lefts then
    rights) and state 1 (swapped: rights then lefts); a missing joint has weight 0 and position 0."""
    left, right = np.array(pairs).T
    kept, swapped = np.concatenate([left, right]), np.concatenate([right, left])
    order = np.stack([kept, swapped])                                    # (2, 2P)
    positions, weights = keypoints_2d[:, order], confidence[:, order]    # (T, 2, 2P, 2), (T, 2, 2P)
    seen = np.isfinite(positions).all(-1) & (weights > 0)
    return np.where(seen[..., None], positions, 0.0), np.where(seen, weights, 0.0)


def group_motion_costs(keypoints_2d: np.ndarray, confidence: np.ndarray, pairs, size_px: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Motion costs of one group into every frame from the last frame where it was seen.

    Args:
        keypoints_2d: (T, J, 2) px. confidence: (T, J) in [0, 1]. pairs: the group's (left, right)
            joint indices. size_px: the person's size (:func:`person_size`).
    Returns:
        ``(seen, costs)``: seen (T,) bool, frames where the group has a joint seen; costs (T, 2, 2):
        ``costs[t, a, b]`` = confidence-weighted mean distance (person sizes) from the group in state
        ``a`` at the last frame before t where it was seen to the group in state ``b`` at frame t;
        0 where t is not seen, has no seen frame before it, or no joint seen in both.
    """
    positions, weights = _group_states(np.asarray(keypoints_2d, np.float64), np.asarray(confidence, np.float64), pairs)
    seen = (weights[:, 0] > 0).any(-1)
    frames = np.flatnonzero(seen)
    costs = np.zeros((len(seen), 2, 2))
    positions, weights = positions[frames], weights[frames]
    distance = np.linalg.norm(positions[1:, None] - positions[:-1, :, None], axis=-1)    # (N-1, a, b, 2P)
    weight = np.minimum(weights[1:, None], weights[:-1, :, None])                        # (N-1, a, b, 2P)
    total = weight.sum(-1)
    costs[frames[1:]] = np.where(total > 0, (weight * distance).sum(-1) / np.maximum(total, 1e-12), 0.0)
    return seen, costs / max(size_px, 1e-9)


def viterbi(step_costs: np.ndarray, first_costs: np.ndarray) -> np.ndarray:
    """The cheapest path through S states over T frames.

    Args:
        step_costs: (T, S, S), ``step_costs[t, a, b]`` the cost of state a at t - 1 then b at t (entry
            0 unused); may be ``inf`` (forbidden). first_costs: (S,) the cost of each state at frame 0.
    Returns:
        (T,) int, the states; ties go to the lower state number.
    """
    frames, states = len(step_costs), len(first_costs)
    total = np.array(first_costs, dtype=np.float64)
    came_from = np.zeros((frames, states), dtype=np.int64)
    for frame in range(1, frames):                            # a loop over frames, as any Viterbi
        candidates = total[:, None] + step_costs[frame]       # (a, b)
        came_from[frame] = np.argmin(candidates, axis=0)      # argmin keeps the first on ties
        total = candidates[came_from[frame], np.arange(states)]
    path = np.zeros(frames, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for frame in range(frames - 1, 0, -1):
        path[frame - 1] = came_from[frame, path[frame]]
    return path


def swap_pairs(keypoints_2d: np.ndarray, confidence: np.ndarray, pairs, frames: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``keypoints_2d`` (T, J, 2) and ``confidence`` (T, J) with every (left, right) pair of
    ``pairs`` exchanged in the frames where ``frames`` (T,) bool is True."""
    keypoints_2d, confidence = np.array(keypoints_2d), np.array(confidence)
    left, right = np.array(pairs).T
    for values in (keypoints_2d, confidence):
        exchanged = values[frames][:, np.concatenate([right, left])]
        values[np.flatnonzero(frames)[:, None], np.concatenate([left, right])] = exchanged
    return keypoints_2d, confidence


def frame_ranges(frames: np.ndarray) -> str:
    """``"41-62, 65, 67-70"`` for the True entries of a (T,) bool array (frames count from 0)."""
    numbers = np.flatnonzero(frames)
    if not len(numbers):
        return "none"
    breaks = np.flatnonzero(np.diff(numbers) > 1)
    starts, stops = numbers[np.r_[0, breaks + 1]], numbers[np.r_[breaks, len(numbers) - 1]]
    return ", ".join(f"{start}" if start == stop else f"{start}-{stop}" for start, stop in zip(starts, stops))


@dataclass(frozen=True)
class SwapReport:
    """What :func:`undo_swaps` changed: per group, (T,) bool frames whose left/right labels it swapped."""

    swapped: dict[str, np.ndarray]
    source: str = "the track"
    switch_penalty: float = SWITCH_PENALTY
    swapped_cost: float = SWAPPED_COST

    @property
    def frames_changed(self) -> np.ndarray:
        """(T,) bool: frames where any group was swapped."""
        frames = [flags for flags in self.swapped.values()]
        return np.logical_or.reduce(frames) if frames else np.zeros(0, bool)

    def summary(self) -> str:
        changed = int(self.frames_changed.sum())
        if not changed:
            return f"{self.source}: no left/right swap found"
        groups = "; ".join(f"{group} {frame_ranges(flags)}" for group, flags in self.swapped.items() if flags.any())
        return (f"{self.source}: the detector's left/right labels swapped back in {count(changed, 'frame')} "
                f"({groups}; --no-swap-fix keeps them)")

    def to_meta(self) -> dict:
        """JSON-ready: frames changed and, per group, the frame ranges swapped."""
        return {"frames_changed": int(self.frames_changed.sum()),
                "groups": {group: frame_ranges(flags) for group, flags in self.swapped.items()},
                "method": "Viterbi over the limb groups' kept/swapped states, costed by the 2D motion between frames "
                          f"(switch penalty {self.switch_penalty:g}, swapped frame {self.swapped_cost:g} "
                          "person sizes)"}


def find_swaps(keypoints_2d: np.ndarray, confidence: np.ndarray, layout: str | Layout,
               switch_penalty: float = SWITCH_PENALTY, swapped_cost: float = SWAPPED_COST) -> dict[str, np.ndarray]:
    """Per group of :func:`limb_groups`, (T,) bool: the frames whose labels the detector swapped.

    One Viterbi over the 2^G joint states of the G groups (see the module doc): a change of state
    costs ``switch_penalty`` once however many groups change together, so a group whose own motion
    hardly tells (legs close together) follows the others when they swap; a group changes state
    only in a frame where it is seen.

    Args:
        keypoints_2d: (T, J, 2) px, NaN where missing. confidence: (T, J). layout: the joints' layout.
    """
    groups = limb_groups(layout)
    frames = len(keypoints_2d)
    if not groups or frames == 0:
        return {group: np.zeros(frames, bool) for group in groups}
    size = person_size(keypoints_2d, confidence)
    bits = (np.arange(2 ** len(groups))[:, None] >> np.arange(len(groups))) & 1        # (S, G): state -> groups
    step_costs = np.zeros((frames, len(bits), len(bits)))
    for number, pairs in enumerate(groups.values()):                  # a loop over the 2-3 groups
        seen, costs = group_motion_costs(keypoints_2d, confidence, pairs, size)
        step_costs += costs[:, bits[:, None, number], bits[None, :, number]]
        changes = bits[:, None, number] != bits[None, :, number]
        step_costs[~seen] += np.where(changes, np.inf, 0.0)           # no change while unseen
    step_costs += switch_penalty * (1.0 - np.eye(len(bits)))
    unary = swapped_cost * bits.sum(1)
    step_costs += unary[None, None, :]
    path = viterbi(step_costs, unary)
    return {group: bits[path, number].astype(bool) for number, group in enumerate(groups)}


def undo_swaps(keypoints: Keypoints2D, source: str = "the track", switch_penalty: float = SWITCH_PENALTY,
               swapped_cost: float = SWAPPED_COST) -> tuple[Keypoints2D, SwapReport]:
    """The track with its left/right swaps undone (see the module doc), and what changed.

    The track must be a time series (consecutive frames). When anything changed, the report's
    summary is added to the returned track's ``notes``.
    """
    swapped = find_swaps(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout, switch_penalty, swapped_cost)
    report = SwapReport(swapped, source, switch_penalty, swapped_cost)
    if not report.frames_changed.any():
        return keypoints, report
    points, confidence = keypoints.keypoints_2d, keypoints.confidence
    groups = limb_groups(keypoints.layout)
    for group, flags in swapped.items():
        if flags.any():
            points, confidence = swap_pairs(points, confidence, groups[group], flags)
    return replace(keypoints, keypoints_2d=points, confidence=confidence,
                   notes=keypoints.notes + (report.summary(),)), report
