"""Checkpoints: one self-contained file per model and training state.

A checkpoint is a ``torch.save`` dict of plain data (loadable with ``weights_only=True``):

=================  ==================================================================
format_version     int, :data:`FORMAT_VERSION` of the writer (an older file's config lacks the
                   options added since; it is read with the values it was trained with:
                   :data:`FIELDS_ADDED`)
poselift_version   str
model_kind         str, key of ``poselift.models.registry.MODEL_KINDS``
model_config       dict, ``dataclasses.asdict`` of the model's config
layout             str, keypoint layout of the model's input and output ("h36m17")
model_state        the model's ``state_dict`` (includes the PoseNormalizer statistics)
optimizer_state    optimiser ``state_dict`` or None
scheduler_state    learning-rate scheduler ``state_dict`` or None
step, epoch        int: optimiser steps done; epoch in progress
train_config       dict (``asdict`` of the TrainConfig) or None
rng_state          dict from :func:`capture_rng_state` or None
extra              dict of anything else (the training loop keeps its position here)
=================  ==================================================================

:func:`load_model` needs nothing but the file: it rebuilds the model from its kind and config.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import poselift
from poselift.errors import FormatError, PoseliftError
from poselift.fileio import atomic_path

FORMAT_VERSION = 3
DEFAULT_LAYOUT = "h36m17"
# The backbone of every checkpoint of format 1 (He init, dense input layer, per-row max-norm).
VERSION_1_BACKBONE = {"init": "kaiming", "input_layer": "dense", "max_norm_mode": "row"}
VERSION_1_BACKBONE_KINDS = ("baseline", "consensus", "selfsup", "siamese", "vvipe", "vvipe_vae")
# Config fields added with each format version, per model kind, with the value that rebuilds what an
# older checkpoint was trained with (its defaults have changed since): {version: {kind: {field: value}}}.
# Format 3: the readings of the temporal, siamese and consensus papers that an audit against the papers
# and the authors' code changed (docs/temporal.md, docs/siamese.md, docs/consensus.md), and the
# self-supervised lifter's re-projection guard that now keeps a gradient (docs/selfsup.md).
FIELDS_ADDED = {
    2: {kind: VERSION_1_BACKBONE for kind in VERSION_1_BACKBONE_KINDS},
    3: {"temporal": {"dropout_placement": "inputs", "norm_style": "ba", "loss_space": "normalized"},
        "siamese": {"pose_distance": "frobenius"},
        "consensus": {"lifting_target": "centred", "aggregation_target": "consensus"},
        "selfsup": {"reprojection_bound": "hard"}},
}
_REQUIRED_KEYS = ("format_version", "model_kind", "model_config", "model_state")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside a (Distributed)DataParallel wrapper."""
    while isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    return model


def _as_dict(config: Any) -> dict | None:
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """States of the torch (CPU and CUDA), numpy and Python global RNGs and of ``generator``."""
    numpy_state = np.random.get_state(legacy=False)
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": [version, list(python_state), gauss],
        "generator": None if generator is None else generator.get_state(),
    }


def restore_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([cuda_state.cpu() for cuda_state in state["cuda"]])
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {"key": numpy_state["key"].cpu().numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"].cpu())


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    step: int = 0,
    epoch: int = 0,
    train_config: Any = None,
    rng_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (an interrupted write leaves the previous file intact)."""
    model = unwrap_model(model)
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "poselift_version": poselift.__version__,
        "model_kind": model.kind,
        "model_config": _as_dict(model.config),
        "layout": model.layout,
        "model_state": model.state_dict(),
        "optimizer_state": None if optimizer is None else optimizer.state_dict(),
        "scheduler_state": None if scheduler is None else scheduler.state_dict(),
        "step": int(step),
        "epoch": int(epoch),
        "train_config": _as_dict(train_config),
        "rng_state": rng_state,
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint file; raises PoseliftError/FormatError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PoseliftError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many kinds for truncated or foreign files
        raise FormatError(path, f"not a readable poselift checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in _REQUIRED_KEYS):
        raise FormatError(path, f"not a poselift checkpoint (needs keys {', '.join(_REQUIRED_KEYS)})")
    version = checkpoint["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatError(
            path,
            f"checkpoint format version {version} is newer than this poselift "
            f"{poselift.__version__} reads (up to {FORMAT_VERSION}); upgrade poselift",
        )
    for added_in, kinds in FIELDS_ADDED.items():
        if version < added_in and checkpoint["model_kind"] in kinds:
            _fill_fields(checkpoint["model_config"], kinds[checkpoint["model_kind"]])
    return checkpoint


def _fill_fields(model_config: dict, fields: dict) -> None:
    """In place: the options an older config lacks (and its nested V-VIPE stage-1 config's)."""
    for key, value in fields.items():
        model_config.setdefault(key, value)
    if isinstance(model_config.get("pose_vae"), dict):
        _fill_fields(model_config["pose_vae"], fields)


def model_from_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> nn.Module:
    """Build the stored model kind/config and load its weights (train mode, CPU)."""
    from poselift.models.registry import MODEL_KINDS, build_model

    kind = checkpoint["model_kind"]
    if kind not in MODEL_KINDS:
        raise FormatError(path, f"unknown model kind {kind!r}; this poselift knows {', '.join(sorted(MODEL_KINDS))}")
    expected_layout = MODEL_KINDS[kind][1].layout
    layout = checkpoint.get("layout", DEFAULT_LAYOUT)
    if layout != expected_layout:
        raise FormatError(path, f"checkpoint is for keypoint layout {layout!r}; "
                                f"{kind!r} models of this poselift work on {expected_layout!r}")
    try:
        model = build_model(kind, checkpoint["model_config"])
    except (PoseliftError, TypeError, ValueError) as error:
        raise FormatError(path, f"bad model_config for {kind!r}: {error}") from None
    try:
        model.load_state_dict(checkpoint["model_state"])
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0:2]
        raise FormatError(path, f"weights do not fit the {kind!r} model: {' '.join(first_line)}") from None
    return model


def load_model(path: str | os.PathLike, map_location: Any = "cpu") -> nn.Module:
    """The model stored in a checkpoint, on ``map_location``, in eval mode."""
    checkpoint = load_checkpoint(path, map_location="cpu")
    model = model_from_checkpoint(checkpoint, path)
    return model.to(map_location).eval()


def export_model(checkpoint_path: str | os.PathLike, out_path: str | os.PathLike, half: bool = True,
                 info: dict[str, Any] | None = None) -> Path:
    """Write a weights-only copy of a checkpoint for shipping (no optimiser, scheduler or RNG state).

    With ``half`` the network weights are stored as float16 (half the size; loading casts them back
    to float32, a change of under 1e-3 relative per weight); the normalisation statistics stay float32.
    ``info`` (e.g. the training command and data) is kept under ``extra["export"]``.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    state = {
        name: tensor.half() if half and tensor.is_floating_point() and not name.startswith("normalizer.") else tensor
        for name, tensor in checkpoint["model_state"].items()
    }
    exported = {
        **{key: checkpoint[key] for key in ("format_version", "poselift_version", "model_kind", "model_config",
                                            "layout", "step", "epoch", "train_config")},
        "model_state": state, "optimizer_state": None, "scheduler_state": None, "rng_state": None,
        "extra": {"export": {"source": str(checkpoint_path), "float16": half, **(info or {})}},
    }
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        torch.save(exported, tmp)
    return out_path
