"""One training loop for every model: ``train(model, train_source, config, out_dir)``.

A model exposes ``loss(batch) -> dict[str, Tensor]``; the loop minimises ``"loss"`` with Adam and an
exponential learning-rate decay per step (Martinez et al.: ``lr = lr0 * decay ** (step / decay_steps)``),
applies the model's max-norm after every step, and logs the mean of every returned term per epoch.

Data: ``train_source`` has ``__len__`` and ``batch(indices, generator) -> dict[str, Tensor]``. Each
epoch reads a permutation drawn from a generator seeded by ``(seed, epoch)`` in batches of
``batch_size`` (the last incomplete batch is dropped, so every batch has the same size).

Outputs in ``out_dir``: ``last.pt`` (every ``checkpoint_every_steps`` steps, at each epoch end and on
interrupt), ``best.pt`` (lowest validation metric), ``log.csv`` and ``log.json`` (one row per epoch).

Exact resume: ``resume=True`` continues from ``last.pt`` at the exact step, skipping the batches of
the epoch already done (the permutation is recomputed from the seed) and restoring the model,
optimiser, scheduler and every RNG (torch, CUDA, numpy, Python, the loop's data generator) of every
rank, so the final weights equal those of an uninterrupted run.

Distributed: under ``torchrun`` (``WORLD_SIZE > 1``) the model runs in DistributedDataParallel
(gloo on CPU, NCCL on CUDA); at each step rank ``r`` takes the ``r``-th block of ``batch_size``
samples of the step's slice of the shared permutation; only rank 0 writes files.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from poselift.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from poselift.data.datasets import BatchSource
from poselift.errors import OutputExistsError, PoseliftError
from poselift.fileio import write_text_atomic
from poselift.models.backbone import eval_mode

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
_OUTPUT_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, "log.csv", "log.json")
# Fields that must not change between an interrupted run and its resumption.
_RESUME_FIXED_FIELDS = ("batch_size", "lr", "lr_decay", "lr_decay_steps", "max_norm", "seed", "optimizer")
# Optimisers the loop offers: Adam (Martinez et al. and most papers) and RMSProp (Cha et al.'s lifters,
# with the squared-gradient average decaying by 0.9 per step as in Tieleman and Hinton's lecture and
# TensorFlow's RMSPropOptimizer; PyTorch's default is 0.99).
OPTIMIZERS = ("adam", "rmsprop")
RMSPROP_DECAY = 0.9
# Independent random streams derived from the seed.
_STREAM_PERMUTATION, _STREAM_DATA, _STREAM_GLOBAL = 0, 1, 2


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults = Martinez et al.) and run settings. ``poselift train`` does not
    use these schedule defaults: it runs each model kind's own (:func:`poselift.schedules.default_schedule`)."""

    epochs: int = 200
    batch_size: int = 64  # per rank
    lr: float = 1e-3
    lr_decay: float = 0.96
    lr_decay_steps: int = 100_000
    max_norm: bool = True  # run the model's after_optimizer_step (the backbone's "row" max-norm) after each step
    seed: int = 0
    log_every: int = 100  # steps between progress-bar updates
    checkpoint_every_steps: int = 10_000  # 0 = only at epoch ends
    num_threads: int | None = None  # torch CPU threads; None = torch's default (split per rank under DDP)
    device: str = "auto"  # "auto" (CUDA if available), "cpu", "cuda", "cuda:1"
    max_steps: int | None = None  # stop (and save last.pt) after this many steps in total
    eval_batch_size: int = 4096
    best_metric: str | None = "val_mpjpe_mm"  # falls back to val_loss; lower is better; None = no best.pt
    optimizer: str = "adam"  # one of OPTIMIZERS

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise PoseliftError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of ``config.optimizer`` over the model's parameters at ``config.lr``; the fused
    kernels do the same update in one pass over the parameters (Adam: ~7x faster on CPU)."""
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=config.lr, alpha=RMSPROP_DECAY, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Learning rate used for the optimiser step after ``step`` steps: ``lr * decay ** (step / decay_steps)``."""
    return config.lr * config.lr_decay ** (step / config.lr_decay_steps)


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys (e.g. ``(seed, epoch, stream)``)."""
    return int(np.random.SeedSequence([int(key) for key in keys]).generate_state(1, dtype=np.uint64)[0] >> 1)


def epoch_permutation(num_samples: int, seed: int, epoch: int) -> Tensor:
    """The order in which ``epoch`` visits the samples: ``(num_samples,)`` long, same on every rank."""
    generator = torch.Generator().manual_seed(derive_seed(seed, epoch, _STREAM_PERMUTATION))
    return torch.randperm(num_samples, generator=generator)


def rank_batch_indices(
    permutation: Tensor, step_in_epoch: int, batch_size: int, rank: int, world_size: int
) -> Tensor:
    """Sample indices of ``rank`` at ``step_in_epoch``: ``(batch_size,)``, disjoint across ranks and steps."""
    start = (step_in_epoch * world_size + rank) * batch_size
    return permutation[start : start + batch_size]


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {key: value.to(device) if torch.is_tensor(value) else value for key, value in batch.items()}


@contextmanager
def _preserved_rng() -> Iterator[None]:
    """Run a block (validation, user metrics) without changing any global RNG state."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


