"""Pose-estimation metrics: pure, batched functions returning one value per pose (or per frame).

Per-pose values let callers average however a protocol asks (per action, then over actions:
:func:`mean_by_group`). Every function takes numpy arrays or torch tensors with any leading
dims and returns the input's type (torch in -> torch out, same device/dtype). Units: mm for 3D
poses (the functions also work on 2D poses in px where noted). Protocol #1 expects root-relative
poses: pass ``poselift.geometry.root_relative(poses)`` to :func:`mpjpe`.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np
import torch

from poselift.errors import ShapeError
from poselift.geometry import Array, ArrayKind, array_kind, procrustes_align

__all__ = [
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "pck",
    "auc",
    "auc_thresholds_mm",
    "mpjve",
    "acceleration_error",
    "hit_at_k",
    "mean_by_group",
]


def _pair(pred: Array, gt: Array, dims: tuple[int, ...] | None = None
          ) -> tuple[ArrayKind, torch.Tensor, torch.Tensor]:
    kind = array_kind(pred, gt)
    pred_t, gt_t = kind.tensor(pred), kind.tensor(gt)
    if pred_t.shape != gt_t.shape or pred_t.ndim < 2 or (dims is not None and pred_t.shape[-1] not in dims):
        wanted = "(..., J, 3)" if dims == (3,) else "(..., J, D)"
        raise ShapeError(f"pred and gt: expected equal shapes {wanted}, got {tuple(pred_t.shape)} and {tuple(gt_t.shape)}")
    return kind, pred_t, gt_t


def _joint_errors(pred_t: torch.Tensor, gt_t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(pred_t - gt_t, dim=-1)


def mpjpe(pred: Array, gt: Array) -> Array:
    """Mean per-joint position error of each pose.

    Args:
        pred, gt: (..., J, D) same frame (D = 3 mm, or D = 2 px for 2D error).
    Returns:
        (...) mean over joints of the Euclidean joint error (mm, or px).
    """
    kind, pred_t, gt_t = _pair(pred, gt)
    return kind.output(_joint_errors(pred_t, gt_t).mean(dim=-1))


def p_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after the best similarity alignment of ``pred`` onto ``gt`` (Protocol #2).

    Rotation (proper, no reflection), translation and uniform scale, per pose; the alignment is
    :func:`poselift.geometry.procrustes_align`.

    Args:
        pred, gt: (..., J, 3) mm.
    Returns:
        (...) mm.
    """
    kind, pred_t, gt_t = _pair(pred, gt, (3,))
    return kind.output(_joint_errors(procrustes_align(pred_t, gt_t), gt_t).mean(dim=-1))


