"""Pose retrieval with V-VIPE embeddings: indexes, nearest-neighbour search, and the Hit@k protocol.

- An :class:`EmbeddingIndex` holds the embeddings of every frame of one or more pose files (2D
  keypoints or 3D poses, embedded by a ``vvipe`` or ``vvipe_vae`` model) with where each came from
  (file and frame). It is saved as one ``.npz`` (keys in :meth:`EmbeddingIndex.save`), atomically.
- :func:`nearest_neighbors` is an exact, batched k-nearest-neighbour search in torch (squared
  distances by matrix products, queries and index in chunks, a running top-k merged chunk by chunk),
  on the CPU or a GPU; ``benchmarks/vvipe_accuracy.py`` reports its speed on 10^6 entries.
- Hit@k (V-VIPE §4.2, ``shared/benchmark.md``): for every ordered pair of cameras, each pose seen by
  the first camera queries the embeddings of the poses seen by the second; a hit when one of its k
  nearest has a normalised, Procrustes-aligned 3D pose within 0.1 (MPJPE) of the query's
  (:func:`pose_match_matrix`, :func:`cross_view_hit_at_k`), after near-duplicate poses are removed
  from the test set (:func:`remove_near_duplicates`, 0.02).
- The ``poselift index`` and ``poselift retrieve`` commands (:func:`add_retrieval_commands`).

Embedding distances are Euclidean, in latent units. Normalised 3D poses are those of
:func:`poselift.models.vvipe.normalize_pose_3d` (canonical frame, pelvis at the origin, unit size).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from poselift.errors import FormatError, LayoutError, PoseliftError, ShapeError
from poselift.fileio import atomic_path, check_output_file, write_text_atomic
from poselift.geometry import array_kind
from poselift.metrics import hit_at_k, p_mpjpe
from poselift.skeleton import H36M17, to_h36m17

INDEX_FORMAT = "poselift.embedding_index"
INDEX_VERSION = 1
POSE_KINDS = ("auto", "2d", "3d")
_PRINTED_QUERIES = 20


# ----------------------------------------------------------------------------------------------
# pose files -> embeddings
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PoseInput:
    """Poses read from a file, in the H36M-17 layout.

    kind: "2d" (``points`` (T, 17, 2) px, ``confidence`` (T, 17)) or "3d" (``points`` (T, 17, 3) mm,
    any frame; ``confidence`` None). NaN marks a missing joint.
    """

    path: str
    kind: str
    points: np.ndarray
    confidence: np.ndarray | None


def _poses_3d_in_h36m17(path: Path, poses) -> np.ndarray:
    """(T, 17, 3) mm from a :class:`~poselift.io.records.Poses3D` of any known layout."""
    layout = poses.layout
    if layout is None and poses.joint_names == H36M17.joint_names:
        layout = H36M17.name
    if layout is None:
        raise LayoutError(f"{path}: 3D poses with joints {list(poses.joint_names)[:5]}... follow no known layout; "
                          "write them in the h36m17 layout (or name their layout)")
    points, _ = to_h36m17(poses.poses_3d, None, layout)
    return np.asarray(points, dtype=np.float32)


def load_pose_input(path: str | os.PathLike, kind: str = "auto") -> PoseInput:
    """Read a 2D keypoint file or a 3D pose file (any format :mod:`poselift.io` reads).

    ``kind="auto"`` tries a 3D pose file first, then a 2D keypoint file.

    Raises:
        FormatError: the file is neither (the message gives both readers' reasons).
    """
    from poselift.io import load_keypoints_2d, load_poses_3d

    if kind not in POSE_KINDS:
        raise PoseliftError(f"pose kind must be one of {', '.join(POSE_KINDS)}, got {kind!r}")
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "no such file or folder")
    problems = []
    if kind in ("auto", "3d"):
        try:
            poses = load_poses_3d(path)
        except FormatError as error:
            if kind == "3d":
                raise
            problems.append(f"as 3D poses: {error.problem}")
        else:
            return PoseInput(str(path), "3d", _poses_3d_in_h36m17(path, poses), None)
    try:
        keypoints = load_keypoints_2d(path)
    except FormatError as error:
        if kind == "2d":
            raise
        problems.append(f"as 2D keypoints: {error.problem}")
        raise FormatError(path, "not a pose file (" + "; ".join(problems) + ")") from None
    points, confidence = to_h36m17(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout)
    return PoseInput(str(path), "2d", np.asarray(points, np.float32), np.asarray(confidence, np.float32))


def load_embedding_model(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """A V-VIPE model (``vvipe`` or ``vvipe_vae`` checkpoint) in eval mode; PoseliftError for other kinds."""
    from poselift.checkpoint import load_model

    model = load_model(path, map_location=device)
    if not hasattr(model, "embed_3d"):
        raise PoseliftError(f"{path}: a {model.kind!r} model has no pose embedding; use a 'vvipe' or 'vvipe_vae' "
                            "checkpoint")
    return model


def embed_pose_input(model: nn.Module, poses: PoseInput) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of every frame: ``(embeddings (T, D) float32, valid (T,) bool)``; a frame that cannot
    be embedded (root or a 3D joint missing) is NaN with ``valid`` False."""
    if poses.kind == "2d":
        if not hasattr(model, "embed"):
            raise PoseliftError(f"{poses.path}: 2D keypoints need a stage-2 'vvipe' model; a "
                                f"{model.kind!r} model embeds 3D poses only")
        embeddings = model.embed(poses.points, poses.confidence)
    else:
        embeddings = model.embed_3d(poses.points)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings, np.isfinite(embeddings).all(axis=-1)


# ----------------------------------------------------------------------------------------------
# the index file
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EmbeddingIndex:
    """Embeddings and their origin.

    embeddings: ``(N, D)`` float32. source: ``(N,)`` position of each entry's file in ``source_files``.
    frame: ``(N,)`` the entry's frame number in its file. source_files, source_kinds: one path and
    kind ("2d" / "3d") per file. model: the checkpoint that made the embeddings.
    """

    embeddings: np.ndarray
    source: np.ndarray
    frame: np.ndarray
    source_files: tuple[str, ...]
    source_kinds: tuple[str, ...]
    model: str

    def __post_init__(self) -> None:
        embeddings = np.asarray(self.embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] == 0:
            raise ShapeError(f"EmbeddingIndex.embeddings: expected a non-empty (N, D) array, got {embeddings.shape}")
        if not np.isfinite(embeddings).all():
            raise ShapeError("EmbeddingIndex.embeddings: contains non-finite values")
        source, frame = np.asarray(self.source, np.int32), np.asarray(self.frame, np.int64)
        if source.shape != (len(embeddings),) or frame.shape != (len(embeddings),):
            raise ShapeError(f"EmbeddingIndex: source {source.shape} and frame {frame.shape} must be "
                             f"({len(embeddings)},)")
        if len(self.source_files) != len(self.source_kinds) or source.min() < 0 or source.max() >= len(self.source_files):
            raise ShapeError(f"EmbeddingIndex: source numbers must index the {len(self.source_files)} source files")
        object.__setattr__(self, "embeddings", embeddings)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "source_files", tuple(str(name) for name in self.source_files))
        object.__setattr__(self, "source_kinds", tuple(str(kind) for kind in self.source_kinds))

    def __len__(self) -> int:
        return len(self.embeddings)

    def save(self, path: str | os.PathLike) -> Path:
        """Write one ``.npz`` atomically: ``format``, ``version``, ``embeddings``, ``source``, ``frame``,
        ``source_files``, ``source_kinds``, ``model`` (strings as numpy unicode, no pickles)."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise PoseliftError(f"{path}: an embedding index is written as .npz")
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, format=np.array(INDEX_FORMAT), version=np.array(INDEX_VERSION),
                         embeddings=self.embeddings, source=self.source, frame=self.frame,
                         source_files=np.array(self.source_files), source_kinds=np.array(self.source_kinds),
                         model=np.array(self.model))
        return path


def load_index(path: str | os.PathLike) -> EmbeddingIndex:
    """Read an index written by :meth:`EmbeddingIndex.save`; FormatError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "no such index file (build one with `poselift index`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise FormatError(path, f"not a readable .npz ({error})") from None
    if str(fields.get("format", "")) != INDEX_FORMAT:
        raise FormatError(path, f"not a poselift embedding index (its 'format' is not {INDEX_FORMAT!r})")
    if int(fields.get("version", INDEX_VERSION + 1)) > INDEX_VERSION:
        raise FormatError(path, f"index version {int(fields['version'])} is newer than this poselift reads")
    missing = [key for key in ("embeddings", "source", "frame", "source_files", "source_kinds", "model")
               if key not in fields]
    if missing:
        raise FormatError(path, f"missing fields {missing}")
    try:
        return EmbeddingIndex(fields["embeddings"], fields["source"], fields["frame"],
                              tuple(fields["source_files"].tolist()), tuple(fields["source_kinds"].tolist()),
                              str(fields["model"]))
    except ShapeError as error:
        raise FormatError(path, str(error)) from None


