"""The shared training loop: learning, schedule, max-norm, exact resume, DDP, and the checkpoints it writes."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from _ddp_worker import SyntheticPoseSource, small_model
from poselift.checkpoint import FORMAT_VERSION, load_checkpoint, load_model
from poselift.errors import OutputExistsError, PoseliftError
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.train import TrainConfig, epoch_permutation, learning_rate_at, rank_batch_indices, train

TESTS = Path(__file__).parent


def linear_row_norms(model: nn.Module) -> torch.Tensor:
    return torch.cat([m.weight.norm(dim=1) for m in model.modules() if isinstance(m, nn.Linear)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Six epochs of a small baseline on 2048 synthetic frames (with a validation set)."""
    out_dir = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    model = BaselineLifter(BaselineConfig(hidden_size=128, num_blocks=2, input_normalization="pose",
                                          max_norm_mode="row"))  # the whole-matrix clip of norm 1 suits the paper's width, not this tiny one (docs/baseline.md)
    config = TrainConfig(epochs=6, batch_size=64, seed=1, num_threads=1, device="cpu", checkpoint_every_steps=50)
    result = train(
        model, SyntheticPoseSource(2048, seed=1, noise_px=1.0), config, out_dir,
        val_source=SyntheticPoseSource(256, seed=2), quiet=True,
    )
    return model, result, out_dir