def evaluate_loss(
    model: nn.Module, source: BatchSource, batch_size: int = 4096, seed: int = 0, device: Any = None
) -> dict[str, float]:
    """Mean of every term of ``model.loss`` over ``source`` (in order, eval mode, no grad).

    Terms are averaged per sample (each batch weighted by its size). The model's train/eval mode
    and the global RNGs are left as they were.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    total = len(source)
    if total == 0:
        raise PoseliftError("cannot evaluate: the validation data is empty")
    generator = torch.Generator().manual_seed(derive_seed(seed, _STREAM_DATA))
    sums: dict[str, float] = {}
    with eval_mode(model), torch.no_grad(), _preserved_rng():
        for start in range(0, total, batch_size):
            indices = torch.arange(start, min(start + batch_size, total))
            terms = model.loss(_to_device(source.batch(indices, generator), device))
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value) * len(indices)
    return {key: value / total for key, value in sums.items()}


class _LossAdapter(nn.Module):
    """Lets DistributedDataParallel run ``model.loss(batch)``: its forward is the model's loss."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.model.loss(batch)


def _destroy_process_group() -> None:
    """Leave the process group at exit, all ranks together.

    Without the barrier one rank can tear down its gloo connections while another still talks to it,
    and the C++ runtime aborts that rank ("terminate called without an active exception").
    """
    if torch_dist.is_initialized():
        with contextlib.suppress(RuntimeError):       # a peer that already failed: just leave
            torch_dist.barrier()
        torch_dist.destroy_process_group()


class _Distributed:
    """Process-group set-up from torchrun's environment, and the few collectives the loop needs."""

    def __init__(self, device_name: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        self.device = self._resolve_device(device_name)

    def _resolve_device(self, name: str) -> torch.device:
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError:
            raise PoseliftError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise PoseliftError(f"device {name!r} requested but CUDA is not available")
            if self.world_size > 1:
                device = torch.device("cuda", self.local_rank)
            elif device.index is None:
                device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(device)
        return device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def init(self) -> None:
        """Join the process group (once per process: a later ``train`` call reuses it).

        The group is not destroyed after training, because re-creating one in the same process
        from torchrun's environment hangs; it is destroyed when the process exits.
        """
        if self.distributed and not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            atexit.register(_destroy_process_group)
        if torch_dist.is_initialized():
            self.world_size, self.rank = torch_dist.get_world_size(), torch_dist.get_rank()

    def sum(self, values: Tensor) -> Tensor:
        """Sum of ``values`` over ranks (``values`` itself on a single process)."""
        if self.distributed:
            values = values.to(self.device)
            torch_dist.all_reduce(values)
        return values

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on some rank."""
        if not self.distributed:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=self.device)) > 0)

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(values, value)
        return values

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
        if self.distributed:
            for buffer in model.buffers():
                torch_dist.broadcast(buffer, src=0)


class _StopRequest:
    """The first Ctrl-C asks the loop to stop after the current step (saving last.pt); a second aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("interrupted: stopping after this step and saving %s (Ctrl-C again to abort)", LAST_CHECKPOINT)

    def __exit__(self, *exc_info) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)


