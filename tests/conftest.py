"""Shared fixtures: the real data folder and a small benchmark built from it."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "hdm05").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the repo expects ../shared/data beside it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_benchmark_path(shared_data, tmp_path_factory) -> Path:
    """The benchmark built from the first clip of every subject (real mocap, ~2 s to build)."""
    from poselift.data.benchmark import BenchmarkConfig, build_benchmark, save_benchmark

    arrays, _ = build_benchmark(shared_data, BenchmarkConfig(max_clips_per_subject=1))
    path = tmp_path_factory.mktemp("benchmark") / "small.npz"
    save_benchmark(path, arrays)
    return path


@pytest.fixture(scope="session")
def small_benchmark(small_benchmark_path):
    from poselift.data.benchmark import load_benchmark

    return load_benchmark(small_benchmark_path)
