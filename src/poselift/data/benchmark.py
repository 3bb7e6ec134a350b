"""The poselift benchmark ("mocap-h36m-rig"): real motion capture filmed by the Human3.6M camera rig.

``build_benchmark`` follows ``shared/benchmark.md`` step by step, deterministically:

1. every source clip -> H36M-17 joints in mm, world frame Z up (:mod:`poselift.data.sources`);
2. floor: Z = 0 at the lowest point of the clip's whole source skeleton (version 1.0) or of the body's
   own joints (version 2.0: a CMU file's ``RL_BoneRoot`` anchor left out);
3. glitches: a joint moving faster than ``max_joint_speed_m_s`` between two source frames cuts the
   clip there; pieces shorter than ``min_piece_s`` are dropped;
4. each piece is resampled to ``fps`` (50 Hz) with cubic splines;
5. each piece is moved horizontally so its mean pelvis is at the world origin; a piece that leaves
   any of the four images (``image_margin_px``) is cut into contiguous segments that each fit once
   re-centred (greedy: each segment is grown as far as it still fits); segments shorter than
   ``min_segment_frames`` are dropped;
6. exact (``gt``) and simulated-detector (``noisy``) 2D for the four cameras (version 2.0: a
   confidence that does not see the realised error, :mod:`poselift.data.noise`);
7. split by person.

The result is one ``.npz`` file (no pickles) read back by :func:`load_benchmark`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.interpolate
import torch

from poselift.camera import Camera, h36m_rig
from poselift.data.noise import DetectorNoiseConfig, simulate_detector
from poselift.data.sources import SourceClip, load_cmu_clip, load_hdm05_clip, read_cmu_descriptions
from poselift.errors import FormatError, PoseliftError
from poselift.fileio import atomic_path
from poselift.io.asf_amc import read_asf
from poselift.skeleton import H36M17

BENCHMARK_NAME = "mocap-h36m-rig"
BENCHMARK_VERSION = f"{BENCHMARK_NAME}/1.0"      # what `poselift data build` makes unless told otherwise
# Two of the seven training people, held out of training whenever a choice is made (hyper-parameters,
# variants, the converged schedule): one HDM05 actor and one CMU subject, as the test split mixes both.
# "fit" = the other five training people, "val" = these two; the test split never chooses anything.
VALIDATION_SUBJECTS = ("dg", "cmu02")
SPLITS = ("train", "test", "fit", "val", "all")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Every choice of the benchmark; stored in the built file."""

    hdm05_actors: tuple[str, ...] = ("bd", "bk", "dg", "mm")
    cmu_subjects: tuple[int, ...] = (1, 2, 3, 5, 6, 7)
    test_subjects: tuple[str, ...] = ("mm", "cmu06", "cmu07")
    fps: float = 50.0
    max_joint_speed_m_s: float = 12.0
    min_piece_s: float = 0.2
    image_margin_px: float = 10.0
    min_segment_frames: int = 10
    noise: DetectorNoiseConfig = field(default_factory=DetectorNoiseConfig)
    seed: int = 0
    max_clips_per_subject: int | None = None     # None = all; a small number builds a quick sample
    version: str = "1.0"
    floor: str = "skeleton"                      # "skeleton": the whole source skeleton; "body": its own joints


# What each version of the benchmark changes (``poselift data build --benchmark-version``). 2.0 fixes
# two faults an audit found in 1.0: in four CMU clips (002_01, 002_02, 002_03, 007_01) the floor came
# from the retargeted avatar's RL_BoneRoot anchor, so the body floats 42-67 mm above Z = 0 there; and
# the ``noisy`` confidence was computed from each joint's realised error (an oracle). Every figure in
# the docs is measured on 1.0 until the re-measurement at convergence moves them to 2.0.
BENCHMARK_VERSIONS = {
    "1.0": {},
    "2.0": {"floor": "body", "noise": DetectorNoiseConfig(confidence_model="expected")},
}