def _check_config(config: TrainConfig) -> None:
    positive = ("epochs", "batch_size", "lr", "lr_decay", "lr_decay_steps", "log_every", "eval_batch_size")
    for name in positive:
        if not getattr(config, name) > 0:
            raise PoseliftError(f"train config: {name} must be > 0, got {getattr(config, name)!r}")
    if config.checkpoint_every_steps < 0:
        raise PoseliftError(f"train config: checkpoint_every_steps must be >= 0, got {config.checkpoint_every_steps}")
    if config.max_steps is not None and config.max_steps < 0:
        raise PoseliftError(f"train config: max_steps must be >= 0, got {config.max_steps}")


def _check_out_dir(out_dir: Path, resume: bool, force: bool) -> None:
    if resume:
        if not (out_dir / LAST_CHECKPOINT).is_file():
            raise PoseliftError(f"{out_dir / LAST_CHECKPOINT}: no checkpoint to resume from")
    elif not force and any((out_dir / name).exists() for name in (LAST_CHECKPOINT, BEST_CHECKPOINT)):
        raise OutputExistsError(
            f"{out_dir}: holds a training checkpoint; resume it or use --force to start over"
        )


def _write_logs(out_dir: Path, history: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in history:
        columns.extend(key for key in row if key not in columns)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out_dir / "log.csv", text.getvalue())
    write_text_atomic(out_dir / "log.json", json.dumps(history, indent=1) + "\n")


