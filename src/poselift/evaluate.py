"""Evaluation protocols on the benchmark, with per-action tables.

Protocol #1: MPJPE after root alignment; #2: P-MPJPE (similarity Procrustes); both on every test
frame seen by the four cameras. Protocol #3 (cross-camera): the same metrics on camera 3 alone, for
a model trained on cameras 0-2. PCK@150 mm and AUC (0-150 mm) are reported alongside. Averages are
given per action then over actions (the H36M convention) and over all samples.

Every test clip seen by one camera is one sequence: a temporal model (one with
``lift_sequences(keypoints_2d (M, 17, 2), confidence (M, 17), sequence_lengths (S,))``) lifts each
clip as a whole with its own inference scheme, a per-frame model lifts the frames in large batches.
For any model the jitter is measured per clip: MPJVE (mean per-joint velocity error, mm/frame)
and the acceleration error (mm/frame^2) of consecutive frames of the same clip and camera.

The targets are root-relative camera-frame poses, unless the model says it lifts into the canonical
body frame (``output_frame = "canonical"``, V-VIPE): then they are canonicalised
(:func:`poselift.geometry.canonicalize`) before any metric, so MPJPE compares like with like.

A model that reads the camera (``reads_intrinsics``, the "camera" 2D encoding) is given each
sample's intrinsics. With ``random_cameras`` every test sample is filmed instead by a camera drawn
for it (:mod:`poselift.data.random_cameras`, from a generator seeded with ``camera_seed``, so the
draw is the same for every model): the person off-centre, near and far, phone to telephoto. Each
frame then has its own camera, so the frames of a clip are no sequence: single-frame models only,
and no jitter metrics. With ``random_camera_clips=N`` the test clips are cut instead into pieces of
N consecutive frames (:class:`~poselift.data.datasets.WindowSource`, a piece's start every N frames;
a clip's last frames that fill no piece are left out), and each piece is filmed by one random camera
that frames all of it: every model, sequence or not, lifts the same pieces as sequences, with the
jitter metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

from poselift.camera import project_points
from poselift.data.benchmark import Benchmark
from poselift.data.datasets import FrameSource, WindowSource
from poselift.data.random_cameras import RandomCameraConfig
from poselift.errors import PoseliftError
from poselift.geometry import canonicalize
from poselift.intrinsics import Intrinsics
from poselift.metrics import acceleration_error, auc, mean_by_group, mpjpe, mpjve, p_mpjpe, pck

PROTOCOL_CAMERAS = {1: (0, 1, 2, 3), 2: (0, 1, 2, 3), 3: (3,)}
METRICS = ("mpjpe", "p_mpjpe", "pck150", "auc")            # one value per frame
SEQUENCE_METRICS = ("mpjve", "accel")                      # one value per frame step of a clip
METRIC_TITLES = {"mpjpe": "MPJPE mm", "p_mpjpe": "P-MPJPE mm", "pck150": "PCK@150 %", "auc": "AUC %",
                 "mpjve": "MPJVE mm/fr", "accel": "Accel mm/fr2"}


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
        metrics = METRICS + SEQUENCE_METRICS
        header = f"{'action':<{width}}  " + "  ".join(f"{METRIC_TITLES[m]:>12}" for m in metrics)
        cells = lambda values: "  ".join(f"{values[m]:>12.1f}" if m in values else f"{'-':>12}"  # noqa: E731
                                         for m in metrics)
        rows = [header, "-" * len(header)]
        for action, values in sorted(self.per_action.items()):
            rows.append(f"{action:<{width}}  " + cells(values))
        rows.append("-" * len(header))
        for name, values in self.averages.items():
            rows.append(f"{name.replace('_', ' '):<{width}}  " + cells(values))
        return "\n".join(rows)


def per_sample_errors(predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N, 17, 3) root-relative predictions and targets (mm) -> {metric: (N,)}; PCK and AUC in %."""
    return {"mpjpe": mpjpe(predicted, target), "p_mpjpe": p_mpjpe(predicted, target),
            "pck150": 100 * pck(predicted, target, 150.0), "auc": 100 * auc(predicted, target)}


