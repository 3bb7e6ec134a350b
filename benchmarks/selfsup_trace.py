"""Step-by-step trace of a self-supervised training run: what happens around the stage switch.

Trains ``poselift train selfsup`` through the shared recipe and, every ``--every`` steps (and every
step in ``--from``..``--to``), prints the stage, the loss terms, the gradient norm, the learning rate
and three numbers about the predicted global poses of a fixed probe batch of training views (2D only,
no 3D is read): the median root depth, the nearest joint to the camera and the mean joint distance
from the root (mm). A run that diverges shows it here first (a gradient spike, a joint behind the
camera, poses growing to metres), long before its epoch's validation error does.

    python benchmarks/selfsup_trace.py --data benchmark.npz --out runs/trace --input noisy --seed 0 \\
        --epochs 4 --max-steps 380 --every 50 --from 315 --to 350 --set hidden_size=512 pretrain_epochs=0.25 \\
        warmup_epochs=0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from poselift.cli.common import parse_assignments
from poselift.models.backbone import eval_mode
from poselift.models.selfsup import view_of
from poselift.recipes import DataOptions, train_on_benchmark
from poselift.train import TrainConfig

PROBE_SAMPLES = 256


def pose_summary(model, probe: dict) -> str:
    """Median root depth, nearest joint depth and mean joint distance from the root (mm) of the probe views."""
    with torch.no_grad(), eval_mode(model):
        pose, relative, _ = model.global_pose(view_of(probe, "_1"))
    return (f"root z {float(pose[:, 0, 2].median()):6.0f}  nearest z {float(pose[..., 2].min()):6.0f}  "
            f"size {float(relative.norm(dim=-1).mean()):5.0f}")


def training_views(args):
    """The run's own training views (2D and cameras only)."""
    from poselift.data.benchmark import load_benchmark
    from poselift.recipes import training_sources

    return training_sources(load_benchmark(args.data), DataOptions(input=args.input, frame_stride=args.frame_stride),
                            "views", 1)[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--input", default="gt", choices=["gt", "noisy"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--frame-stride", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--every", type=int, default=25, help="print every N steps")
    parser.add_argument("--from", dest="first", type=int, default=0, help="print every step from here ...")
    parser.add_argument("--to", dest="last", type=int, default=0, help="... to here")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="selfsup config overrides")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    probe = {}

    def trace(model, step: int, terms: dict) -> None:
        if step % args.every and not args.first <= step <= args.last:
            return
        if not probe:
            source = training_views(args)
            probe.update(source.batch(torch.linspace(0, len(source) - 1, PROBE_SAMPLES).long()))
        terms = {name: value.detach() for name, value in terms.items()}
        gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).norm()
        stage = "pre" if float(terms["pretraining"]) else "eq7"
        print(f"{step:6d} {stage}  loss {float(terms['loss']):9.3g}  reproj {float(terms['reproj']):9.3g} px2  "
              f"t-reproj {float(terms['t_reproj']):9.3g} px2  L_pre {float(terms['pretrain']):9.3g} mm2  "
              f"|grad| {float(gradient):9.3g}  lr factor {model.learning_rate_factor:4.2f}  "
              f"{pose_summary(model, probe)}", flush=True)

    train_on_benchmark("selfsup", args.data, args.out,
                       DataOptions(input=args.input, frame_stride=args.frame_stride),
                       TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                                   max_steps=args.max_steps, num_threads=1, checkpoint_every_steps=0),
                       parse_assignments(args.set), force=True, quiet=True, step_callback=trace)


if __name__ == "__main__":
    main()
