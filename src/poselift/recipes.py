"""Training recipes: from a benchmark file and a few choices to a trained checkpoint.

``train_on_benchmark`` is what ``poselift train KIND ...`` runs: it picks the cameras of the
protocol, builds the augmented training source (virtual cameras, random cameras, body sizes, flip,
joint dropout), the model of the registered kind, and hands them to the ONE training loop
(:func:`poselift.train.train`).

A model class with a ``prepare_config(config, train_source, epochs)`` classmethod gets its config completed
from the training data before it is built (the consensus model draws its joint groups so).

The model class says which samples it trains on: its class attribute ``source_kind`` is
``"frames"`` (single frames, the default when absent), ``"pairs"`` (two views per sample: half the
same frame by two cameras, half random frames, for siamese losses), ``"views"`` (the same frame by
two cameras, 2D and cameras only, no 3D: self-supervised training) or ``"windows"`` (sliding windows
of ``config.sequence_length`` consecutive frames, stride 1); :data:`SOURCE_BUILDERS` maps it to the
batch sources.

Schedule: with ``lr_decay_steps=None`` the recipe keeps the paper's 48 learning-rate decays
(:data:`poselift.schedules.PAPER_DECAYS`) over our (shorter) run: ``lr_decay_steps = total_steps / 48``.
The default schedule of each kind is :func:`poselift.schedules.default_schedule`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from poselift.camera import virtual_rig
from poselift.checkpoint import load_checkpoint
from poselift.data.benchmark import load_benchmark
from poselift.data.body_scale import BodyScaleConfig
from poselift.data.datasets import FramePairSource, FrameSource, MultiViewSource, WindowSource
from poselift.data.random_cameras import RandomCameraConfig
from poselift.errors import PoseliftError
from poselift.fileio import write_text_atomic
from poselift.models.base import LiftingModel
from poselift.models.registry import MODEL_KINDS, build_config
from poselift.schedules import PAPER_DECAYS
from poselift.train import TrainConfig, train

PROTOCOL_TRAIN_CAMERAS = {1: (0, 1, 2, 3), 3: (0, 1, 2)}


@dataclass
class DataOptions:
    """What the model sees in training.

    input: "gt" or "noisy" 2D. protocol: 1 (train on all four cameras) or 3 (cameras 0-2 only).
    validation: what the per-epoch validation rows measure, and on which people the model trains:
      "test": all seven training people; the test split is logged each epoch as a report only, and
      no ``best.pt`` is kept (the test split never chooses anything). "people": five training people
      ("fit"), validated on the other two ("val", :data:`~poselift.data.benchmark.VALIDATION_SUBJECTS`),
      with ``best.pt`` chosen there: for every choice (hyper-parameters, variants, schedules).
      "none": all seven training people, no validation.
    virtual_cameras: add cameras every ``virtual_step_deg`` around the rig (for Protocol #3 none
    closer than 30 degrees to camera 3). random_cameras: the share of samples filmed by a camera drawn
    for that sample (0 = off; :class:`~poselift.data.random_cameras.RandomCameraConfig`'s ranges: 2-8 m,
    phone to telephoto, the person anywhere in the image). body_scale: scale every sample's bones
    (:class:`~poselift.data.body_scale.BodyScaleConfig`: 0.85-1.15 overall, +-5 % per bone). flip:
    left/right mirror augmentation. frame_stride: keep every k-th frame. joint_dropout: probability
    of hiding each 2D joint (teaches missing joints). The validation samples are never augmented.
    """

    input: str = "gt"
    protocol: int = 1
    validation: str = "test"
    virtual_cameras: bool = False
    virtual_step_deg: float = 15.0
    flip: bool = False
    frame_stride: int = 1
    joint_dropout: float = 0.0
    random_cameras: float = 0.0
    body_scale: bool = False


# validation mode -> (split trained on, split validated on or None)
VALIDATION_SPLITS = {"test": ("train", "test"), "people": ("fit", "val"), "none": ("train", None)}


def validation_frames(benchmark, options: DataOptions, val_cameras, splits) -> FrameSource | None:
    """Single frames (every 5th) of the validation split with 3D, or None without one."""
    if splits[1] is None:
        return None
    return FrameSource(benchmark, splits[1], options.input, cameras=val_cameras, frame_stride=5)


def _augmentation(options: DataOptions, virtual) -> dict:
    """The training augmentation of the options, as keyword arguments of :class:`FrameSource` and
    :class:`WindowSource` (which take the same ones)."""
    random_cameras = RandomCameraConfig(fraction=options.random_cameras) if options.random_cameras > 0 else None
    return dict(virtual_cameras=virtual, flip=options.flip, joint_dropout=options.joint_dropout,
                random_cameras=random_cameras, body_scale=BodyScaleConfig() if options.body_scale else None)


def _frame_sources(benchmark, options: DataOptions, cameras, val_cameras, virtual, sequence_length: int, splits):
    """Single frames (``sequence_length`` is unused)."""
    train_source = FrameSource(benchmark, splits[0], options.input, cameras=cameras, frame_stride=options.frame_stride,
                               **_augmentation(options, virtual))
    return train_source, validation_frames(benchmark, options, val_cameras, splits)


def _pair_sources(benchmark, options: DataOptions, cameras, val_cameras, virtual, sequence_length: int, splits):
    """Pairs of single frames (view 2: the same frame by another camera, or a random frame); validated
    on single frames."""
    train_frames, val_source = _frame_sources(benchmark, options, cameras, val_cameras, virtual, sequence_length,
                                              splits)
    return FramePairSource(train_frames), val_source


def _window_sources(benchmark, options: DataOptions, cameras, val_cameras, virtual, sequence_length: int, splits):
    """Windows of ``sequence_length`` consecutive frames, augmented as single frames are (one camera, body
    and mirror decision per window, joint dropout per frame); ``frame_stride`` spaces the window starts.
    Validated on un-augmented windows."""
    train_source = WindowSource(benchmark, sequence_length, splits[0], options.input, cameras=cameras,
                                stride=options.frame_stride, **_augmentation(options, virtual))
    val_source = None if splits[1] is None else WindowSource(benchmark, sequence_length, splits[1], options.input,
                                                             cameras=val_cameras, stride=5)
    return train_source, val_source


def _view_sources(benchmark, options: DataOptions, cameras, val_cameras, virtual, sequence_length: int, splits):
    """The same frame by two cameras, 2D and cameras only (self-supervised training), validated on single
    frames with 3D (``splits``: the split trained on, the split validated
    on or None). ``sequence_length`` is unused."""
    unsupported = [flag for flag, used in (("flip", options.flip), ("joint dropout", options.joint_dropout > 0),
                                           ("random cameras", options.random_cameras > 0),
                                           ("body scale", options.body_scale)) if used]
    if unsupported:
        raise PoseliftError(f"{', '.join(unsupported)}: not available for self-supervised multi-view training "
                            "(a mirrored view is not a camera; random cameras and body sizes are built for frames "
                            "with 3D, which it never reads)")
    train_source = MultiViewSource(benchmark, splits[0], options.input, cameras=cameras, virtual_cameras=virtual,
                                   frame_stride=options.frame_stride)
    val_source = None if splits[1] is None else FrameSource(benchmark, splits[1], options.input,
                                                            cameras=val_cameras, frame_stride=5)
    return train_source, val_source


SOURCE_BUILDERS = {"frames": _frame_sources, "pairs": _pair_sources, "windows": _window_sources,
                   "views": _view_sources}


def training_sources(benchmark, options: DataOptions, source_kind: str = "frames", sequence_length: int = 1):
    """(train source, validation source or None) for the options (``options.validation`` picks the
    splits, :data:`VALIDATION_SPLITS`); validation: same cameras as the test protocol, no augmentation.

    ``source_kind``: "frames", "pairs" or "windows" (of ``sequence_length`` frames), see :data:`SOURCE_BUILDERS`.
    """
    if options.protocol not in PROTOCOL_TRAIN_CAMERAS:
        raise PoseliftError(f"training protocol must be 1 or 3, got {options.protocol}")
    if options.validation not in VALIDATION_SPLITS:
        raise PoseliftError(f"validation must be one of {', '.join(VALIDATION_SPLITS)}, got {options.validation!r}")
    if not 0.0 <= options.random_cameras <= 1.0:
        raise PoseliftError(f"random cameras: the share of samples must be in [0, 1], got {options.random_cameras}")
    if source_kind not in SOURCE_BUILDERS:
        raise PoseliftError(f"unknown training source kind {source_kind!r}; known: {', '.join(SOURCE_BUILDERS)}")
    cameras = PROTOCOL_TRAIN_CAMERAS[options.protocol]
    virtual = []
    if options.virtual_cameras:
        held_out = [benchmark.cameras[3]] if options.protocol == 3 else None
        virtual = virtual_rig([benchmark.cameras[i] for i in cameras], step_deg=options.virtual_step_deg,
                              exclude_near=held_out, min_separation_deg=30.0)
    val_cameras = (3,) if options.protocol == 3 else cameras
    train_source, val_source = SOURCE_BUILDERS[source_kind](benchmark, options, cameras, val_cameras, virtual,
                                                            sequence_length, VALIDATION_SPLITS[options.validation])
    if len(train_source) == 0:
        raise PoseliftError(f"no training {source_kind} in the benchmark for these options "
                            f"(sequence length {sequence_length}, frame stride {options.frame_stride})")
    return train_source, val_source


def new_model(model_class: type[LiftingModel], config) -> LiftingModel:
    """A new model of ``config``; where the config builds on a checkpoint (V-VIPE's stage 1,
    :meth:`~poselift.models.base.LiftingModel.pretrained_checkpoint`), that file is read here and the
    model is built on it by the class's ``from_pretrained``."""
    path = model_class.pretrained_checkpoint(config)
    if path is None:
        return model_class(config)
    return model_class.from_pretrained(config, load_checkpoint(path), path)


