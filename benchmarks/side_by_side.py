"""Several benchmark commands side by side on one machine (the lent GPU machine, or the CPU), one
process each, every one resumable (:mod:`sweep` caches runs), their logs and results JSON under ``--out``.

Plans (``--plan``):

- ``curves``: the learning curves to convergence (``learning_curves.py``) of the siamese, consensus,
  temporal and self-supervised lifters (``--kinds``; ``baseline`` too, for a benchmark version whose
  baseline curve is not measured yet: 1.0's is in benchmarks/results/curves/baseline), both 2D
  inputs, validation people, batch 256: the converged schedules the issue asks for. (V-VIPE's curve
  is measured in Hit@1 and is not in it yet.) Build the benchmark with ``--benchmark-version 2.0``
  to measure them on the version the docs move to.

On the GPU machine, one prepared call (the benchmark is built there first, 20 s):

    poselift data build --source ../shared/data --out benchmark.npz && \\
        python benchmarks/side_by_side.py --plan curves --data benchmark.npz --out $OUT/curves --device cuda --threads 3

Tested on the CPU first with ``--quick`` (tiny models, 30 steps a run). ``--jobs`` caps how many run at
once (default: all). Each command's output goes to ``OUT/<name>.log``; the exit status is the number
of commands that failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CURVE_KINDS = {                      # kind -> extra learning_curves.py arguments
    "baseline": [],
    "siamese": [],
    "consensus": [],
    "temporal": [],
    "selfsup": ["--per-epoch-set", "pretrain_epochs=0.0625"],     # the paper's 20 of 320 epochs
    "vvipe": [],
}


def plan_commands(args) -> dict[str, list[str]]:
    """name -> command line of every run in the plan."""
    if args.plan != "curves":
        raise SystemExit(f"unknown plan {args.plan!r}")
    commands = {}
    for kind in args.kinds:
        extra = CURVE_KINDS[kind]
        command = [sys.executable, str(HERE / "learning_curves.py"), "--kind", kind, "--data", str(args.data),
                   "--out", str(args.out / kind), "--batch-size", "256", "--frame-stride", "2",
                   "--device", args.device, "--figure", str(args.out / f"curve_{kind}.png"), *extra]
        if args.threads:
            command += ["--threads", str(args.threads)]
        if args.quick:
            command.append("--quick")
        commands[kind] = command
    return commands


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="curves", choices=["curves"])
    parser.add_argument("--data", type=Path, required=True, help="benchmark .npz")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads of each process")
    parser.add_argument("--jobs", type=int, default=None, help="at most this many at once (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny models, 30 steps a run")
    parser.add_argument("--kinds", nargs="+", choices=list(CURVE_KINDS), default=["siamese", "consensus", "temporal",
                                                                                   "selfsup", "vvipe"],
                        help="the models of the curves plan (default: all but the baseline, done on 1.0)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pending = list(plan_commands(args).items())
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    failed = []
    while pending or running:
        while pending and (args.jobs is None or len(running) < args.jobs):
            name, command = pending.pop(0)
            log = open(args.out / f"{name}.log", "w")
            running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), time.time())
            print(f"started {name}: {' '.join(command)}", flush=True)
        for name, (process, started) in list(running.items()):
            if process.poll() is not None:
                del running[name]
                status = "done" if process.returncode == 0 else f"FAILED (exit {process.returncode})"
                print(f"{name}: {status} after {time.time() - started:.0f} s (log {args.out / f'{name}.log'})",
                      flush=True)
                if process.returncode:
                    failed.append(name)
        time.sleep(1)
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