def n_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after scaling ``pred`` by the least-squares factor onto ``gt`` (Rhodin et al. 2018).

    ``s = sum_j <pred_j, gt_j> / sum_j |pred_j|^2`` per pose, no rotation or translation: pass
    root-relative poses. A pose predicted as all zeros gets s = 0.

    Args:
        pred, gt: (..., J, 3) mm, root-relative.
    Returns:
        (...) mm.
    """
    kind, pred_t, gt_t = _pair(pred, gt, (3,))
    dot = (pred_t * gt_t).sum(dim=(-2, -1))
    norm_sq = (pred_t * pred_t).sum(dim=(-2, -1)).clamp_min(torch.finfo(pred_t.dtype).tiny)
    scale = (dot / norm_sq)[..., None, None]
    return kind.output(_joint_errors(scale * pred_t, gt_t).mean(dim=-1))


def pck(pred: Array, gt: Array, threshold_mm: float = 150.0) -> Array:
    """Fraction of joints whose error is strictly below ``threshold_mm`` (PCK, 3DHP style).

    Args:
        pred, gt: (..., J, D) same frame and units as the threshold.
    Returns:
        (...) in [0, 1].
    """
    kind, pred_t, gt_t = _pair(pred, gt)
    correct = _joint_errors(pred_t, gt_t) < threshold_mm
    return kind.output(correct.to(pred_t.dtype).mean(dim=-1))


def auc_thresholds_mm(max_threshold_mm: float = 150.0, steps: int = 31) -> np.ndarray:
    """The AUC threshold grid: ``steps`` evenly spaced thresholds from 0 to ``max_threshold_mm``.

    The default is 0, 5, 10, ..., 150 mm (31 thresholds), as in the MPI-INF-3DHP evaluation.
    """
    if steps < 2 or not max_threshold_mm > 0:
        raise ShapeError(f"auc: need steps >= 2 and max_threshold_mm > 0, got {steps} and {max_threshold_mm}")
    return np.linspace(0.0, float(max_threshold_mm), int(steps))


def auc(pred: Array, gt: Array, max_threshold_mm: float = 150.0, steps: int = 31) -> Array:
    """Area under the PCK curve: mean of :func:`pck` over the grid :func:`auc_thresholds_mm`.

    With the default grid 0, 5, ..., 150 mm and the strict ``error < threshold`` rule, a perfect
    pose scores 30/31 (the 0 mm threshold counts nothing), as in the 3DHP evaluation.

    Args:
        pred, gt: (..., J, D).
    Returns:
        (...) in [0, 1].
    """
    kind, pred_t, gt_t = _pair(pred, gt)
    thresholds = torch.as_tensor(auc_thresholds_mm(max_threshold_mm, steps), dtype=pred_t.dtype, device=pred_t.device)
    errors = _joint_errors(pred_t, gt_t).contiguous()
    # Thresholds strictly above each error = steps - (number of thresholds <= error).
    passed = thresholds.numel() - torch.searchsorted(thresholds, errors, right=True)
    return kind.output(passed.to(pred_t.dtype).mean(dim=-1) / thresholds.numel())


def _difference_error(pred_seq: Array, gt_seq: Array, axis: int, order: int) -> Array:
    kind, pred_t, gt_t = _pair(pred_seq, gt_seq)
    ndim = pred_t.ndim
    time_axis = axis + ndim if axis < 0 else axis
    if not 0 <= time_axis < ndim - 2:
        raise ShapeError(f"axis: the time axis {axis} must come before the joint and coordinate axes of "
                         f"shape {tuple(pred_t.shape)}")
    if pred_t.shape[time_axis] <= order:
        raise ShapeError(f"pred_seq: needs more than {order} frames along axis {axis}, got shape {tuple(pred_t.shape)}")
    difference = torch.diff(pred_t - gt_t, n=order, dim=time_axis)
    return kind.output(torch.linalg.vector_norm(difference, dim=-1).mean(dim=-1))


def mpjve(pred_seq: Array, gt_seq: Array, axis: int = -3) -> Array:
    """Mean per-joint velocity error: MPJPE of the first differences along time, per frame step.

    Args:
        pred_seq, gt_seq: (..., T, J, D) with time on ``axis`` (default -3), mm.
    Returns:
        (..., T - 1) mm/frame (the time axis keeps its place; J and D are reduced).
    """
    return _difference_error(pred_seq, gt_seq, axis, order=1)


def acceleration_error(pred_seq: Array, gt_seq: Array, axis: int = -3) -> Array:
    """Mean per-joint acceleration error: MPJPE of the second differences along time.

    Args:
        pred_seq, gt_seq: (..., T, J, D) with time on ``axis`` (default -3), mm.
    Returns:
        (..., T - 2) mm/frame^2.
    """
    return _difference_error(pred_seq, gt_seq, axis, order=2)


def hit_at_k(query_embeddings: Array, index_embeddings: Array, is_match: Array,
             ks: Sequence[int] = (1, 10, 20), chunk_size: int = 2048) -> dict[int, float]:
    """Retrieval Hit@k: fraction of queries with a match among their k nearest index entries.

    Neighbours by Euclidean distance (``torch.cdist`` and ``topk``, queries in chunks of
    ``chunk_size``). A query with no match in the whole index counts as a miss. For k larger than
    the index, Hit@k = Hit@N.

    Args:
        query_embeddings: (Q, D). index_embeddings: (N, D).
        is_match: (Q, N) bool, True where index entry n is a correct answer for query q.
        ks: the k values.
    Returns:
        ``{k: hit rate in [0, 1]}``.
    """
    kind = array_kind(query_embeddings, index_embeddings)
    queries, index = kind.tensor(query_embeddings), kind.tensor(index_embeddings)
    if queries.ndim != 2 or index.ndim != 2 or queries.shape[1] != index.shape[1]:
        raise ShapeError(f"hit_at_k: expected (Q, D) and (N, D) embeddings, got {tuple(queries.shape)} "
                         f"and {tuple(index.shape)}")
    matches = is_match.to(index.device) if isinstance(is_match, torch.Tensor) else torch.as_tensor(
        np.asarray(is_match), device=index.device)
    matches = matches.bool()
    if matches.shape != (queries.shape[0], index.shape[0]):
        raise ShapeError(f"is_match: expected shape {(queries.shape[0], index.shape[0])}, got {tuple(matches.shape)}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or queries.shape[0] == 0 or index.shape[0] == 0:
        raise ShapeError(f"hit_at_k: needs ks >= 1 and non-empty queries and index, got ks={ks}, "
                         f"Q={queries.shape[0]}, N={index.shape[0]}")
    depth = min(max(ks), index.shape[0])
    hits = torch.zeros(depth, dtype=torch.float64, device=index.device)
    for start in range(0, queries.shape[0], chunk_size):
        distances = torch.cdist(queries[start:start + chunk_size], index)
        nearest = distances.topk(depth, dim=1, largest=False).indices
        found = torch.gather(matches[start:start + chunk_size], 1, nearest)
        hits += found.cummax(dim=1).values.sum(dim=0, dtype=torch.float64)
    rates = (hits / queries.shape[0]).tolist()
    return {k: rates[min(k, depth) - 1] for k in ks}


def mean_by_group(values: Array, groups: Sequence[Hashable] | Array) -> tuple[dict, float]:
    """Mean of ``values`` per group label, and the unweighted mean over groups.

    Used for "averaged per action, then over actions".

    Args:
        values: (N,) numbers (e.g. per-pose MPJPE).
        groups: (N,) labels (str or int), list / numpy / torch.
    Returns:
        ``({label: mean}, mean of the group means)``, labels sorted, as Python scalars.
    Raises:
        ShapeError: mismatched lengths, no values, or non-finite values (named by group).
    """
    values_np = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    groups_np = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
    values_np = values_np.astype(np.float64)
    if values_np.ndim != 1 or groups_np.shape != values_np.shape or values_np.size == 0:
        raise ShapeError(f"mean_by_group: expected non-empty values (N,) and groups (N,), got "
                         f"{values_np.shape} and {groups_np.shape}")
    labels, inverse = np.unique(groups_np, return_inverse=True)
    finite = np.isfinite(values_np)
    if not finite.all():
        bad = labels[np.unique(inverse[~finite])].tolist()
        raise ShapeError(f"mean_by_group: non-finite values in group(s) {bad}")
    means = np.bincount(inverse, weights=values_np) / np.bincount(inverse)
    per_group = dict(zip(labels.tolist(), means.tolist()))
    return per_group, float(means.mean())