def test_training_lowers_the_loss(trained):
    model, result, out_dir = trained
    history = result["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6] and result["step"] == 6 * 32
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_mpjpe_mm"] < 0.85 * history[0]["val_mpjpe_mm"]
    assert json.loads((out_dir / "log.json").read_text()) == history
    csv_lines = (out_dir / "log.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:4] == ["epoch", "step", "train_loss", "train_mpjpe_mm"] and len(csv_lines) == 7
    best_epoch = min(history, key=lambda row: row["val_mpjpe_mm"])["epoch"]
    assert load_checkpoint(out_dir / "best.pt")["epoch"] == best_epoch
    assert result["best_value"] == pytest.approx(min(row["val_mpjpe_mm"] for row in history))


def test_max_norm_after_training(trained, tmp_path):
    model, _, _ = trained                  # "row" mode: every row within norm 1 after the loop's projection
    assert linear_row_norms(model).max() <= 1.0 + 1e-5
    clipped = small_model(0)               # the default "matrix" mode: every weight the forward uses within norm 1
    train(clipped, SyntheticPoseSource(128, seed=1), TrainConfig(epochs=1, batch_size=32, num_threads=1, device="cpu"),
          tmp_path / "matrix", quiet=True)
    assert max(float(m.effective_weight().norm()) for m in clipped.modules() if isinstance(m, nn.Linear)) <= 1.0 + 1e-5
    for enabled in (True, False):          # "row" mode: the loop's projection, switched by TrainConfig.max_norm
        row_mode = small_model(0, init="kaiming", max_norm_mode="row")
        config = TrainConfig(epochs=1, batch_size=32, max_norm=enabled, num_threads=1, device="cpu")
        train(row_mode, SyntheticPoseSource(128, seed=1), config, tmp_path / str(enabled), quiet=True)
        assert bool(linear_row_norms(row_mode).max() <= 1.0 + 1e-5) == enabled      # He init exceeds the bound


def test_learning_rate_schedule(tmp_path):
    paper = TrainConfig()
    assert learning_rate_at(0, paper) == 1e-3
    assert learning_rate_at(100_000, paper) == pytest.approx(0.96e-3, rel=1e-12)
    assert learning_rate_at(250_000, paper) == pytest.approx(1e-3 * 0.96**2.5, rel=1e-12)
    assert learning_rate_at(50_000, paper) == pytest.approx(1e-3 * 0.9797958971, rel=1e-9)
    # 128 samples / 32 = 4 steps per epoch; lr halves every 4 steps
    config = TrainConfig(epochs=2, batch_size=32, lr=1e-2, lr_decay=0.5, lr_decay_steps=4, num_threads=1, device="cpu")
    result = train(small_model(0), SyntheticPoseSource(130, seed=1), config, tmp_path, quiet=True)
    assert [row["lr"] for row in result["history"]] == pytest.approx([5e-3, 2.5e-3], rel=1e-12)
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(2.5e-3, rel=1e-12)


class RampedLifter(BaselineLifter):
    """A baseline whose ``learning_rate_factor`` is 1 / (1 + the training steps it has seen)."""

    def __init__(self):
        super().__init__(BaselineConfig(hidden_size=32, num_blocks=1, dropout=0.0, input_normalization="pose"))
        self.steps_seen = 0

    @property
    def learning_rate_factor(self) -> float:
        return 1.0 / (1 + self.steps_seen)

    def loss(self, batch):
        if self.training and torch.is_grad_enabled():
            self.steps_seen += 1
        return super().loss(batch)


def test_a_model_scales_the_learning_rate_schedule(tmp_path):
    config = TrainConfig(epochs=2, batch_size=32, lr=1e-2, lr_decay=0.5, lr_decay_steps=4, num_threads=1, device="cpu")
    result = train(RampedLifter(), SyntheticPoseSource(130, seed=1), config, tmp_path, quiet=True)
    # after 4 and 8 steps: the schedule's 5e-3 and 2.5e-3, times 1/5 and 1/9
    assert [row["lr"] for row in result["history"]] == pytest.approx([5e-3 / 5, 2.5e-3 / 9], rel=1e-12)


def test_batches_cover_disjoint_shards():
    permutation = epoch_permutation(100, seed=4, epoch=2)
    assert torch.equal(permutation, epoch_permutation(100, seed=4, epoch=2))
    assert not torch.equal(permutation, epoch_permutation(100, seed=4, epoch=3))
    assert sorted(permutation.tolist()) == list(range(100))
    shards = [rank_batch_indices(permutation, step, 8, rank, 3) for step in range(4) for rank in range(3)]
    assert all(len(shard) == 8 for shard in shards)
    assert torch.equal(torch.cat(shards), permutation[:96])


RESUME_CONFIG = dict(
    epochs=3, batch_size=32, lr_decay=0.5, lr_decay_steps=10, seed=7, num_threads=1, device="cpu",
    checkpoint_every_steps=4,
)


def run_resume_case(out_dir: Path, stop_step: int | None, how: str) -> tuple[dict, list]:
    """Train 3 epochs x 10 steps; optionally stop after ``stop_step`` steps and resume a fresh model.

    ``how``: "max_steps" (a first run limited to stop_step steps), "exception" (KeyboardInterrupt
    raised between steps) or "ctrl_c" (a real SIGINT during a step, handled at its end).
    """
    source, val_source = SyntheticPoseSource(330, seed=3, noise_px=2.0), SyntheticPoseSource(64, seed=4)
    config = TrainConfig(**RESUME_CONFIG)
    model = small_model(seed=0)
    if stop_step is not None:
        if how == "max_steps":
            stopped = train(model, source, TrainConfig(**RESUME_CONFIG, max_steps=stop_step), out_dir, val_source, quiet=True)
            assert stopped["stopped_early"] and stopped["step"] == stop_step
        else:
            handled_at_step_end = []

            def interrupt(step, terms):
                if step == stop_step and how == "exception":
                    raise KeyboardInterrupt
                if step == stop_step and how == "ctrl_c":
                    os.kill(os.getpid(), signal.SIGINT)
                    handled_at_step_end.append(step)  # the loop's handler deferred the interrupt

            with pytest.raises(KeyboardInterrupt):
                train(model, source, config, out_dir, val_source, quiet=True, step_callback=interrupt)
            assert handled_at_step_end == ([stop_step] if how == "ctrl_c" else [])
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler removed
        assert load_checkpoint(out_dir / "last.pt")["step"] == stop_step
        model = small_model(seed=123)  # different initial weights: everything must come from last.pt
    result = train(model, source, config, out_dir, val_source, resume=stop_step is not None, quiet=True)
    assert result["step"] == 30
    return model.state_dict(), result["history"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return run_resume_case(tmp_path_factory.mktemp("uninterrupted"), None, "")


@pytest.mark.parametrize(
    "stop_step, how",
    [(6, "exception"), (10, "exception"), (23, "exception"), (17, "max_steps"), (13, "ctrl_c")],
    ids=["mid-epoch-interrupt", "epoch-end-interrupt", "late-interrupt", "max-steps", "ctrl-c"],
)
def test_resume_equals_uninterrupted_run(uninterrupted, tmp_path, stop_step, how):
    reference_state, reference_history = uninterrupted
    state, history = run_resume_case(tmp_path, stop_step, how)
    assert state.keys() == reference_state.keys()
    for name, value in reference_state.items():
        assert torch.equal(state[name], value), name
    timing = {"samples_per_s", "train_seconds"}
    strip = lambda rows: [{k: v for k, v in row.items() if k not in timing} for row in rows]
    assert strip(history) == strip(reference_history)


def test_resume_refuses_changed_settings(tmp_path):
    source = SyntheticPoseSource(128, seed=1)
    train(small_model(0), source, TrainConfig(epochs=1, batch_size=32, num_threads=1, device="cpu"), tmp_path, quiet=True)
    with pytest.raises(PoseliftError, match="seed=0"):
        train(small_model(0), source, TrainConfig(epochs=2, batch_size=32, seed=5, device="cpu"), tmp_path, resume=True, quiet=True)
    with pytest.raises(PoseliftError, match="hidden_size"):
        train(BaselineLifter(BaselineConfig(hidden_size=16)), source, TrainConfig(epochs=2, batch_size=32, device="cpu"),
              tmp_path, resume=True, quiet=True)
    with pytest.raises(PoseliftError, match="optimizer='adam'"):
        train(small_model(0), source, TrainConfig(epochs=2, batch_size=32, optimizer="rmsprop", device="cpu"), tmp_path,
              resume=True, quiet=True)


def test_rmsprop_is_the_update_of_its_definition(tmp_path):
    """One step of --optimizer rmsprop by hand: v = 0.1 g^2 (decay 0.9 from 0), w -= lr g / (sqrt(v) + eps)."""
    from poselift.train import make_optimizer

    model = small_model(0)
    config = TrainConfig(lr=1e-3, optimizer="rmsprop")
    optimizer = make_optimizer(model, config)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    batch = SyntheticPoseSource(32, seed=1).batch(torch.arange(32), torch.Generator().manual_seed(0))
    model.loss(batch)["loss"].backward()
    gradients = [parameter.grad.clone() for parameter in model.parameters()]
    optimizer.step()
    for old, gradient, new in zip(before, gradients, model.parameters()):
        expected = old - 1e-3 * gradient / (torch.sqrt(0.1 * gradient.square()) + 1e-8)
        torch.testing.assert_close(new.detach(), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(PoseliftError, match="optimizer must be one of adam, rmsprop"):
        TrainConfig(optimizer="sgd")


def test_existing_output_is_protected(tmp_path):
    source, config = SyntheticPoseSource(64, seed=1), TrainConfig(epochs=1, batch_size=32, num_threads=1, device="cpu")
    with pytest.raises(PoseliftError, match="no checkpoint to resume"):
        train(small_model(0), source, config, tmp_path, resume=True, quiet=True)
    train(small_model(0), source, config, tmp_path, quiet=True)
    with pytest.raises(OutputExistsError, match=str(tmp_path)):
        train(small_model(0), source, config, tmp_path, quiet=True)
    result = train(small_model(0), source, config, tmp_path, force=True, quiet=True)
    assert len(json.loads((tmp_path / "log.json").read_text())) == 1 and result["step"] == 2
    with pytest.raises(PoseliftError, match="fewer than one batch"):
        train(small_model(0), SyntheticPoseSource(10, seed=1), config, tmp_path / "tiny", quiet=True)


def test_evaluate_fn_is_logged_and_leaves_training_unchanged(tmp_path):
    source = SyntheticPoseSource(128, seed=1, noise_px=1.0)
    config = TrainConfig(epochs=2, batch_size=32, num_threads=1, device="cpu")
    plain = small_model(0)
    train(plain, source, config, tmp_path / "plain", quiet=True)
    modes = []

    def noisy_metric(model):  # consumes every global RNG
        modes.append(model.training)
        return {"val_custom": float(torch.rand(1)) + np.random.rand() + random.random()}

    evaluated = small_model(0)
    result = train(evaluated, source, config, tmp_path / "evaluated", evaluate_fn=noisy_metric, quiet=True)
    assert modes == [False, False] and all("val_custom" in row for row in result["history"])
    for name, value in plain.state_dict().items():
        assert torch.equal(evaluated.state_dict()[name], value), name


def test_checkpoint_contents_and_load_model(trained):
    model, result, out_dir = trained
    checkpoint = load_checkpoint(out_dir / "last.pt")
    assert set(checkpoint) == {
        "format_version", "poselift_version", "model_kind", "model_config", "layout", "model_state",
        "optimizer_state", "scheduler_state", "step", "epoch", "train_config", "rng_state", "extra",
    }
    assert checkpoint["format_version"] == FORMAT_VERSION and checkpoint["model_kind"] == "baseline"
    assert checkpoint["layout"] == "h36m17" and checkpoint["model_config"]["hidden_size"] == 128
    assert checkpoint["step"] == 192 and checkpoint["epoch"] == 6 and checkpoint["train_config"]["seed"] == 1
    assert "normalizer.mean_2d" in checkpoint["model_state"]
    assert set(checkpoint["rng_state"]) == {"torch", "cuda", "numpy", "python", "generator"}
    loaded = load_model(out_dir / "last.pt")
    assert isinstance(loaded, BaselineLifter) and not loaded.training and loaded.normalizer.is_fitted
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    keypoints = SyntheticPoseSource(5, seed=9).tensors["keypoints_2d"]
    assert torch.equal(loaded.lift(keypoints), model.lift(keypoints))


def test_distributed_training_on_two_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
        str(TESTS / "_ddp_worker.py"), str(tmp_path),
    ]
    # the timeout only guards the suite against a hung process group
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    history = json.loads((tmp_path / "log.json").read_text())
    assert len(history) == 4 and history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[0]["step"] == 1024 // (2 * 32)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(rank1[name], value), name
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["extra"]["world_size"] == 2 and len(saved["extra"]["rank_states"]) == 2
    for name, value in saved["model_state"].items():
        assert torch.equal(rank0[name], value), name


def test_bad_settings_are_refused(tmp_path):
    source = SyntheticPoseSource(64, seed=1)
    with pytest.raises(PoseliftError, match="batch_size must be > 0"):
        train(small_model(0), source, TrainConfig(batch_size=0), tmp_path, quiet=True)
    with pytest.raises(PoseliftError, match="unknown device 'gpu0'"):
        train(small_model(0), source, TrainConfig(device="gpu0"), tmp_path, quiet=True)
    if not torch.cuda.is_available():
        with pytest.raises(PoseliftError, match="CUDA is not available"):
            train(small_model(0), source, TrainConfig(device="cuda"), tmp_path, quiet=True)


class TwoStageLifter(BaselineLifter):
    """A baseline whose ``training_stage`` turns from "first" to "second" after ``switch_after`` steps."""

    def __init__(self, switch_after: int):
        super().__init__(BaselineConfig(hidden_size=32, num_blocks=1, dropout=0.0, max_norm=None,
                                        input_normalization="pose"))
        self.switch_after, self.steps_seen = switch_after, 0

    @property
    def training_stage(self) -> str:
        return "first" if self.steps_seen < self.switch_after else "second"

    def loss(self, batch):
        if self.training and torch.is_grad_enabled():
            self.steps_seen += 1
        return super().loss(batch)


def test_a_new_training_stage_starts_a_fresh_adam(tmp_path):
    torch.manual_seed(0)
    model, lr = TwoStageLifter(switch_after=6), 1e-3
    snapshots = {}

    def snapshot(step, terms):
        snapshots[step] = torch.cat([parameter.detach().flatten().clone() for parameter in model.parameters()])

    config = TrainConfig(epochs=1, batch_size=16, lr=lr, num_threads=1, device="cpu", checkpoint_every_steps=0)
    train(model, SyntheticPoseSource(160, seed=1, noise_px=1.0), config, tmp_path / "run", step_callback=snapshot,
          quiet=True)
    # a fresh Adam's first step moves a parameter by lr * |g| / (|g| + eps): by lr, unless its gradient is
    # near eps = 1e-8; with the moments of the earlier steps the step is anything up to a few lr
    def share_moved_by_lr(before, after):
        return float(((after - before).abs() - lr).abs().le(1e-3 * lr).float().mean())

    assert share_moved_by_lr(snapshots[6], snapshots[7]) > 0.9
    assert share_moved_by_lr(snapshots[5], snapshots[6]) < 0.1
