"""Training speed of the one loop against the machine's own limit: samples/s and FLOP fraction per batch.

For each batch size (``--batches``, default 64, 256, 1024) and each variant (``--variants``:
``default`` = the baseline's config defaults; ``bernoulli-dropout`` = the same with PyTorch's own
``nn.Dropout`` instead of the backbone's :class:`~poselift.models.backbone.Dropout`; ``paper`` = He init,
dense input layer, per-row max-norm and ``nn.Dropout``: poselift's backbone before this work), in one
process with the same threads:

- **loop**: :func:`poselift.train.train` itself (Adam, the per-step learning-rate decay, the model's
  max-norm, the benchmark's FrameSource on ``noisy`` 2D, cameras 0-3); samples/s from
  ``step_callback`` timestamps after warm-up steps (set-up, the normaliser fit and the final
  checkpoint are not timed);
- **FLOP fraction**: matrix-product FLOPs of forward + backward, ``3 x 2 * in * out`` per Linear per
  sample (backward = two products of the forward's size), at the loop's rate, divided by the rate of
  a 4096 x 4096 float32 ``torch.mm`` measured in the same process before and after (the better one);
- **breakdown**: the same step taken apart (batch gathering, forward + loss, backward, optimiser,
  max-norm projection), median milliseconds of each over repeats.

    python benchmarks/bench_training_speed.py --data benchmark.npz --threads 2 \\
        --json benchmarks/results/speed/training_2threads.json
    python benchmarks/bench_training_speed.py --data benchmark.npz --quick      # smoke run, numbers mean nothing

Run it on a quiet machine: the header prints the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from bench_baseline_speed import cpu_model, matmul_flops_per_pose, median_seconds

from poselift.data.benchmark import load_benchmark
from poselift.fileio import write_text_atomic
from poselift.models.backbone import Dropout, apply_max_norm
from poselift.models.registry import build_model
from poselift.recipes import DataOptions, training_sources
from poselift.train import TrainConfig, train

# name -> (baseline config overrides, whether to put PyTorch's nn.Dropout back)
VARIANTS = {"default": ({}, False), "bernoulli-dropout": ({}, True),
            "paper": ({"init": "kaiming", "input_layer": "dense", "max_norm": 1.0, "max_norm_mode": "row"}, True)}


def with_torch_dropout(model):
    """The model with every backbone Dropout replaced by ``nn.Dropout`` of the same ``p`` (in place)."""
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, Dropout):
                setattr(module, name, nn.Dropout(child.p))
    return model


def mm_gflops(size: int, repeats: int) -> float:
    left, right = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / median_seconds(lambda: torch.mm(left, right), repeats) / 1e9


def loop_rate(model, source, batch: int, steps: int, warmup: int, workdir: Path) -> float:
    """Samples/s of :func:`poselift.train.train` over ``steps`` steps after ``warmup``."""
    times: list[float] = []
    config = TrainConfig(epochs=1, batch_size=batch, max_steps=warmup + steps, checkpoint_every_steps=0,
                         device="cpu", lr_decay_steps=10_000, best_metric=None)
    train(model, source, config, workdir, quiet=True, force=True,
          step_callback=lambda step, terms: times.append(time.perf_counter()))
    return steps * batch / (times[-1] - times[warmup - 1])


def breakdown_ms(model, source, batch: int, repeats: int) -> dict[str, float]:
    """Median ms of each part of one training step, taken apart."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    indices = torch.randperm(len(source), generator=generator)[:batch]
    data = source.batch(indices, generator)
    model.train()
    state: dict = {}

    def forward():
        state["loss"] = model.loss(data)["loss"]

    def backward():
        forward()
        optimizer.zero_grad(set_to_none=True)
        state["loss"].backward()

    parts = {"batch (gather, noise, confidences)": median_seconds(lambda: source.batch(indices, generator), repeats),
             "forward + loss": median_seconds(forward, repeats)}
    parts["backward"] = median_seconds(backward, repeats) - parts["forward + loss"]
    backward()
    parts["Adam step (fused)"] = median_seconds(optimizer.step, repeats)
    if model.config.projects_max_norm:
        parts["max-norm projection"] = median_seconds(lambda: apply_max_norm(model, model.config.max_norm), repeats)
    return {name: 1e3 * seconds for name, seconds in parts.items()}