def build_index(model: nn.Module, pose_files, kind: str = "auto", model_name: str = "") -> tuple[EmbeddingIndex, list[str]]:
    """Embed every frame of ``pose_files`` (paths); frames that cannot be embedded are left out.

    Returns ``(index, report lines: one per file with frames kept / skipped)``.
    """
    embeddings, sources, frames, files, kinds, report = [], [], [], [], [], []
    for number, pose_file in enumerate(pose_files):
        poses = load_pose_input(pose_file, kind)
        file_embeddings, valid = embed_pose_input(model, poses)
        kept = np.flatnonzero(valid)
        embeddings.append(file_embeddings[kept])
        sources.append(np.full(len(kept), number, np.int32))
        frames.append(kept)
        files.append(poses.path)
        kinds.append(poses.kind)
        report.append(f"{poses.path}: {poses.kind.upper()}, {len(kept)} frames indexed"
                      + (f", {len(valid) - len(kept)} skipped (missing root or joints)" if len(kept) < len(valid) else ""))
    if sum(len(item) for item in embeddings) == 0:
        raise PoseliftError("no frame of " + ", ".join(str(path) for path in pose_files) + " could be embedded")
    index = EmbeddingIndex(np.concatenate(embeddings), np.concatenate(sources), np.concatenate(frames),
                           tuple(files), tuple(kinds), model_name)
    return index, report


