"""Pose retrieval with V-VIPE embeddings: the index file and nearest-neighbour search.

- An :class:`EmbeddingIndex` holds the embeddings of every frame of one or more pose files (2D
  keypoints or 3D poses, embedded by a ``vvipe`` or ``vvipe_vae`` model) with where each came from
  (file and frame). It is saved as one ``.npz`` (keys in :meth:`EmbeddingIndex.save`), atomically.
- :func:`nearest_neighbors` is an exact, batched k-nearest-neighbour search in torch (squared
  distances by matrix products, queries and index in chunks, a running top-k merged chunk by chunk),
  on the CPU or a GPU; ``benchmarks/vvipe_accuracy.py`` reports its speed on 10^6 entries.

Pose files are read by :func:`poselift.io.pose_input.load_pose_input`; the Hit@k protocol that scores
embeddings is :mod:`poselift.hit_at_k_protocol`; the commands ``poselift index`` and ``poselift
retrieve`` are in :mod:`poselift.cli.embedding`. Embedding distances are Euclidean, in latent units.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from poselift.errors import FormatError, PoseliftError, ShapeError
from poselift.fileio import atomic_path
from poselift.geometry import array_kind
from poselift.io.pose_input import PoseInput, load_pose_input
from poselift.wording import count

INDEX_FORMAT = "poselift.embedding_index"
INDEX_VERSION = 1


# ----------------------------------------------------------------------------------------------
# pose files -> embeddings
# ----------------------------------------------------------------------------------------------


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
        report.append(f"{poses.path}: {poses.kind.upper()}, {count(len(kept), 'frame')} indexed"
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