def measure(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    source = training_sources(load_benchmark(args.data),
                              DataOptions(input="noisy", frame_stride=20 if args.quick else 1, validation="none"))[0]
    mm_size, mm_repeats = (1024, 2) if args.quick else (4096, 5)
    results = {"header": {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_model(),
                          "cores": os.cpu_count(), "load_average_start": os.getloadavg(), "quick": args.quick,
                          "data": "benchmark training split, noisy 2D, cameras 0-3", "samples": len(source)},
               "mm_gflops_before": mm_gflops(mm_size, mm_repeats), "rows": []}
    with tempfile.TemporaryDirectory(prefix="poselift_train_speed_") as workdir:
        for variant in args.variants:
            torch.manual_seed(0)
            overrides, torch_dropout = VARIANTS[variant]
            model = build_model("baseline", overrides)
            if torch_dropout:
                with_torch_dropout(model)
            model.normalizer.fit_source(source)
            flops = 3 * matmul_flops_per_pose(model)
            for batch in args.batches:
                steps = 3 if args.quick else max(20, 20_000 // batch)
                rate = loop_rate(model, source, batch, steps, 2 if args.quick else 10, Path(workdir) / variant)
                results["rows"].append({"variant": variant, "config": overrides, "torch_dropout": torch_dropout,
                                        "batch": batch,
                                        "steps_timed": steps, "samples_per_s": rate,
                                        "gflops": rate * flops / 1e9, "flops_per_sample": flops,
                                        "breakdown_ms": breakdown_ms(model, source, batch, 3 if args.quick else 20)})
    results["mm_gflops_after"] = mm_gflops(mm_size, mm_repeats)
    limit = max(results["mm_gflops_before"], results["mm_gflops_after"])
    for row in results["rows"]:
        row["fraction_of_mm"] = row["gflops"] / limit
    results["header"]["load_average_end"] = os.getloadavg()
    return results


def print_report(results: dict) -> None:
    info = results["header"]
    limit = max(results["mm_gflops_before"], results["mm_gflops_after"])
    print(f"torch {info['torch']}; {info['threads']} thread(s); CPU: {info['cpu']} ({info['cores']} cores); "
          f"load average at start {'/'.join(f'{v:.2f}' for v in info['load_average_start'])}, at end "
          f"{'/'.join(f'{v:.2f}' for v in info['load_average_end'])}{' (QUICK: meaningless)' if info['quick'] else ''}")
    print(f"Limit: torch.mm 4096x4096 float32 = {limit:.1f} GFLOP/s (before {results['mm_gflops_before']:.1f}, "
          f"after {results['mm_gflops_after']:.1f}); data: {info['data']} ({info['samples']:,} samples)\n")
    print("| backbone | batch | samples/s | ms/step | GFLOP/s (fwd+bwd products) | of mm |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in results["rows"]:
        print(f"| {row['variant']} | {row['batch']} | {row['samples_per_s']:,.0f} | "
              f"{1e3 * row['batch'] / row['samples_per_s']:.1f} | {row['gflops']:.1f} | {row['fraction_of_mm']:.2f} |")
    print("\nOne step taken apart (median ms of each part alone):\n")
    names = list(dict.fromkeys(name for row in results["rows"] for name in row["breakdown_ms"]))
    print("| backbone | batch | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for row in results["rows"]:
        cells = [f"{row['breakdown_ms'][name]:.2f}" if name in row["breakdown_ms"] else "-" for name in names]
        print(f"| {row['variant']} | {row['batch']} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="benchmark .npz (poselift data build)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256, 1024])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, the numbers mean nothing")
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON")
    args = parser.parse_args(argv)
    results = measure(args)
    print_report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.json, json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