# ----------------------------------------------------------------------------------------------
# nearest neighbours
# ----------------------------------------------------------------------------------------------


def nearest_neighbors(queries, index_embeddings, k: int, query_chunk: int = 256, index_chunk: int = 65_536):
    """Exact k nearest index entries of every query (Euclidean), batched in torch.

    Squared distances ``|q|^2 - 2 q.x + |x|^2`` come from one matrix product per (query chunk,
    index chunk) block; each block's top-k is merged into the running top-k of its queries, so
    memory stays at ``query_chunk x index_chunk`` distances whatever the index size. The k found are
    then measured directly (``|q - x|``, exact where the expansion loses digits) and sorted. Runs
    on the device of ``index_embeddings`` (put it on a GPU for speed).

    Args:
        queries: ``(Q, D)``. index_embeddings: ``(N, D)``. k: neighbours wanted (at most N are given).

    Returns:
        ``(distances (Q, k'), indices (Q, k') long)`` nearest first, ``k' = min(k, N)``; numpy arrays
        when neither input is a tensor, else tensors on the index's device.
    """
    kind = array_kind(queries, index_embeddings)
    index = kind.tensor(index_embeddings)
    query = kind.tensor(queries).to(index.device)
    if query.ndim != 2 or index.ndim != 2 or query.shape[1] != index.shape[1]:
        raise ShapeError(f"nearest_neighbors: expected (Q, D) queries and (N, D) index, got {tuple(query.shape)} "
                         f"and {tuple(index.shape)}")
    if k < 1 or index.shape[0] == 0:
        raise ShapeError(f"nearest_neighbors: needs k >= 1 and a non-empty index, got k={k}, N={index.shape[0]}")
    depth = min(k, index.shape[0])
    index_norms = index.square().sum(dim=1)
    best_distance = query.new_empty(query.shape[0], depth)
    best_index = torch.empty(query.shape[0], depth, dtype=torch.long, device=index.device)
    for query_start in range(0, query.shape[0], query_chunk):
        block = query[query_start:query_start + query_chunk]
        block_norms = block.square().sum(dim=1, keepdim=True)
        running_squared = running_index = None
        for index_start in range(0, index.shape[0], index_chunk):
            entries = index[index_start:index_start + index_chunk]
            squared = torch.addmm(index_norms[None, index_start:index_start + len(entries)], block, entries.T,
                                  alpha=-2.0).add_(block_norms)
            top_squared, top_index = squared.topk(min(depth, len(entries)), dim=1, largest=False)
            top_index += index_start
            if running_squared is not None:
                top_squared = torch.cat([running_squared, top_squared], dim=1)
                top_index = torch.cat([running_index, top_index], dim=1)
                top_squared, order = top_squared.topk(min(depth, top_squared.shape[1]), dim=1, largest=False)
                top_index = top_index.gather(1, order)
            running_squared, running_index = top_squared, top_index
        # the expansion loses digits for near-equal vectors: measure the k found directly, and re-rank
        exact = (block[:, None, :] - index[running_index]).norm(dim=-1)
        exact, order = exact.sort(dim=1)
        best_distance[query_start:query_start + len(block)] = exact
        best_index[query_start:query_start + len(block)] = running_index.gather(1, order)
    distances = best_distance
    if kind.numpy_out:
        return distances.cpu().numpy(), best_index.cpu().numpy()
    return distances, best_index


