"""The Hit@k protocol of V-VIPE (§4.2, ``shared/benchmark.md``): does an embedding find the same pose
seen by another camera?

For every ordered pair of cameras, each pose seen by the first camera queries the embeddings of the
poses seen by the second; a hit when one of its k nearest has a normalised, Procrustes-aligned 3D
pose within 0.1 (MPJPE) of the query's (:func:`pose_match_matrix`, :func:`cross_view_hit_at_k`, which
scores with :func:`poselift.metrics.hit_at_k`), after near-duplicate poses are removed from the test
set (:func:`remove_near_duplicates`, 0.02). Normalised 3D poses are those of
:func:`poselift.encoding.normalize_pose_3d` (canonical frame, pelvis at the origin, unit size).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from poselift.errors import ShapeError
from poselift.metrics import hit_at_k, p_mpjpe

def aligned_pose_errors(normalised_poses, query_index, candidate_index, chunk_size: int = 65_536):
    """MPJPE of pose ``candidate_index[p]`` after its Procrustes (similarity) alignment onto pose
    ``query_index[p]`` (:func:`poselift.metrics.p_mpjpe`), for every pair p, in chunks.

    Args:
        normalised_poses: ``(F, J, 3)`` normalised poses. query_index, candidate_index: ``(P,)``.

    Returns:
        ``(P,)`` tensor in normalised units (float64 maths on float64 input).
    """
    poses = torch.as_tensor(normalised_poses)
    queries = torch.as_tensor(query_index).long().to(poses.device)
    candidates = torch.as_tensor(candidate_index).long().to(poses.device)
    errors = [p_mpjpe(poses[candidates[start:start + chunk_size]], poses[queries[start:start + chunk_size]])
              for start in range(0, len(queries), chunk_size)]
    return torch.cat(errors) if errors else poses.new_zeros(0)


def remove_near_duplicates(normalised_poses, threshold: float = 0.02, candidate_radius: float = 0.15,
                           chunk_size: int = 1024) -> torch.Tensor:
    """Indices of the poses kept when near-duplicates are removed (``shared/benchmark.md``).

    In order, a pose is dropped when its Procrustes-aligned MPJPE to a pose already kept is below
    ``threshold``. Only pairs closer than ``candidate_radius`` (RMS joint distance) in the canonical
    frame are aligned: the canonical frame already removes the global rotation, and among the
    benchmark's test poses no pair 0.1 - 0.3 apart there was within 0.02 after alignment (400 000
    pairs sampled; ``benchmarks/vvipe_accuracy.py`` rechecks the 0.1 - 0.15 band on every run), so
    0.15 leaves room while aligning about 2 % of the pairs.

    Args:
        normalised_poses: ``(F, J, 3)`` from :func:`~poselift.encoding.normalize_pose_3d`, in order.

    Returns:
        ``(F',)`` long, increasing.
    """
    poses = torch.as_tensor(normalised_poses)
    count, flat = poses.shape[0], poses.flatten(1)
    rms_scale = math.sqrt(poses.shape[1])
    earlier, later = [], []
    for start in range(0, count, chunk_size):
        close = torch.cdist(flat[start:start + chunk_size], flat) / rms_scale < candidate_radius
        rows, columns = torch.nonzero(close, as_tuple=True)
        rows = rows + start
        forward = columns > rows
        earlier.append(rows[forward])
        later.append(columns[forward])
    earlier, later = torch.cat(earlier), torch.cat(later)
    duplicate = aligned_pose_errors(poses, earlier, later) < threshold
    earlier, later = earlier[duplicate].cpu().numpy(), later[duplicate].cpu().numpy()
    order = np.argsort(earlier, kind="stable")
    earlier, later = earlier[order], later[order]
    starts = np.searchsorted(earlier, np.arange(count + 1))
    keep = np.ones(count, dtype=bool)
    # Greedy in order, so sequential by definition: a pose's fate is known once every earlier one's is.
    for pose in np.flatnonzero(starts[1:] > starts[:-1]):
        if keep[pose]:
            keep[later[starts[pose]:starts[pose + 1]]] = False
    return torch.from_numpy(np.flatnonzero(keep))


def pose_match_matrix(normalised_poses, threshold: float = 0.1, pairs_per_chunk: int = 65_536) -> torch.Tensor:
    """``(F, F)`` bool (CPU): ``[q, c]`` when pose c aligned onto pose q (Procrustes) is within ``threshold``
    MPJPE of it, the Hit@k answer test. Computed for every ordered pair (F^2 alignments, on the
    poses' device: about 6 us a pair on one CPU core in float64, so ~2.5 min for the benchmark's
    ~5000 distinct test poses)."""
    poses = torch.as_tensor(normalised_poses)
    count = poses.shape[0]
    rows_per_chunk = max(1, pairs_per_chunk // max(count, 1))
    matches = torch.zeros(count, count, dtype=torch.bool)
    for start in range(0, count, rows_per_chunk):
        rows = torch.arange(start, min(start + rows_per_chunk, count), device=poses.device)
        query = rows.repeat_interleave(count)
        candidate = torch.arange(count, device=poses.device).repeat(len(rows))
        close = aligned_pose_errors(poses, query, candidate, chunk_size=pairs_per_chunk) < threshold
        matches[start:start + len(rows)] = close.reshape(len(rows), count).cpu()
    return matches


def cross_view_hit_at_k(embeddings_by_camera, is_match, ks=(1, 10, 20)) -> dict:
    """Hit@k between every ordered pair of cameras, and their mean (V-VIPE §4.2).

    Args:
        embeddings_by_camera: ``(C, F, D)``: frame f of the (deduplicated) test set seen by camera c.
        is_match: ``(F, F)`` bool from :func:`pose_match_matrix` (frame-level: the same for every pair).
        ks: the k values.

    Returns:
        ``{"pairs": {"a->b": {k: rate}}, "mean": {k: mean rate over the C(C-1) ordered pairs}}``, rates in [0, 1].
    """
    embeddings = torch.as_tensor(embeddings_by_camera)
    if embeddings.ndim != 3 or embeddings.shape[0] < 2:
        raise ShapeError(f"embeddings_by_camera: expected (C >= 2, F, D), got {tuple(embeddings.shape)}")
    if not bool(torch.isfinite(embeddings).all()):
        raise ShapeError("embeddings_by_camera: some frames have no embedding (NaN); remove them first")
    pairs = {}
    for query_camera in range(embeddings.shape[0]):
        for index_camera in range(embeddings.shape[0]):
            if query_camera != index_camera:
                pairs[f"{query_camera}->{index_camera}"] = hit_at_k(embeddings[query_camera], embeddings[index_camera],
                                                                    is_match, ks)
    mean = {k: float(np.mean([rates[k] for rates in pairs.values()])) for k in ks}
    return {"pairs": pairs, "mean": mean}