class _Trainer:
    """State of one training run (one per process)."""

    def __init__(
        self,
        model: nn.Module,
        source: BatchSource,
        config: TrainConfig,
        out_dir: Path,
        dist: _Distributed,
        val_source: BatchSource | None,
        evaluate_fn: Callable[[nn.Module], dict[str, float]] | None,
        step_callback: Callable[[int, dict[str, Tensor]], None] | None,
        quiet: bool,
    ):
        self.model, self.source, self.config, self.out_dir, self.dist = model, source, config, out_dir, dist
        self.val_source, self.evaluate_fn = val_source, evaluate_fn
        self.step_callback, self.quiet = step_callback, quiet
        self.device = dist.device
        global_batch = config.batch_size * dist.world_size
        self.steps_per_epoch = len(source) // global_batch
        if self.steps_per_epoch == 0:
            raise PoseliftError(
                f"training data has {len(source)} samples, fewer than one batch of {global_batch} "
                f"({config.batch_size} x {dist.world_size} ranks)"
            )
        self.step = self.epoch = self.step_in_epoch = 0
        self.epoch_sums: dict[str, Tensor] = {}
        self.epoch_steps = 0
        self.history: list[dict[str, Any]] = []
        self.best_value = math.inf
        self.saved_step: int | None = None
        self.consistent = True
        self.data_generator = torch.Generator()

    # ------------------------------------------------------------------------------- set-up
    def setup(self, resume: bool) -> None:
        model, config = self.model, self.config
        checkpoint = load_checkpoint(self.out_dir / LAST_CHECKPOINT) if resume else None
        if checkpoint is not None:
            self._check_resumable(checkpoint)
            model.load_state_dict(checkpoint["model_state"])
        elif not model.normalizer.is_fitted:
            logger.info("fitting the pose statistics on %d training samples", len(self.source))
            model.normalizer.fit_source(self.source, seed=config.seed)
        model.to(self.device)
        self.optimizer = make_optimizer(model, config)
        # a model may scale the schedule from its own (checkpointed) state, e.g. a warm-up after a stage switch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: learning_rate_at(step, config) / config.lr * model.learning_rate_factor,
        )
        if checkpoint is None:
            torch.manual_seed(derive_seed(config.seed, self.dist.rank, _STREAM_GLOBAL))
            np.random.seed(derive_seed(config.seed, self.dist.rank, _STREAM_GLOBAL) % 2**32)
            random.seed(derive_seed(config.seed, self.dist.rank, _STREAM_GLOBAL))
            self.data_generator.manual_seed(derive_seed(config.seed, self.dist.rank, _STREAM_DATA))
        else:
            self._restore(checkpoint)
        self.stage = model.training_stage     # the stage the optimiser's moments belong to
        adapter = _LossAdapter(model)
        if self.dist.distributed:
            self.forward = DistributedDataParallel(
                adapter,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=model.ddp_find_unused_parameters,
            )
        else:
            self.forward = adapter

    def _check_resumable(self, checkpoint: dict[str, Any]) -> None:
        path = self.out_dir / LAST_CHECKPOINT
        model_config = dataclasses.asdict(self.model.config)
        if checkpoint["model_kind"] != self.model.kind or checkpoint["model_config"] != model_config:
            raise PoseliftError(
                f"{path}: holds a {checkpoint['model_kind']!r} model with config {checkpoint['model_config']}, "
                f"not the {self.model.kind!r} model with config {model_config} given"
            )
        stored = checkpoint.get("train_config") or {}
        for name in _RESUME_FIXED_FIELDS:
            if name in stored and stored[name] != getattr(self.config, name):
                raise PoseliftError(
                    f"{path}: was trained with {name}={stored[name]!r}; resume needs the same value, "
                    f"got {getattr(self.config, name)!r}"
                )
        extra = checkpoint["extra"]
        if extra.get("world_size") != self.dist.world_size:
            raise PoseliftError(
                f"{path}: was written by a run on {extra.get('world_size')} process(es); "
                f"resume it on the same number, not {self.dist.world_size}"
            )
        if extra.get("steps_per_epoch") != self.steps_per_epoch:
            raise PoseliftError(
                f"{path}: has {extra.get('steps_per_epoch')} steps per epoch, this data gives "
                f"{self.steps_per_epoch}: the training data or batch size changed"
            )

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.scheduler.load_state_dict(checkpoint["scheduler_state"])
        extra = checkpoint["extra"]
        self.step, self.epoch = checkpoint["step"], checkpoint["epoch"]
        self.step_in_epoch = extra["step_in_epoch"]
        self.best_value = extra["best_value"]
        rank_state = extra["rank_states"][self.dist.rank]
        self.epoch_steps = rank_state["epoch_steps"]
        self.epoch_sums = {
            key: torch.tensor(value, dtype=torch.float64, device=self.device)
            for key, value in rank_state["epoch_sums"].items()
        }
        restore_rng_state(rank_state["rng_state"], self.data_generator)
        self.saved_step = self.step
        log_path = self.out_dir / "log.json"
        if log_path.is_file():
            self.history = [row for row in json.loads(log_path.read_text()) if row["epoch"] <= self.epoch]

    # ------------------------------------------------------------------------------ saving
    def _checkpoint_arguments(self) -> dict[str, Any]:
        rank_state = {
            "rng_state": capture_rng_state(self.data_generator),
            "epoch_sums": {key: float(value) for key, value in self.epoch_sums.items()},
            "epoch_steps": self.epoch_steps,
        }
        rank_states = self.dist.gather(rank_state)  # collective: every rank calls it
        return dict(
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            step=self.step,
            epoch=self.epoch,
            train_config=self.config,
            rng_state=rank_states[0]["rng_state"],
            extra={
                "step_in_epoch": self.step_in_epoch,
                "steps_per_epoch": self.steps_per_epoch,
                "world_size": self.dist.world_size,
                "best_value": self.best_value,
                "rank_states": rank_states,
            },
        )

    def save(self, best: bool = False) -> None:
        """Write last.pt (and best.pt); every rank must call it."""
        arguments = self._checkpoint_arguments()
        if self.dist.rank == 0:
            save_checkpoint(self.out_dir / LAST_CHECKPOINT, **arguments)
            if best:
                save_checkpoint(self.out_dir / BEST_CHECKPOINT, **arguments)
        self.saved_step = self.step

    # ---------------------------------------------------------------------------- training
    def train_step(self, permutation: Tensor) -> dict[str, Tensor]:
        """One optimiser step on this rank's share of the next batch of ``permutation``."""
        indices = rank_batch_indices(
            permutation, self.step_in_epoch, self.config.batch_size, self.dist.rank, self.dist.world_size
        )
        batch = _to_device(self.source.batch(indices, self.data_generator), self.device)
        self.consistent = False
        self._start_new_stage_if_needed()
        terms = self.forward(batch)
        if "loss" not in terms:
            raise PoseliftError(f"{type(self.model).__name__}.loss returned {sorted(terms)}, without 'loss'")
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        if self.config.max_norm:
            self.model.after_optimizer_step()
        self.scheduler.step()
        self.step += 1
        self.step_in_epoch += 1
        self.epoch_steps += 1
        for key, value in terms.items():
            value = value.detach().to(torch.float64)
            self.epoch_sums[key] = self.epoch_sums[key] + value if key in self.epoch_sums else value
        self.consistent = True
        return terms

    def _start_new_stage_if_needed(self) -> None:
        """A model with stages (``training_stage``, e.g. pre-training then the main loss) gets a fresh
        Adam when its stage changes: the moments of the old loss would scale the new loss's first
        steps by the ratio of the two losses' gradients (the paper trains each stage with its own Adam)."""
        stage = self.model.training_stage
        if stage != self.stage:
            if self.stage is not None:
                self.optimizer.state.clear()
                logger.info("step %d: training stage %r -> %r, optimiser moments reset", self.step, self.stage, stage)
            self.stage = stage

    def end_epoch(self, steps_run: int, train_seconds: float) -> dict[str, Any]:
        """Log the epoch's metrics (mean train terms over all ranks, validation), then checkpoint."""
        keys = sorted(self.epoch_sums)
        step_count = torch.tensor(float(self.epoch_steps), dtype=torch.float64, device=self.device)
        totals = self.dist.sum(torch.stack([self.epoch_sums[key].to(self.device) for key in keys] + [step_count]))
        metrics: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        metrics.update({f"train_{key}": float(totals[i] / totals[-1]) for i, key in enumerate(keys)})
        if not math.isfinite(metrics.get("train_loss", 0.0)):
            raise PoseliftError(f"training diverged: train_loss is {metrics['train_loss']} in epoch {self.epoch + 1}")
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        if self.dist.rank == 0:
            if self.val_source is not None:
                val = evaluate_loss(
                    self.model, self.val_source, self.config.eval_batch_size, self.config.seed, self.device
                )
                metrics.update({f"val_{key}": value for key, value in val.items()})
            if self.evaluate_fn is not None:
                self.model.eval()
                try:
                    with torch.no_grad(), _preserved_rng():
                        metrics.update(self.evaluate_fn(self.model))
                finally:
                    self.model.train()
        samples = steps_run * self.config.batch_size * self.dist.world_size
        metrics["samples_per_s"] = samples / max(train_seconds, 1e-9)
        metrics["train_seconds"] = train_seconds
        improved = False
        if self.dist.rank == 0:
            self.history.append(metrics)
            _write_logs(self.out_dir, self.history)
            logger.info("epoch %s", " ".join(f"{key}={value:.5g}" for key, value in metrics.items()))
            name = self._best_metric_name(metrics)
            if name is not None and metrics[name] < self.best_value:
                self.best_value, improved = metrics[name], True
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_sums, self.epoch_steps = {}, 0
        self.save(best=improved)
        return metrics

    def _best_metric_name(self, metrics: dict[str, Any]) -> str | None:
        if self.config.best_metric is None:
            return None
        for name in (self.config.best_metric, "val_loss"):
            if name in metrics:
                return name
        return None

    def run_epoch(self, bar: tqdm, stop: _StopRequest, show_bar: bool) -> bool:
        """Train the rest of the current epoch; False when max_steps stopped it before its end."""
        config = self.config
        permutation = epoch_permutation(len(self.source), config.seed, self.epoch)
        self.model.train()
        bar.set_description(f"epoch {self.epoch + 1}/{config.epochs}")
        started, steps_run = time.perf_counter(), 0
        while self.step_in_epoch < self.steps_per_epoch:
            if config.max_steps is not None and self.step >= config.max_steps:
                return False
            terms = self.train_step(permutation)
            steps_run += 1
            bar.update(1)
            if show_bar and self.step % config.log_every == 0:
                bar.set_postfix(loss=f"{float(terms['loss']):.4g}", lr=f"{self.scheduler.get_last_lr()[0]:.3g}")
            if self.step_callback is not None:
                self.step_callback(self.step, terms)
            if self.dist.any(stop.requested):
                self.save()
                logger.warning("saved %s at step %d; resume to continue", self.out_dir / LAST_CHECKPOINT, self.step)
                raise KeyboardInterrupt
            every = config.checkpoint_every_steps
            if every and self.step % every == 0 and self.step_in_epoch < self.steps_per_epoch:
                self.save()
        self.end_epoch(steps_run, time.perf_counter() - started)
        return True

    def run(self) -> dict[str, Any]:
        config, dist = self.config, self.dist
        total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps is not None:
            total_steps = min(total_steps, config.max_steps)
        show_bar = not self.quiet and dist.rank == 0 and sys.stderr.isatty()
        bar = tqdm(total=total_steps, initial=min(self.step, total_steps), disable=not show_bar, unit="step")
        stopped_early = False
        with _StopRequest() as stop, bar:
            try:
                while self.epoch < config.epochs and not stopped_early:
                    stopped_early = not self.run_epoch(bar, stop, show_bar)
            except KeyboardInterrupt:
                # A raw interrupt (not via the stop request) can only be saved without collectives.
                if self.consistent and self.saved_step != self.step and not dist.distributed:
                    self.save()
                    logger.warning("saved %s at step %d; resume to continue", self.out_dir / LAST_CHECKPOINT, self.step)
                raise
        if self.saved_step != self.step:
            self.save()
        dist.broadcast_buffers(self.model)
        best_path = self.out_dir / BEST_CHECKPOINT
        return {
            "step": self.step,
            "epoch": self.epoch,
            "stopped_early": stopped_early,
            "history": self.history,
            "best_value": self.best_value if math.isfinite(self.best_value) else None,
            "last_checkpoint": str(self.out_dir / LAST_CHECKPOINT),
            "best_checkpoint": str(best_path) if best_path.is_file() else None,
        }