# ----------------------------------------------------------------------------------------------
# the Hit@k protocol
# ----------------------------------------------------------------------------------------------


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
        normalised_poses: ``(F, J, 3)`` from :func:`~poselift.models.vvipe.normalize_pose_3d`, in order.

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


# ----------------------------------------------------------------------------------------------
# the commands
# ----------------------------------------------------------------------------------------------


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _cmd_index(args) -> None:
    out = check_output_file(args.out, force=args.force)
    model = load_embedding_model(args.model)
    index, report = build_index(model, args.poses, kind=args.kind, model_name=str(args.model))
    index.save(out)
    print("\n".join(report))
    print(f"wrote {out} ({len(index)} embeddings of size {index.embeddings.shape[1]})")


def _neighbour_rows(index: EmbeddingIndex, query_frames, distances, indices) -> list[dict]:
    return [{"query_frame": int(frame),
             "neighbours": [{"rank": rank + 1, "distance": float(distance), "file": index.source_files[index.source[entry]],
                             "frame": int(index.frame[entry])}
                            for rank, (distance, entry) in enumerate(zip(row_distances, row_indices))]}
            for frame, row_distances, row_indices in zip(query_frames, distances, indices)]


def _write_results(path: Path, rows: list[dict], query: PoseInput, index_path: str) -> None:
    if path.suffix.lower() == ".json":
        write_text_atomic(path, json.dumps({"query": query.path, "index": index_path, "results": rows}, indent=1) + "\n")
    elif path.suffix.lower() == ".npz":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, query_frame=np.array([row["query_frame"] for row in rows], np.int64),
                         distance=np.array([[n["distance"] for n in row["neighbours"]] for row in rows], np.float32),
                         source_file=np.array([[n["file"] for n in row["neighbours"]] for row in rows]),
                         frame=np.array([[n["frame"] for n in row["neighbours"]] for row in rows], np.int64))
    else:
        raise PoseliftError(f"{path}: results are written as .json or .npz")