def clip_sequences(batch: dict, benchmark: Benchmark) -> tuple[torch.Tensor, torch.Tensor]:
    """Regroup a batch of frames as one sequence per (camera, clip), frames in time order.

    Args:
        batch: with ``camera (N,)`` and ``frame (N,)`` (global frame index) of each sample, holding
            whole clips (every frame of a clip, as an evaluation split does).

    Returns:
        ``(order (N,) long, sequence_lengths (S,) long)``: ``batch[key][order]`` lays the sequences end to end.
    """
    camera, frame = batch["camera"].long(), batch["frame"].long()
    order = torch.argsort(camera * benchmark.num_frames + frame)
    sequence_key = camera[order] * len(benchmark.clips) + benchmark.clip_index[frame[order]]
    _, lengths = torch.unique_consecutive(sequence_key, return_counts=True)
    step = torch.diff(frame[order])
    same_sequence = sequence_key[1:] == sequence_key[:-1]
    if bool((same_sequence & (step != 1)).any()):
        raise PoseliftError("evaluation frames do not hold whole clips of consecutive frames")
    return order, lengths


@torch.no_grad()
def lift_clips(model, keypoints_2d: torch.Tensor, confidence: torch.Tensor, sequence_lengths: torch.Tensor,
               intrinsics=None) -> torch.Tensor:
    """Lift sequences laid end to end: (M, 17, 2) px -> (M, 17, 3) mm root-relative.

    A temporal model (``lift_sequences``) lifts each sequence with its own scheme; any other model
    lifts the frames independently (its ``lift`` batches them itself). ``intrinsics``
    (:class:`~poselift.intrinsics.Intrinsics`, (M, 2) focal etc.) go to a model that reads them.
    """
    model.eval()
    camera = {"intrinsics": intrinsics} if model.reads_intrinsics else {}
    if model.sequence_model:
        return model.lift_sequences(keypoints_2d, confidence, sequence_lengths, **camera)
    return model.lift(keypoints_2d, confidence, **camera)