def train(
    model: nn.Module,
    train_source: BatchSource,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    val_source: BatchSource | None = None,
    resume: bool = False,
    evaluate_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    *,
    force: bool = False,
    quiet: bool = False,
    step_callback: Callable[[int, dict[str, Tensor]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` (any registered kind) on ``train_source``; see the module docstring.

    Args:
        model: has ``loss(batch) -> dict`` (key ``"loss"`` optimised), ``config`` and ``kind``.
            An unfitted ``model.normalizer`` is fitted on ``train_source`` first.
        train_source, val_source: batch sources (``__len__``, ``batch(indices, generator)``).
        config: TrainConfig. out_dir: folder for checkpoints and logs (created).
        resume: continue exactly from ``out_dir/last.pt``.
        evaluate_fn: ``evaluate_fn(model) -> {name: value}`` run on rank 0 at each epoch end
            (eval mode, no grad); its values join the epoch's log row.
        force: start over in an ``out_dir`` that holds a checkpoint (its outputs are replaced).
        quiet: no progress bar. step_callback: ``step_callback(step, loss_terms)`` after each step.

    Returns:
        ``{"step", "epoch", "stopped_early", "history" (per-epoch metric rows), "best_value",
        "last_checkpoint", "best_checkpoint"}``.

    Raises:
        OutputExistsError: ``out_dir`` holds a checkpoint and neither resume nor force is given.
        KeyboardInterrupt: after Ctrl-C (or from ``step_callback``), once last.pt is saved.
    """
    _check_config(config)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, resume, force)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    dist = _Distributed(config.device)
    dist.init()
    if not config.num_threads and dist.distributed and dist.device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.local_world_size))
    if dist.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        if force and not resume:
            for name in _OUTPUT_FILES:
                (out_dir / name).unlink(missing_ok=True)
    trainer = _Trainer(model, train_source, config, out_dir, dist, val_source, evaluate_fn, step_callback, quiet)
    trainer.setup(resume)
    return trainer.run()
