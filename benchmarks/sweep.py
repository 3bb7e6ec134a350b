"""Shared machinery of the accuracy benchmarks: named training runs, cached evaluations, seed statistics.

A :class:`RunSpec` names one training run (model kind, 2D input, seed, data-option and model-config
overrides); :class:`Sweep` trains it on demand with the shared recipe (``poselift train KIND``) and a
common schedule, and caches every evaluation in ``OUT/runs/<name>/evals.json``. A run that already
holds its evaluation is neither trained nor evaluated again, and an interrupted training resumes, so
an interrupted sweep can simply be rerun.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from poselift.data.benchmark import Benchmark
from poselift.evaluate import evaluate
from poselift.fileio import write_text_atomic
from poselift.lift import load_model
from poselift.recipes import DataOptions, train_on_benchmark
from poselift.train import TrainConfig


def _settings(pairs: tuple) -> str:
    return "".join(f"_{key}={value}" for key, value in pairs)


@dataclass(frozen=True)
class RunSpec:
    """One training run: model kind, 2D input, seed, data options, model config and schedule overrides."""

    kind: str
    input: str
    seed: int
    config: tuple = field(default_factory=tuple)        # sorted (key, value) pairs of the model config
    data: tuple = field(default_factory=tuple)          # sorted (key, value) pairs of DataOptions
    schedule: tuple = field(default_factory=tuple)      # sorted (key, value) pairs of TrainConfig

    @property
    def name(self) -> str:
        settings = _settings(self.schedule) + _settings(self.data) + _settings(self.config)
        return f"{self.kind}_{self.input}_seed{self.seed}{settings}".replace(" ", "")


def spec(kind: str, input_name: str, seed: int, config: dict | None = None, data: dict | None = None,
         schedule: dict | None = None) -> RunSpec:
    """A :class:`RunSpec`; ``schedule`` overrides the sweep's :class:`TrainConfig` fields for this run only."""
    return RunSpec(kind, input_name, seed, *(tuple(sorted((overrides or {}).items()))
                                             for overrides in (config, data, schedule)))


class Sweep:
    """Trains runs on demand with one schedule and caches their evaluations.

    Args:
        data_path: the benchmark .npz; benchmark: it, loaded. out: folder of ``runs/``.
        schedule: :class:`TrainConfig` fields shared by every run (its seed is the run's).
        data: :class:`DataOptions` fields shared by every run (a run's own ``data`` overrides them).
        base_config: per model kind, config overrides shared by its runs.
        kind_schedule: per model kind, schedule fields that differ from ``schedule`` (e.g. its lr).
    """

    def __init__(self, data_path: Path, benchmark: Benchmark, out: Path, schedule: dict, data: dict | None = None,
                 base_config: dict | None = None, kind_schedule: dict | None = None):
        self.data_path, self.benchmark, self.out = data_path, benchmark, out
        self.schedule, self.data = schedule, dict(data or {})
        self.base_config, self.kind_schedule = dict(base_config or {}), dict(kind_schedule or {})

    def run_dir(self, run: RunSpec) -> Path:
        return self.out / "runs" / run.name

    def trained(self, run: RunSpec) -> Path:
        run_dir = self.run_dir(run)
        if (run_dir / "done").exists():
            return run_dir
        config = TrainConfig(**{**self.schedule, **self.kind_schedule.get(run.kind, {}), **dict(run.schedule),
                                "seed": run.seed})
        data = replace(DataOptions(**self.data), input=run.input, **dict(run.data))
        model_config = {**self.base_config.get(run.kind, {}), **dict(run.config)}
        started = time.time()
        print(f"training {run.name}", flush=True)
        train_on_benchmark(run.kind, self.data_path, run_dir, data, config, model_config,
                           resume=(run_dir / "last.pt").exists(), quiet=True)
        write_text_atomic(run_dir / "done", json.dumps({"train_seconds": time.time() - started}) + "\n")
        return run_dir

    def evaluation(self, run: RunSpec, input_name: str | None = None, protocol: int = 1, split: str = "test",
                   noise_px: float = 0.0, camera_seed: int | None = None) -> dict:
        """Averages over actions (MPJPE, P-MPJPE, PCK, AUC, MPJVE, accel) of a run on one test input
        (default: the input it was trained on); ``camera_seed``: every sample filmed by a random camera
        drawn with that seed (:class:`~poselift.data.random_cameras.RandomCameraConfig`) instead."""
        return self._evaluated(run, input_name, protocol, split, noise_px, camera_seed)["averages"]["mean_over_actions"]

    def evaluation_info(self, run: RunSpec, input_name: str | None = None, protocol: int = 1,
                        split: str = "test", noise_px: float = 0.0, camera_seed: int | None = None) -> dict:
        """The ``info`` of that evaluation (cameras, samples, the 2D input's mean error, ...)."""
        return self._evaluated(run, input_name, protocol, split, noise_px, camera_seed)["info"]

    def train_seconds(self, run: RunSpec) -> float:
        """Training time of a run from its per-epoch log (also right for a run that was resumed); the wall
        time of the training call for a run stopped by ``max_steps`` inside its first epoch (no log row)."""
        run_dir = self.trained(run)
        if (run_dir / "log.json").exists():
            return sum(row["train_seconds"] for row in json.loads((run_dir / "log.json").read_text()))
        return json.loads((run_dir / "done").read_text())["train_seconds"]

    def _evaluated(self, run: RunSpec, input_name: str | None, protocol: int, split: str, noise_px: float,
                   camera_seed: int | None = None) -> dict:
        from poselift.data.random_cameras import RandomCameraConfig

        input_name = input_name or run.input
        run_dir = self.trained(run)
        cache_path = run_dir / "evals.json"
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
        key = f"{input_name}+{noise_px:g}px" + ("" if (protocol, split) == (1, "test") else f"+p{protocol}+{split}")
        key += "" if camera_seed is None else f"+random_cameras{camera_seed}"
        if key not in cache:
            model = load_model(run_dir / "last.pt")
            result = evaluate(model, self.benchmark, input=input_name, protocol=protocol, split=split,
                              input_noise_px=noise_px, camera_seed=camera_seed or 0,
                              random_cameras=None if camera_seed is None else RandomCameraConfig())
            cache[key] = {"averages": result.averages, "info": result.info}
            write_text_atomic(cache_path, json.dumps(cache, indent=1) + "\n")
        return cache[key]