def sequence_errors(predicted: torch.Tensor, target: torch.Tensor,
                    sequence_lengths: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Jitter metrics of sequences laid end to end, never across two sequences.

    Args:
        predicted, target: (M, J, 3) mm root-relative. sequence_lengths: (S,) summing to M.

    Returns:
        ``{"mpjve": (values, frame_rows), "accel": (values, frame_rows)}``: one value per step of
        consecutive frames inside a sequence (mm/frame, mm/frame^2) and the row (into the M frames) of
        the step's last frame.
    """
    sequence = torch.repeat_interleave(torch.arange(len(sequence_lengths)), sequence_lengths.cpu())
    results = {}
    for name, function, order in (("mpjve", mpjve, 1), ("accel", acceleration_error, 2)):
        if len(sequence) <= order:
            results[name] = (predicted.new_zeros(0), torch.zeros(0, dtype=torch.long))
            continue
        inside = (sequence[order:] == sequence[:-order]).to(predicted.device)
        values = function(predicted, target, axis=0)
        results[name] = (values[inside], torch.nonzero(inside.cpu()).squeeze(1) + order)
    return results


def evaluate(model, benchmark: Benchmark, input: str = "gt", protocol: int = 1, split: str = "test",
             input_noise_px: float = 0.0, noise_seed: int = 0, random_cameras: RandomCameraConfig | None = None,
             camera_seed: int = 0, random_camera_clips: int | None = None) -> EvaluationResult:
    """Evaluate a lifting model (anything with ``lift(keypoints_2d, confidence)``) on the benchmark.

    ``input_noise_px``: standard deviation of Gaussian noise added to every 2D coordinate (pixels,
    drawn from a generator seeded with ``noise_seed``), the robustness test of Hossain & Little
    (Table 3). ``random_cameras``: film every sample with a random camera instead (its ``fraction``
    is ignored: all of them), drawn from a generator seeded with ``camera_seed``; with ``noisy``
    input the detector model is applied to their projections (see the module docstring).
    ``random_camera_clips``: with ``random_cameras``, one camera per piece of that many consecutive
    frames instead of one per frame (any model; see the module docstring).
    """
    if protocol not in PROTOCOL_CAMERAS:
        raise PoseliftError(f"unknown protocol {protocol}; use 1, 2 or 3")
    if not input_noise_px >= 0:
        raise PoseliftError(f"input_noise_px must be >= 0, got {input_noise_px}")
    if random_camera_clips is not None and (random_cameras is None or random_camera_clips < 1):
        raise PoseliftError(f"random_camera_clips needs random_cameras and at least 1 frame, got {random_camera_clips}")
    if random_cameras is not None and model.sequence_model and random_camera_clips is None:
        raise PoseliftError("random cameras give every frame its own camera: a sequence model cannot be evaluated "
                            "on them (give random_camera_clips: one camera per piece of a clip)")
    if random_cameras is not None:
        random_cameras = replace(random_cameras, fraction=1.0)
    generator = torch.Generator().manual_seed(camera_seed)
    if random_camera_clips is not None:      # one camera per piece of a clip: the pieces are the sequences
        source = WindowSource(benchmark, random_camera_clips, split, input, cameras=PROTOCOL_CAMERAS[protocol],
                              stride=random_camera_clips, random_cameras=random_cameras)
        windows = source.batch(torch.arange(len(source)), generator)
        lengths = torch.full((len(source),), random_camera_clips, dtype=torch.long)
        batch = {key: value.flatten(0, 1) for key, value in windows.items() if key not in ("image_size", "camera")}
    else:
        source = FrameSource(benchmark, split, input, cameras=PROTOCOL_CAMERAS[protocol], random_cameras=random_cameras)
        batch = source.batch(torch.arange(len(source)), generator)
        lengths = torch.ones(len(source), dtype=torch.long)      # one camera per frame: each a sequence of its own
    if random_cameras is None:                                   # the rig: every clip per camera is one sequence
        order, lengths = clip_sequences(batch, benchmark)
        batch = {key: value[order] for key, value in batch.items()}
        gt_2d = benchmark.keypoints_2d["gt"][batch["camera"], batch["frame"]]
    else:
        gt_2d = project_points(batch["poses_3d"] + batch["root_3d"][:, None], batch["focal"], batch["principal"],
                               batch["radial"], batch["tangential"])
    if input_noise_px > 0:
        generator = torch.Generator().manual_seed(noise_seed)
        noise = torch.randn(batch["keypoints_2d"].shape, generator=generator) * input_noise_px
        batch["keypoints_2d"] = batch["keypoints_2d"] + noise.to(batch["keypoints_2d"])
    predicted = lift_clips(model, batch["keypoints_2d"], batch["confidence"], lengths, Intrinsics.from_batch(batch))
    predicted, target = predicted.double(), batch["poses_3d"].double()
    target_frame = model.output_frame
    if target_frame == "canonical":
        target = canonicalize(target)
    errors = per_sample_errors(predicted, target)
    actions = benchmark.actions()
    sample_actions = [actions[i] for i in batch["frame"].tolist()]
    per_action: dict[str, dict] = {}
    mean_over_actions = {}
    mean_over_samples = {metric: float(values.mean()) for metric, values in errors.items()}
    for metric, values in errors.items():
        by_action, mean_over_actions[metric] = mean_by_group(values, sample_actions)
        for action, value in by_action.items():
            per_action.setdefault(action, {})[metric] = float(value)
        mean_over_actions[metric] = float(mean_over_actions[metric])
    for metric, (values, rows) in sequence_errors(predicted, target, lengths).items():
        if len(values) == 0:
            continue
        by_action, mean_over_actions[metric] = mean_by_group(values, [sample_actions[i] for i in rows.tolist()])
        for action, value in by_action.items():
            per_action[action][metric] = float(value)
        mean_over_samples[metric] = float(values.mean())
    info = dict(protocol=protocol, input=input, split=split, cameras=list(PROTOCOL_CAMERAS[protocol]),
                samples=int(batch["frame"].numel()), sequences=len(lengths), data_version=benchmark.version,
                input_noise_px=input_noise_px, target_frame=target_frame,
                sequence_inference=model.sequence_model,
                random_cameras=None if random_cameras is None else {**asdict(random_cameras), "seed": camera_seed,
                                                                    "frames_per_camera": random_camera_clips or 1},
                mean_2d_input_error_px=float((batch["keypoints_2d"] - gt_2d).norm(dim=-1).mean()))
    averages = {"mean_over_actions": mean_over_actions, "mean_over_samples": mean_over_samples}
    return EvaluationResult(per_action, averages, info)