def benchmark_config(version: str = "1.0", **overrides) -> BenchmarkConfig:
    """The builder's config of a benchmark ``version`` (:data:`BENCHMARK_VERSIONS`), with ``overrides``."""
    if version not in BENCHMARK_VERSIONS:
        raise PoseliftError(f"unknown benchmark version {version!r}; this poselift builds "
                            f"{', '.join(BENCHMARK_VERSIONS)}")
    return BenchmarkConfig(version=version, **{**BENCHMARK_VERSIONS[version], **overrides})


@dataclass
class BuildReport:
    """Counts of what the builder kept, cut and dropped (printed by the CLI)."""

    source_clips: int = 0
    source_seconds: float = 0.0
    glitch_cuts: int = 0
    dropped_short_pieces_s: float = 0.0
    out_of_view_cuts: int = 0
    dropped_out_of_view_frames: int = 0
    dropped_short_segments_frames: int = 0


def _split_of(clip: SourceClip, config: BenchmarkConfig) -> str:
    return "test" if clip.subject in config.test_subjects else "train"


def _iter_source_clips(source_dir: Path, config: BenchmarkConfig):
    """Yield every source clip in a fixed order (HDM05 actors, then CMU subjects; files sorted)."""
    for actor in config.hdm05_actors:
        asf_path = source_dir / "hdm05" / "asf" / f"HDM_{actor}.asf"
        if not asf_path.exists():
            raise PoseliftError(f"{asf_path}: missing HDM05 skeleton (is --source the shared data folder?)")
        skeleton = read_asf(asf_path)
        amc_paths = sorted((source_dir / "hdm05" / "amc" / actor).glob("*.amc"))
        for amc_path in amc_paths[:config.max_clips_per_subject]:
            yield load_hdm05_clip(asf_path, amc_path, skeleton)
    descriptions = read_cmu_descriptions(source_dir / "cmu" / "cmu_index.csv")
    for subject in config.cmu_subjects:
        bvh_paths = sorted((source_dir / "cmu" / "subjects" / f"{subject:03d}").glob("*.bvh"))
        if not bvh_paths:
            raise PoseliftError(f"{source_dir / 'cmu' / 'subjects' / f'{subject:03d}'}: no BVH files for CMU subject {subject}")
        for bvh_path in bvh_paths[:config.max_clips_per_subject]:
            yield load_cmu_clip(bvh_path, descriptions)


def _cut_at_glitches(poses_mm: np.ndarray, fps: float, config: BenchmarkConfig, report: BuildReport) -> list[np.ndarray]:
    """Split (T, 17, 3) at source-frame transitions faster than the speed limit; drop short pieces."""
    speed_m_s = np.linalg.norm(np.diff(poses_mm, axis=0), axis=-1).max(-1) * fps / 1000.0
    cuts = np.flatnonzero(speed_m_s > config.max_joint_speed_m_s) + 1
    report.glitch_cuts += len(cuts)
    pieces = []
    for piece in np.split(poses_mm, cuts):
        if len(piece) / fps < config.min_piece_s:
            report.dropped_short_pieces_s += len(piece) / fps
        else:
            pieces.append(piece)
    return pieces


