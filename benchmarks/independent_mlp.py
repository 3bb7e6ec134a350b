"""A cross-check of poselift's baseline: the Martinez MLP written again from scratch, with no poselift code.

Its own data path (the benchmark's ``.npz`` read with NumPy, 3D put into each camera's frame with the
stored rotations and centres), its own model (``torch.nn`` layers) and its own loop (Adam, step-wise
learning-rate decay, MSE on z-scored targets), so that a figure it shares with ``poselift train
baseline`` under the same schedule says the shared loop, encodings and evaluation are not what limits
the baseline. It evaluates like ``poselift eval`` (Protocol #1: every frame x 4 cameras, root-relative
MPJPE over the 17 joints, mean over actions) on the validation people (``--split val``: trained on
the five ``fit`` people) or on the test split (trained on all seven training people).

    python benchmarks/independent_mlp.py --data benchmark.npz --split val --input gt \\
        --epochs 32 --frame-stride 2 --batch-size 256 --out benchmarks/results/independent_mlp/val_gt.json

Writes a JSON with the arguments, the P#1 after every ``--eval-every`` epochs and the device;
:func:`print_table` prints every such JSON of ``benchmarks/results/independent_mlp/`` (the docs'
table, through ``benchmarks/report.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

VALIDATION_PEOPLE = ("dg", "cmu02")       # the benchmark's validation people (docs/benchmark.md)


def camera_frame_poses(data) -> np.ndarray:
    """(C, N, 17, 3) mm: the world poses seen by each camera, root (joint 0) at the origin."""
    world = data["poses_3d_world"].astype(np.float64)
    cameras = json.loads(str(data["cameras_json"]))
    poses = np.stack([(world - np.array(camera["centre"])) @ np.array(camera["R"]).T for camera in cameras])
    return poses - poses[:, :, :1]


def split_frames(data, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (training, evaluation) of ``split`` "val" or "test"."""
    subject = data["clip_subject"][data["clip_index"]]
    is_train = data["clip_split"][data["clip_index"]] == "train"
    if split == "val":
        held_out = np.isin(subject, VALIDATION_PEOPLE)
        return np.flatnonzero(is_train & ~held_out), np.flatnonzero(held_out)
    return np.flatnonzero(is_train), np.flatnonzero(~is_train)


class ClippedLinear(nn.Linear):
    """Martinez et al.'s max-norm: the forward pass uses ``W * min(1, 1 / ||W||_F)``."""

    def forward(self, features):
        weight = self.weight * torch.clamp(1.0 / self.weight.norm(), max=1.0)
        return nn.functional.linear(features, weight, self.bias)