def _cmd_retrieve(args) -> None:
    if args.out is not None:
        check_output_file(args.out, force=args.force)
    index = load_index(args.index)
    device = _device(args.device)
    model = load_embedding_model(args.model or index.model, device="cpu")
    query = load_pose_input(args.query, args.kind)
    embeddings, valid = embed_pose_input(model, query)
    if args.frame is not None:
        if not 0 <= args.frame < len(embeddings):
            raise PoseliftError(f"{args.query}: --frame {args.frame} is outside its {len(embeddings)} frames")
        selected = np.array([args.frame]) if valid[args.frame] else np.array([], dtype=int)
    else:
        selected = np.flatnonzero(valid)
    if len(selected) == 0:
        raise PoseliftError(f"{args.query}: no frame to query (missing root or joints)")
    if embeddings.shape[1] != index.embeddings.shape[1]:
        raise PoseliftError(f"{args.index}: embeddings of size {index.embeddings.shape[1]}, the model makes "
                            f"{embeddings.shape[1]}; query with the index's model ({index.model})")
    distances, indices = nearest_neighbors(torch.from_numpy(embeddings[selected]),
                                           torch.from_numpy(index.embeddings).to(device), args.k)
    rows = _neighbour_rows(index, selected, distances.cpu().numpy(), indices.cpu().numpy())
    print(f"{query.path} ({query.kind.upper()}): {len(rows)} quer{'y' if len(rows) == 1 else 'ies'} against "
          f"{args.index} ({len(index)} entries), {args.k} nearest")
    for row in rows[:_PRINTED_QUERIES]:
        print(f"query frame {row['query_frame']}:")
        for neighbour in row["neighbours"]:
            print(f"  {neighbour['rank']:>3}  distance {neighbour['distance']:8.4f}  {neighbour['file']}  "
                  f"frame {neighbour['frame']}")
    if len(rows) > _PRINTED_QUERIES:
        print(f"... {len(rows) - _PRINTED_QUERIES} more queries" + ("" if args.out else " (use --out to save them all)"))
    if args.out is not None:
        _write_results(Path(args.out), rows, query, str(args.index))
        print(f"wrote {args.out}")


def add_retrieval_commands(subparsers) -> None:
    """Register ``poselift index`` and ``poselift retrieve`` on the CLI's sub-command parsers."""
    index = subparsers.add_parser("index", help="embed the frames of pose files with a V-VIPE model into a "
                                                "retrieval index (.npz)")
    index.add_argument("poses", nargs="+", type=Path, metavar="POSES",
                       help="2D keypoint or 3D pose file(s) (any format poselift reads)")
    index.add_argument("--model", type=Path, required=True, help="a 'vvipe' (2D and 3D) or 'vvipe_vae' (3D) checkpoint")
    index.add_argument("--out", type=Path, required=True, help="index file (.npz)")
    index.add_argument("--kind", choices=POSE_KINDS, default="auto", help="read the files as 2D or 3D (default: detect)")
    index.add_argument("--force", action="store_true", help="overwrite an existing index")
    index.set_defaults(handler=_cmd_index)

    retrieve = subparsers.add_parser("retrieve", help="find the poses of an index nearest to a query's (V-VIPE)")
    retrieve.add_argument("query", type=Path, metavar="QUERY", help="2D keypoint or 3D pose file of the query pose(s)")
    retrieve.add_argument("--index", type=Path, required=True, help="index from `poselift index`")
    retrieve.add_argument("-k", type=int, default=5, help="neighbours per query (default 5)")
    retrieve.add_argument("--frame", type=int, default=None, help="query only this frame of QUERY (default: all)")
    retrieve.add_argument("--model", type=Path, default=None, help="checkpoint (default: the one that built the index)")
    retrieve.add_argument("--kind", choices=POSE_KINDS, default="auto", help="read QUERY as 2D or 3D (default: detect)")
    retrieve.add_argument("--out", type=Path, default=None, help="save every result (.json or .npz)")
    retrieve.add_argument("--device", default="auto", help="where to search: auto, cpu or cuda")
    retrieve.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    retrieve.set_defaults(handler=_cmd_retrieve)