def over_seeds(evaluations: list[dict], metrics) -> dict:
    """{metric: {"mean", "std" (sample, 0 for one seed), "per_seed"}} of the given metrics."""
    summary = {}
    for metric in metrics:
        values = [evaluation[metric] for evaluation in evaluations]
        summary[metric] = {"mean": statistics.mean(values), "per_seed": values,
                           "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return summary


def mean_std(values: dict, digits: int = 1) -> str:
    """A table cell of an :func:`over_seeds` entry: ``mean ± std`` over seeds, or the value alone for one seed."""
    if len(values["per_seed"]) > 1:
        return f"{values['mean']:.{digits}f} ± {values['std']:.{digits}f}"
    return f"{values['mean']:.{digits}f}"


def print_sections(tables: dict, summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds); ``tables``
    maps a section name to its printing function, in the order to print."""
    for name, print_section in tables.items():
        if name in summary["results"] and (sections is None or name in sections):
            print_section(summary)


def schedule_of(args) -> dict:
    """The :class:`TrainConfig` fields every run of a sweep shares, from the common options."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, num_threads=args.threads,
                max_steps=args.max_steps, device=args.device)


def open_sweep(args, config_sets: dict, sweep_class: type = None, kind_schedule: dict | None = None) -> Sweep:
    """The start of every accuracy benchmark: torch threads (``--threads``), the benchmark (``--data``)
    and a sweep with the common schedule and frame stride.

    Args:
        config_sets: per model kind, its ``KEY=VALUE`` overrides (``--baseline-set``, ...), the runs'
            base configs. sweep_class: :class:`Sweep` or a subclass. kind_schedule: as :class:`Sweep`.
    """
    import torch

    from poselift.cli.common import parse_assignments
    from poselift.data.benchmark import load_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    return (sweep_class or Sweep)(args.data, load_benchmark(args.data), args.out, schedule_of(args),
                                  data={"frame_stride": args.frame_stride},
                                  base_config={kind: parse_assignments(assignments)
                                               for kind, assignments in config_sets.items()},
                                  kind_schedule=kind_schedule)


def summary_header(args, benchmark: Benchmark, **fields) -> dict:
    """The opening fields of a ``summary.json``: data, device, schedule, seeds, then ``fields``."""
    import platform

    import torch

    return {"benchmark": benchmark.version, "data": str(args.data), "quick": args.quick,
            "device": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__})",
            "epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size, "lr": args.lr,
            "frame_stride": args.frame_stride, "seeds": args.seeds, **fields, "results": {}}


def run_sections(sections: dict, names, sweep, args, summary: dict, print_tables, after_section=None) -> dict:
    """Run the named sections in order, writing ``OUT/summary.json`` after each (so an interrupted
    sweep keeps what it measured); ``after_section(name, summary)`` may update ``args``/``summary``;
    then print every table."""
    started = time.time()
    for name in names:
        summary["results"][name] = sections[name](sweep, args)
        if after_section is not None:
            after_section(name, summary)
        summary["seconds"] = time.time() - started
        write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print_tables(summary)
    print(f"\nwrote {args.out / 'summary.json'} ({summary['seconds']:.0f} s)")
    return summary


def add_sweep_arguments(parser, sections, *, batch_size: int = 256, batch_help: str = "samples per step",
                        frame_stride: int = 5, frame_stride_help: str = "keep every k-th training frame (5 = 10 fps)",
                        quick_help: str = "smoke test: tiny models, 30 steps, one seed") -> None:
    """The options every accuracy benchmark has: data, output, sections, inputs, seeds, schedule, device."""
    parser.add_argument("--data", type=Path, required=True, help="benchmark .npz (poselift data build)")
    parser.add_argument("--out", type=Path, required=True, help="folder for runs and summary.json")
    parser.add_argument("--sections", nargs="+", default=list(sections), choices=list(sections))
    parser.add_argument("--inputs", nargs="+", default=["gt", "noisy"], choices=["gt", "noisy"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the headline rows")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=batch_size, help=batch_help)
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    parser.add_argument("--frame-stride", type=int, default=frame_stride, help=frame_stride_help)
    parser.add_argument("--max-steps", type=int, default=None, help="stop every training after this many steps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (training and inference)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help=quick_help)