def martinez_mlp(inputs: int, outputs: int, width: int, dropout: float) -> nn.Sequential:
    def unit(a, b):
        return [ClippedLinear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(dropout)]

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(*unit(width, width), *unit(width, width))

        def forward(self, features):
            return features + self.layers(features)

    return nn.Sequential(*unit(inputs, width), Residual(), Residual(), ClippedLinear(width, outputs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, help="results JSON")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--input", choices=("gt", "noisy"), default="gt")
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--frame-stride", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--decays", type=int, default=48, help="learning-rate decays of x0.96 spread over the run")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", choices=("mse", "mpjpe"), default="mse",
                        help="mse: Martinez's, on z-scored targets; mpjpe: the metric itself, mm")
    parser.add_argument("--confidence-input", action="store_true",
                        help="append each joint's confidence to the input (noisy 2D: it falls as the error grows)")
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = np.load(args.data)
    poses = camera_frame_poses(data)[:, :, 1:]                                 # (C, N, 16, 3): the root is 0
    keypoints = data[f"keypoints_2d_{args.input}"]                             # (C, N, 17, 2) px
    actions = data["clip_action"][data["clip_index"]]
    fit, evaluated = split_frames(data, args.split)
    fit = fit[::args.frame_stride]

    if args.confidence_input:
        confidence = (data["confidence_noisy"] if args.input == "noisy"
                      else np.ones(keypoints.shape[:-1], np.float32))[..., None]
        keypoints = np.concatenate([keypoints, confidence], axis=-1)           # (C, N, 17, 3)
    inputs = keypoints.shape[-1] * 17

    def samples(frames):
        return (keypoints[:, frames].reshape(-1, inputs).astype(np.float32),
                poses[:, frames].reshape(-1, 48).astype(np.float32), np.tile(actions[frames], len(keypoints)))

    x_fit, y_fit, _ = samples(fit)
    x_eval, y_eval, eval_actions = samples(evaluated)
    x_mean, x_std, y_mean, y_std = x_fit.mean(0), np.maximum(x_fit.std(0), 1e-6), y_fit.mean(0), y_fit.std(0)
    x_fit_t, y_fit_t = torch.tensor((x_fit - x_mean) / x_std), torch.tensor((y_fit - y_mean) / y_std)
    x_eval_t = torch.tensor((x_eval - x_mean) / x_std)

    network = martinez_mlp(inputs, 48, args.width, args.dropout)
    y_std_t = torch.tensor(y_std)

    def loss_of(predicted, target):
        if args.loss == "mse":
            return (predicted - target).square().mean()
        error_mm = ((predicted - target) * y_std_t).unflatten(-1, (16, 3)).norm(dim=-1)
        return error_mm.sum(dim=-1).div(17).mean()                                # root error 0, as P#1
    optimizer = torch.optim.Adam(network.parameters(), args.lr)
    steps_per_epoch = len(x_fit_t) // args.batch_size
    total_steps = args.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.96 ** np.floor(step * args.decays / total_steps))

    def protocol_1() -> float:
        network.eval()
        with torch.no_grad():
            predicted = network(x_eval_t).numpy() * y_std + y_mean
        network.train()
        joint_errors = np.linalg.norm((predicted - y_eval).reshape(-1, 16, 3), axis=-1)
        frame_errors = joint_errors.sum(axis=1) / 17                          # the root's error is 0
        return float(np.mean([frame_errors[eval_actions == action].mean() for action in np.unique(eval_actions)]))

    curve, started = [], time.time()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x_fit_t))
        for step in range(steps_per_epoch):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            loss = loss_of(network(x_fit_t[batch]), y_fit_t[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            curve.append({"epoch": epoch, "steps": epoch * steps_per_epoch, "p1_mm": protocol_1()})
            print(f"epoch {epoch}: {args.split} P#1 {curve[-1]['p1_mm']:.1f} mm ({time.time() - started:.0f} s)",
                  flush=True)
    result = {"arguments": vars(args), "samples_per_epoch": len(x_fit_t), "steps": total_steps,
              "curve": curve, "p1_mm": curve[-1]["p1_mm"],
              "device": f"CPU ({platform.machine()}, {args.threads} threads, torch {torch.__version__})"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


def print_table(results_folder: Path) -> None:
    """The table of every run in ``results_folder / "independent_mlp"`` (one JSON per run)."""
    rows = [json.loads(path.read_text()) for path in sorted(Path(results_folder, "independent_mlp").glob("*.json"))]
    print("The Martinez MLP written again with no poselift code (benchmarks/independent_mlp.py), Protocol #1 "
          "mean over actions, 4 cameras")
    print()
    print("| split | 2D input | change from Martinez | schedule | seed | P#1 mm | device |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        arguments = row["arguments"]
        schedule = (f"{arguments['epochs']} epochs, frames every {arguments['frame_stride']}, batch "
                    f"{arguments['batch_size']}, lr {arguments['lr']:g}, dropout {arguments['dropout']:g} "
                    f"({row['steps']:,} steps)")
        change = [f"loss {arguments['loss']}"] if arguments.get("loss", "mse") != "mse" else []
        change += ["confidence as input"] if arguments.get("confidence_input") else []
        print(f"| {arguments['split']} | {arguments['input']} | {', '.join(change) or 'none'} | {schedule} | "
              f"{arguments['seed']} | "
              f"{row['p1_mm']:.1f} | {row['device']} |")


if __name__ == "__main__":
    main()
