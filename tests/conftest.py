"""Shared fixtures: the real data folder, a small benchmark of real clips (committed), and a small V-VIPE VAE
trained on it."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The benchmark built from the first clip of every subject of ../shared/data (real HDM05 and CMU motion
# capture, 2,527 frames, licences in LICENSES.md), committed so that the suite means the same with or
# without ../shared; test_data_benchmark checks that the builder still makes exactly this file. Remake it:
#   poselift data build --source ../shared/data --max-clips-per-subject 1 --out tests/fixtures/benchmark_small.npz --force
SMALL_BENCHMARK = Path(__file__).parent / "fixtures" / "benchmark_small.npz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "hdm05").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the repo expects ../shared/data beside it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_benchmark_path() -> Path:
    """The committed small benchmark (:data:`SMALL_BENCHMARK`): the first clip of every subject."""
    return SMALL_BENCHMARK


@pytest.fixture(scope="session")
def small_benchmark(small_benchmark_path):
    from poselift.data.benchmark import load_benchmark

    return load_benchmark(small_benchmark_path)


@pytest.fixture(scope="session")
def vvipe_stage_one(small_benchmark, tmp_path_factory):
    """A small V-VIPE stage-1 VAE (hidden 64, one block, latent 8) trained 6 short epochs by the shared loop on
    every 12th training frame of the small benchmark; ``(model, run dir, history)``. Used by the V-VIPE and the
    generation tests (the model is only read: embedding and decoding run in eval mode)."""
    import torch

    from poselift.data.datasets import FrameSource
    from poselift.models.vvipe import PoseVae, PoseVaeConfig
    from poselift.train import TrainConfig, train

    frames = FrameSource(small_benchmark, "train", "gt", frame_stride=12)     # ~11 batches of 64 per epoch
    out = tmp_path_factory.mktemp("vvipe_vae")
    torch.manual_seed(0)
    model = PoseVae(PoseVaeConfig(hidden_size=64, num_blocks=1, latent_size=8))
    config = TrainConfig(epochs=6, batch_size=64, lr=3e-3, seed=0, num_threads=1, device="cpu", lr_decay_steps=1000)
    result = train(model, frames, config, out, val_source=FrameSource(small_benchmark, "test", "gt", frame_stride=20),
                   quiet=True)
    return model, out, result["history"]