def _resample(poses_mm: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Cubic-spline resampling of (T, 17, 3) from ``source_fps`` to ``target_fps``."""
    duration = (len(poses_mm) - 1) / source_fps
    source_times = np.arange(len(poses_mm)) / source_fps
    target_times = np.arange(int(np.floor(duration * target_fps + 1e-9)) + 1) / target_fps
    return scipy.interpolate.CubicSpline(source_times, poses_mm, axis=0)(target_times)


def _recentre(poses_mm: np.ndarray) -> np.ndarray:
    """Move (T, 17, 3) horizontally so the mean pelvis is at the world origin."""
    offset = np.zeros(3)
    offset[:2] = poses_mm[:, H36M17.root_index, :2].mean(0)
    return poses_mm - offset


def _frames_in_view(poses_mm: np.ndarray, cameras: list[Camera], margin_px: float) -> np.ndarray:
    """(T,) bool: every joint of the frame is in front of and inside every camera's image."""
    inside = np.ones(len(poses_mm), dtype=bool)
    for camera in cameras:
        points_cam = camera.world_to_camera(poses_mm)
        pixels = camera.project(points_cam)
        inside &= (points_cam[..., 2] > 0).all(-1)
        inside &= ((pixels[..., 0] >= margin_px) & (pixels[..., 0] <= camera.width - margin_px)
                   & (pixels[..., 1] >= margin_px) & (pixels[..., 1] <= camera.height - margin_px)).all(-1)
    return inside


def _fits(poses_mm: np.ndarray, cameras, margin_px) -> bool:
    return bool(_frames_in_view(_recentre(poses_mm), cameras, margin_px).all())


def _split_into_views(poses_mm: np.ndarray, cameras, config: BenchmarkConfig, report: BuildReport) -> list[np.ndarray]:
    """Cut (T, 17, 3) into contiguous segments that each fit all images once re-centred."""
    if _fits(poses_mm, cameras, config.image_margin_px):
        return [_recentre(poses_mm)]
    segments, start, total = [], 0, len(poses_mm)
    while start < total:
        if not _fits(poses_mm[start:start + 1], cameras, config.image_margin_px):
            report.dropped_out_of_view_frames += 1         # a pose that fits no image even centred
            start += 1
            continue
        # grow the segment: double its length while it fits, then binary-search the largest end
        good, step = start + 1, 1
        while good < total and _fits(poses_mm[start:min(start + 2 * step, total)], cameras, config.image_margin_px):
            good, step = min(start + 2 * step, total), 2 * step
        bad = min(start + 2 * step, total + 1)
        while bad - good > 1:
            middle = (good + bad) // 2
            if _fits(poses_mm[start:middle], cameras, config.image_margin_px):
                good = middle
            else:
                bad = middle
        segments.append(_recentre(poses_mm[start:good]))
        start = good
    report.out_of_view_cuts += len(segments) - 1
    return segments


@dataclass
class Benchmark:
    """A built benchmark in memory (torch tensors).

    Attributes:
        poses_3d_world: (N, 17, 3) mm, world frame (Z up), frames of all clips concatenated.
        keypoints_2d: {"gt": (C, N, 17, 2) px, "noisy": (C, N, 17, 2) px} for the C = 4 cameras.
        confidence: {"gt": (C, N, 17) ones, "noisy": (C, N, 17)}.
        clip_index: (N,) int64 clip of each frame; frame_in_clip: (N,) int64.
        clips: list of dicts (name, source, subject, action, split, start, length).
        cameras: the C cameras.
        fps, version, config (dict).
    """

    poses_3d_world: torch.Tensor
    keypoints_2d: dict
    confidence: dict
    clip_index: torch.Tensor
    frame_in_clip: torch.Tensor
    clips: list
    cameras: list
    fps: float
    version: str
    config: dict

    @property
    def num_frames(self) -> int:
        return self.poses_3d_world.shape[0]

    def frame_mask(self, split: str) -> torch.Tensor:
        """(N,) bool: frames of ``split``: "train", "test", "all", or the training people divided for
        choices, "fit" (training people but :data:`VALIDATION_SUBJECTS`) and "val" (those)."""
        if split == "all":
            return torch.ones(self.num_frames, dtype=torch.bool)
        if split not in SPLITS:
            raise PoseliftError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        base = "test" if split == "test" else "train"
        clip_in_split = torch.tensor([
            clip["split"] == base and (split in ("train", "test") or
                                       (clip["subject"] in VALIDATION_SUBJECTS) == (split == "val"))
            for clip in self.clips])
        return clip_in_split[self.clip_index]

    def actions(self) -> list[str]:
        """Action name of every frame (N,)."""
        names = [clip["action"] for clip in self.clips]
        return [names[i] for i in self.clip_index.tolist()]

    def noise_config(self) -> DetectorNoiseConfig:
        """The detector noise model the benchmark was built with."""
        stored = self.config.get("noise", {})
        return DetectorNoiseConfig(**{key: tuple(value) if isinstance(value, list) else value
                                      for key, value in stored.items()})

    def poses_3d_camera(self, camera_index: int, frames=slice(None)) -> torch.Tensor:
        """(n, 17, 3) mm in camera ``camera_index``'s frame (not root-relative)."""
        return self.cameras[camera_index].world_to_camera(self.poses_3d_world[frames])


def build_benchmark(source_dir: str | Path, config: BenchmarkConfig = BenchmarkConfig(), progress=None):
    """Build the benchmark from the shared data folder.

    Returns:
        ``(arrays, report)``: a dict of NumPy arrays ready for :func:`save_benchmark` and a
        :class:`BuildReport`.
    """
    source_dir = Path(source_dir)
    cameras = h36m_rig()
    report = BuildReport()
    clip_poses, clip_rows = [], []
    for source_clip in _iter_source_clips(source_dir, config):
        if progress is not None:
            progress(source_clip.name)
        report.source_clips += 1
        report.source_seconds += len(source_clip.poses_world_mm) / source_clip.fps
        floor = source_clip.lowest_body_z_mm if config.floor == "body" else source_clip.lowest_z_mm
        grounded = source_clip.poses_world_mm - np.array([0.0, 0.0, floor])
        for piece in _cut_at_glitches(grounded, source_clip.fps, config, report):
            resampled = _resample(piece, source_clip.fps, config.fps)
            for segment in _split_into_views(resampled, cameras, config, report):
                if len(segment) < config.min_segment_frames:
                    report.dropped_short_segments_frames += len(segment)
                    continue
                clip_rows.append(dict(name=f"{source_clip.name}#{len(clip_rows)}", source=source_clip.source,
                                      subject=source_clip.subject, action=source_clip.action,
                                      split=_split_of(source_clip, config)))
                clip_poses.append(segment)
    if not clip_poses:
        raise PoseliftError(f"{source_dir}: no clip survived the benchmark's cuts")

    lengths = np.array([len(poses) for poses in clip_poses])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    poses_world = np.concatenate(clip_poses).astype(np.float64)
    keypoints_gt = np.stack([camera.project_world(poses_world) for camera in cameras])       # (C, N, 17, 2)
    generator = torch.Generator().manual_seed(config.seed)
    noisy, confidence = simulate_detector(torch.from_numpy(keypoints_gt), generator, config.noise,
                                          clip_lengths=lengths.tolist())
    clip_index = np.repeat(np.arange(len(clip_poses)), lengths)
    arrays = dict(
        version=np.array(f"{BENCHMARK_NAME}/{config.version}"),
        config_json=np.array(json.dumps(asdict(config))),
        cameras_json=np.array(json.dumps([camera.to_dict() for camera in cameras])),
        fps=np.array(config.fps),
        poses_3d_world=poses_world.astype(np.float32),
        keypoints_2d_gt=keypoints_gt.astype(np.float32),
        keypoints_2d_noisy=noisy.numpy().astype(np.float32),
        confidence_noisy=confidence.numpy().astype(np.float32),
        clip_index=clip_index.astype(np.int32),
        frame_in_clip=(np.arange(len(poses_world)) - starts[clip_index]).astype(np.int32),
        clip_start=starts.astype(np.int64),
        clip_length=lengths.astype(np.int64),
        **{f"clip_{key}": np.array([row[key] for row in clip_rows])
           for key in ("name", "source", "subject", "action", "split")},
    )
    return arrays, report


def summarise(arrays: dict, report: BuildReport) -> str:
    """A human-readable summary of a built benchmark (subjects, clips, frames, cuts, 2D noise)."""
    lines = [f"benchmark {arrays['version']}  ({float(arrays['fps']):.0f} Hz, 4 cameras)"]
    lines.append(f"sources: {report.source_clips} clips, {report.source_seconds / 60:.1f} min; "
                 f"glitch cuts {report.glitch_cuts} (dropped {report.dropped_short_pieces_s:.2f} s of short pieces); "
                 f"out-of-view cuts {report.out_of_view_cuts} (dropped {report.dropped_out_of_view_frames} frames "
                 f"that fit no image, {report.dropped_short_segments_frames} frames in segments < 10 frames)")
    for split in ("train", "test"):
        clip_mask = arrays["clip_split"] == split
        subjects = sorted(set(arrays["clip_subject"][clip_mask].tolist()))
        frames = int(arrays["clip_length"][clip_mask].sum())
        actions = len(set(arrays["clip_action"][clip_mask].tolist()))
        lines.append(f"{split:5s}: {len(subjects)} subjects ({', '.join(subjects)}), {int(clip_mask.sum())} clips, "
                     f"{actions} actions, {frames} frames ({frames / float(arrays['fps']) / 60:.1f} min) x 4 cameras")
    error = np.linalg.norm(arrays["keypoints_2d_noisy"] - arrays["keypoints_2d_gt"], axis=-1)
    lines.append(f"noisy 2D: mean error {error.mean():.2f} px, median {np.median(error):.2f} px, "
                 f"{(error > 20).mean() * 100:.2f} % of joints > 20 px; mean confidence "
                 f"{arrays['confidence_noisy'].mean():.3f}")
    return "\n".join(lines)


def save_benchmark(path: str | Path, arrays: dict) -> None:
    """Write the arrays as one uncompressed ``.npz`` (atomic)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_benchmark(path: str | Path) -> Benchmark:
    """Read a benchmark written by :func:`save_benchmark`."""
    path = Path(path)
    if not path.exists():
        raise PoseliftError(f"{path}: no such benchmark file (build it with `poselift data build`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise FormatError(path, f"not a poselift benchmark npz ({error})") from None
    required = ("version", "poses_3d_world", "keypoints_2d_gt", "keypoints_2d_noisy", "confidence_noisy",
                "clip_index", "cameras_json")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise FormatError(path, f"missing fields {missing}; not a poselift benchmark")
    version = str(arrays["version"])
    name, _, number = version.partition("/")
    if name != BENCHMARK_NAME or number not in BENCHMARK_VERSIONS:
        raise FormatError(path, f"benchmark version {version!r}; this poselift reads "
                                f"{', '.join(f'{BENCHMARK_NAME}/{known}' for known in BENCHMARK_VERSIONS)}")
    clip_keys = ("name", "source", "subject", "action", "split")
    clips = [dict(zip(clip_keys, values), start=int(start), length=int(length))
             for *values, start, length in zip(*(arrays[f"clip_{key}"].tolist() for key in clip_keys),
                                                arrays["clip_start"], arrays["clip_length"])]
    keypoints_gt = torch.from_numpy(arrays["keypoints_2d_gt"])
    return Benchmark(
        poses_3d_world=torch.from_numpy(arrays["poses_3d_world"]),
        keypoints_2d={"gt": keypoints_gt, "noisy": torch.from_numpy(arrays["keypoints_2d_noisy"])},
        confidence={"gt": torch.ones(keypoints_gt.shape[:-1]), "noisy": torch.from_numpy(arrays["confidence_noisy"])},
        clip_index=torch.from_numpy(arrays["clip_index"]).long(),
        frame_in_clip=torch.from_numpy(arrays["frame_in_clip"]).long(),
        clips=clips,
        cameras=[Camera.from_dict(entry) for entry in json.loads(str(arrays["cameras_json"]))],
        fps=float(arrays["fps"]),
        version=version,
        config=json.loads(str(arrays["config_json"])),
    )
