"""Evaluation protocols on the benchmark, with per-action tables.

Protocol #1: MPJPE after root alignment; #2: P-MPJPE (similarity Procrustes); both on every test
frame seen by the four cameras. Protocol #3 (cross-camera): the same metrics on camera 3 alone, for
a model trained on cameras 0-2. PCK@150 mm and AUC (0-150 mm) are reported alongside. Averages are
given per action then over actions (the H36M convention) and over all samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from poselift.data.benchmark import Benchmark
from poselift.data.datasets import FrameSource
from poselift.errors import PoseliftError
from poselift.metrics import auc, mean_by_group, mpjpe, p_mpjpe, pck

PROTOCOL_CAMERAS = {1: (0, 1, 2, 3), 2: (0, 1, 2, 3), 3: (3,)}
METRICS = ("mpjpe", "p_mpjpe", "pck150", "auc")
METRIC_TITLES = {"mpjpe": "MPJPE mm", "p_mpjpe": "P-MPJPE mm", "pck150": "PCK@150 %", "auc": "AUC %"}


@dataclass
class EvaluationResult:
    """Per-sample errors and their averages.

    Attributes:
        per_action: {action: {metric: value}}; averages: {"mean_over_actions": {...}, "mean_over_samples": {...}}.
        info: protocol, input, cameras, sample count, data version, mean 2D input error.
    """

    per_action: dict
    averages: dict
    info: dict

    def to_dict(self) -> dict:
        return {"info": self.info, "averages": self.averages, "per_action": self.per_action}

    def table(self) -> str:
        """A plain-text table: one row per action, then the two averages."""
        width = max([len(action) for action in self.per_action] + [20])
        header = f"{'action':<{width}}  " + "  ".join(f"{METRIC_TITLES[m]:>11}" for m in METRICS)
        rows = [header, "-" * len(header)]
        for action, values in sorted(self.per_action.items()):
            rows.append(f"{action:<{width}}  " + "  ".join(f"{values[m]:>11.1f}" for m in METRICS))
        rows.append("-" * len(header))
        for name, values in self.averages.items():
            label = name.replace("_", " ")
            rows.append(f"{label:<{width}}  " + "  ".join(f"{values[m]:>11.1f}" for m in METRICS))
        return "\n".join(rows)


@torch.no_grad()
def predict(model, keypoints_2d: torch.Tensor, confidence: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Run ``model.lift`` over (N, 17, 2) px in large batches -> (N, 17, 3) mm root-relative."""
    model.eval()
    outputs = [model.lift(keypoints_2d[start:start + batch_size], confidence[start:start + batch_size])
               for start in range(0, len(keypoints_2d), batch_size)]
    return torch.cat(outputs) if outputs else keypoints_2d.new_zeros((0, 17, 3))


def per_sample_errors(predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N, 17, 3) root-relative predictions and targets (mm) -> {metric: (N,)}; PCK and AUC in %."""
    return {"mpjpe": mpjpe(predicted, target), "p_mpjpe": p_mpjpe(predicted, target),
            "pck150": 100 * pck(predicted, target, 150.0), "auc": 100 * auc(predicted, target)}


def evaluate(model, benchmark: Benchmark, input: str = "gt", protocol: int = 1, split: str = "test",
             batch_size: int = 65536) -> EvaluationResult:
    """Evaluate a lifting model (anything with ``lift(keypoints_2d, confidence)``) on the benchmark."""
    if protocol not in PROTOCOL_CAMERAS:
        raise PoseliftError(f"unknown protocol {protocol}; use 1, 2 or 3")
    source = FrameSource(benchmark, split, input, cameras=PROTOCOL_CAMERAS[protocol])
    batch = source.batch(torch.arange(len(source)))
    predicted = predict(model, batch["keypoints_2d"], batch["confidence"], batch_size)
    errors = per_sample_errors(predicted.double(), batch["poses_3d"].double())
    actions = benchmark.actions()
    sample_actions = [actions[i] for i in batch["frame"].tolist()]
    per_action: dict[str, dict] = {}
    mean_over_actions = {}
    for metric, values in errors.items():
        by_action, mean_over_actions[metric] = mean_by_group(values, sample_actions)
        for action, value in by_action.items():
            per_action.setdefault(action, {})[metric] = float(value)
        mean_over_actions[metric] = float(mean_over_actions[metric])
    gt_2d = benchmark.keypoints_2d["gt"][batch["camera"], batch["frame"]]
    info = dict(protocol=protocol, input=input, split=split, cameras=list(PROTOCOL_CAMERAS[protocol]),
                samples=len(source), data_version=benchmark.version,
                mean_2d_input_error_px=float((batch["keypoints_2d"] - gt_2d).norm(dim=-1).mean()))
    averages = {"mean_over_actions": mean_over_actions,
                "mean_over_samples": {metric: float(values.mean()) for metric, values in errors.items()}}
    return EvaluationResult(per_action, averages, info)