def model_source(kind: str, model_config: dict | None = None) -> tuple[str, int]:
    """(source kind, sequence length) a registered model kind trains on, from its class and config."""
    config = build_config(kind, model_config or {})
    model_class = MODEL_KINDS[kind][1]
    return model_class.source_kind, model_class.window_length(config)


def train_on_benchmark(kind: str, benchmark_path: str | Path, out_dir: str | Path, data: DataOptions,
                       train_config: TrainConfig, model_config: dict | None = None, resume: bool = False,
                       force: bool = False, quiet: bool = False, lr_decay_steps: int | None = None,
                       step_callback=None) -> dict:
    """Train a model of ``kind`` on the benchmark; returns the loop's summary.
    ``step_callback(model, step, loss_terms)``, if given, runs after each optimiser step (gradients still
    in place), e.g. to trace a run (``benchmarks/selfsup_trace.py``)."""
    source_kind, sequence_length = model_source(kind, model_config)
    benchmark = load_benchmark(benchmark_path)
    train_source, val_source = training_sources(benchmark, data, source_kind, sequence_length)
    if lr_decay_steps is None:
        steps_per_epoch = max(1, len(train_source) // train_config.batch_size)
        lr_decay_steps = max(1, round(train_config.epochs * steps_per_epoch / PAPER_DECAYS))
    train_config = replace(train_config, lr_decay_steps=lr_decay_steps)
    if data.validation == "test":                        # a report, never a choice: no best.pt
        train_config = replace(train_config, best_metric=None)
    torch.manual_seed(train_config.seed)                 # the initial weights follow the seed
    config = build_config(kind, model_config or {})
    model_class = MODEL_KINDS[kind][1]
    config = model_class.prepare_config(config, train_source, train_config.epochs)   # e.g. consensus's groups
    model = new_model(model_class, config)
    if int(os.environ.get("RANK", "0")) == 0:
        run = {"kind": kind, "benchmark": str(benchmark_path), "benchmark_version": benchmark.version,
               "data": asdict(data), "train": asdict(train_config), "model": model_config or {},
               "source": {"kind": source_kind, "sequence_length": sequence_length},
               "train_samples": len(train_source)}
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(out_dir) / "run.json", json.dumps(run, indent=1) + "\n")
    traced = None if step_callback is None else (lambda step, terms: step_callback(model, step, terms))
    return train(model, train_source, train_config, out_dir, val_source=val_source, resume=resume,
                 force=force, quiet=quiet, step_callback=traced)
