"""Left/right swaps of MediaPipe on Pose2Sim's four calibrated videos: how many frames are on the wrong
side before and after poselift's fixes, against a robust 4-view triangulation.

- **Reference** (independent of the code it checks): per frame and limb group (arms, legs, head of
  :func:`poselift.swaps.limb_groups`), every relative labelling of the four views (2^3 = 8: which
  views' left/right to exchange) is triangulated (confidence-weighted DLT); the one whose median
  over views of the re-projection error (in each view's person sizes) is smallest wins, turned so
  that most views keep their labels. A view's labels of a group are on the *wrong side* in a frame
  when the other labelling fits the reference clearly better: closer by more than 2 % of the
  person's size and by more than half (where the two sides overlap in the image, neither counts).
- **Single view** (:func:`poselift.swaps.undo_swaps`, what ``poselift video`` and ``lift`` do to
  each track): wrong-side frames before and after, frames changed, and frames changed that were
  not wrong (harm).
- **Multi-view** (:func:`poselift.view_check.check_views`, what the triangulation of ``poselift
  video --calibration`` does): frames swapped back and left out per view, wrong-side frames left,
  and the distance (mm) of the plain and the checked triangulation from the reference.
- **Lifted** (:func:`poselift.pipeline.lift_track`, the default model): each view's MPJPE against
  the reference (root-aligned, world frame) without and with the swap fix.
- **Simulated** (``--benchmark``, the small committed benchmark by default): the noisy 2D of its real
  motion capture, whose noise model swaps an arm or a leg for single frames; swaps found and found
  falsely per switch penalty.

    python benchmarks/video_swaps.py [--data ../shared/data/pose2sim] [--cache DIR] [--out benchmarks/results/video_swaps]

MediaPipe runs once per video (``--cache DIR`` keeps its tracks as ``<video>_mediapipe33.json``).
Prints a table and writes ``pose2sim.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pose2sim"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
WRONG_MARGIN = 0.02            # person sizes: "clearly better" (and by more than half)
LIMB_GROUPS = ("arms", "legs")


def detections(data: Path, cache: Path | None) -> list:
    """MediaPipe's track of the largest person in every video (read from ``cache`` when there)."""
    from poselift.io.poselift_format import read_keypoints_2d, write_keypoints_2d
    from poselift.video.tracking import detect_video

    tracks = []
    for camera in CAMERAS:
        cached = cache / f"{camera}_mediapipe33.json" if cache else None
        if cached and cached.is_file():
            tracks.append(read_keypoints_2d(cached))
            continue
        track, _ = detect_video(data / "videos" / f"{camera}.mp4", "largest", None, False)
        if cached:
            cache.mkdir(parents=True, exist_ok=True)
            write_keypoints_2d(cached, track)
        tracks.append(track)
    return tracks


def group_states(points_px: np.ndarray, confidence: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The group's joints (V, T, 2, 2P, 2) and weights (V, T, 2, 2P) as labelled (0) and exchanged (1),
    and the joint order of each state (2, 2P)."""
    left, right = np.array(pairs).T
    order = np.stack([np.concatenate([left, right]), np.concatenate([right, left])])
    positions, weights = points_px[:, :, order], confidence[:, :, order]
    seen = np.isfinite(positions).all(-1) & (weights > 0)
    return np.where(seen[..., None], positions, np.nan), np.where(seen, weights, 0.0), order


def errors_to(points_3d: np.ndarray, cameras, positions: np.ndarray, weights: np.ndarray, sizes) -> np.ndarray:
    """(V, T, 2): confidence-weighted mean distance (person sizes) of each view's labelling to the 3D."""
    result = []
    for view, camera in enumerate(cameras):
        projected = np.asarray(camera.project_world(points_3d), np.float64)        # (T, 2P, 2)
        distance = np.linalg.norm(projected[:, None] - positions[view], axis=-1)   # (T, 2, 2P)
        weight = np.where(np.isfinite(distance), weights[view], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (weight * np.nan_to_num(distance)).sum(-1) / weight.sum(-1)
        result.append(mean / sizes[view])
    return np.stack(result)


def reference(points_px, confidence, cameras, groups, sizes):
    """Per group: (reference labelling (V, T) bool, reference 3D of the group (T, 2P, 3)), by exhaustive search."""
    from poselift.camera import triangulate_dlt

    views, frames = points_px.shape[:2]
    found = {}
    for group, pairs in groups.items():
        positions, weights, _ = group_states(points_px, confidence, pairs)
        best_score, best_labels, best_3d = np.full(frames, np.inf), None, None
        for labels in itertools.product((0, 1), repeat=views - 1):
            labels = np.array((0,) + labels)
            chosen = positions[np.arange(views), :, labels]                        # (V, T, 2P, 2)
            chosen_weights = weights[np.arange(views), :, labels]
            points_3d = np.asarray(triangulate_dlt(np.nan_to_num(chosen), cameras, chosen_weights), np.float64)
            errors = errors_to(points_3d, cameras, positions, weights, sizes)      # (V, T, 2)
            own = errors[np.arange(views), :, labels]                             # (V, T)
            score = np.nan_to_num(np.nanmedian(np.where(np.isfinite(own), own, np.nan), axis=0), nan=np.inf)
            better = score < best_score
            if best_labels is None:
                best_labels, best_3d = np.zeros((views, frames), bool), np.full_like(points_3d, np.nan)
            best_score[better] = score[better]
            best_labels[:, better] = labels[:, None].astype(bool)
            best_3d[better] = points_3d[better]
        flip = best_labels.sum(0) * 2 > views          # most views keep their labels
        best_labels[:, flip] = ~best_labels[:, flip]
        mirrored = best_3d.copy()
        half = len(pairs)
        mirrored[:, :half], mirrored[:, half:] = best_3d[:, half:], best_3d[:, :half]
        best_3d[flip] = mirrored[flip]
        found[group] = (best_labels, best_3d)
    return found


def with_labels(points_px, confidence, groups, labels) -> tuple[np.ndarray, np.ndarray]:
    """Copies of (V, T, J, 2) points and (V, T, J) confidence with each group's pairs exchanged where
    ``labels[group]`` (V, T) is True."""
    from poselift.swaps import swap_pairs

    points_px, confidence = points_px.copy(), confidence.copy()
    for group, pairs in groups.items():
        for view in range(len(points_px)):
            points_px[view], confidence[view] = swap_pairs(points_px[view], confidence[view], pairs,
                                                           labels[group][view])
    return points_px, confidence


def wrong_side(points_px, confidence, cameras, groups, sizes, ref) -> dict[str, np.ndarray]:
    """Per group, (V, T) bool: the tracks' labels clearly on the wrong side of the reference."""
    wrong = {}
    for group, pairs in groups.items():
        positions, weights, _ = group_states(points_px, confidence, pairs)
        errors = errors_to(ref[group][1], cameras, positions, weights, sizes)      # (V, T, 2)
        keep, swap = errors[..., 0], errors[..., 1]
        wrong[group] = np.nan_to_num(swap < np.minimum(keep - WRONG_MARGIN, keep / 2), nan=False).astype(bool)
    return wrong


def limb_frames(flags: dict[str, np.ndarray]) -> np.ndarray:
    """(V, T) bool: arms or legs flagged."""
    return np.logical_or.reduce([flags[group] for group in LIMB_GROUPS if group in flags])


def simulated_swaps(benchmark: Path, penalties=(0.01, 0.02, 0.05, 0.1)) -> list[dict]:
    """:func:`poselift.swaps.find_swaps` on a benchmark's noisy 2D (each clip and camera a track), whose
    noise model swaps an arm or a leg for single frames: per switch penalty, limb-frames truly
    swapped (closer to the exact 2D with left and right exchanged), found and found falsely."""
    from poselift.data.benchmark import load_benchmark
    from poselift.swaps import find_swaps, limb_groups

    data = load_benchmark(benchmark)
    exact, noisy = data.keypoints_2d["gt"].numpy(), data.keypoints_2d["noisy"].numpy()
    confidence, clips = data.confidence["noisy"].numpy(), data.clip_index.numpy()
    groups = limb_groups("h36m17")
    rows = []
    for penalty in penalties:
        swapped = found = false = 0
        for clip in np.unique(clips):
            frames = np.flatnonzero(clips == clip)
            for camera in range(len(noisy)):
                track, truth_2d = noisy[camera, frames], exact[camera, frames]
                flags = find_swaps(track, confidence[camera, frames], "h36m17", switch_penalty=penalty)
                for group, pairs in groups.items():
                    left, right = np.array(pairs).T
                    labelled = track[:, np.r_[left, right]]
                    as_labelled = np.linalg.norm(labelled - truth_2d[:, np.r_[left, right]], axis=-1)
                    exchanged = np.linalg.norm(labelled - truth_2d[:, np.r_[right, left]], axis=-1)
                    truth = exchanged.mean(1) < as_labelled.mean(1)
                    swapped += int(truth.sum())
                    found += int((truth & flags[group]).sum())
                    false += int((~truth & flags[group]).sum())
        rows.append({"switch_penalty": penalty, "limb_frames_swapped": swapped, "found": found, "false": false,
                     "frames": int(len(clips) * len(noisy))})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Pose2Sim's demo (videos/, Calib.qca.txt)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for MediaPipe's tracks (read if there)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video_swaps")
    parser.add_argument("--no-lift", action="store_true", help="skip the lifted comparison (no model run)")
    parser.add_argument("--benchmark", type=Path, default=ROOT / "tests" / "fixtures" / "benchmark_small.npz",
                        help="a poselift benchmark whose noisy 2D (simulated swaps) is searched too")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from poselift.camera import triangulate_dlt
    from poselift.multiview import cameras_for_videos, lifted_to_world, view_agreement
    from poselift.skeleton import to_h36m17
    from poselift.swaps import find_swaps, frame_ranges, limb_groups, person_size, undo_swaps
    from poselift.video.reading import probe_video
    from poselift.view_check import check_views

    tracks = detections(args.data, args.cache)
    cameras, _ = cameras_for_videos(args.data / "Calib.qca.txt",
                                    [probe_video(args.data / "videos" / f"{camera}.mp4") for camera in CAMERAS])
    frames = min(track.num_frames for track in tracks)
    raw = np.stack([track.keypoints_2d[:frames] for track in tracks]).astype(np.float64)
    confidence = np.stack([track.confidence[:frames] for track in tracks]).astype(np.float64)
    groups = limb_groups("mediapipe33")
    sizes = np.array([person_size(raw[view], confidence[view]) for view in range(len(CAMERAS))])
    ref = reference(raw, confidence, cameras, groups, sizes)

    fixed_tracks = [undo_swaps(track)[0] for track in tracks]
    single = {camera: find_swaps(track.keypoints_2d, track.confidence, track.layout)
              for camera, track in zip(CAMERAS, tracks)}
    fixed = np.stack([track.keypoints_2d[:frames] for track in fixed_tracks]).astype(np.float64)
    fixed_confidence = np.stack([track.confidence[:frames] for track in fixed_tracks]).astype(np.float64)
    checked_raw, checked_raw_confidence, check_raw = check_views(raw, confidence, cameras, "mediapipe33")
    checked, checked_confidence, check = check_views(fixed, fixed_confidence, cameras, "mediapipe33")

    wrong_before = wrong_side(raw, confidence, cameras, groups, sizes, ref)
    wrong_single = wrong_side(fixed, fixed_confidence, cameras, groups, sizes, ref)
    wrong_multi = wrong_side(checked_raw, checked_raw_confidence, cameras, groups, sizes, ref)
    before, after_single, after_multi = (limb_frames(flags) for flags in (wrong_before, wrong_single, wrong_multi))
    changed = np.stack([np.logical_or.reduce([single[camera][group][:frames] for group in LIMB_GROUPS])
                        for camera in CAMERAS])
    harmed = limb_frames({group: wrong_single[group] & ~wrong_before[group] for group in groups})

    def h36m(points, weights):
        landmarks = np.asarray(triangulate_dlt(points, cameras, weights), np.float64)
        return to_h36m17(landmarks, None, "mediapipe33")[0]

    reference_labels = {group: ref[group][0] for group in groups}
    reference_points, reference_weights = with_labels(raw, confidence, groups, reference_labels)
    poses_reference = h36m(reference_points, reference_weights)
    poses_plain = h36m(raw, confidence)
    poses_checked = h36m(checked_raw, checked_raw_confidence)
    poses_pipeline = h36m(checked, checked_confidence)

    def distance_mm(poses):
        per_frame = np.linalg.norm(poses - poses_reference, axis=-1).mean(-1)
        return {"mean": round(float(np.nanmean(per_frame)), 1), "max": round(float(np.nanmax(per_frame)), 1)}

    lifted = {}
    if not args.no_lift:
        from poselift.lift import load_model
        from poselift.pipeline import lift_track

        model = load_model("pose")            # the per-pose model: the default when these numbers were made
        for view, (camera, track) in enumerate(zip(CAMERAS, tracks)):
            lifted[camera] = {}
            for name, swap_fix in (("raw", False), ("swap_fix", True)):
                with tempfile.TemporaryDirectory() as folder:
                    result = lift_track(track, model, "pose", Path(folder), source=f"{camera}.mp4",
                                        fps=track.fps, animation=False, swap_fix=swap_fix)
                world = lifted_to_world(result.poses.poses_3d[:frames].astype(np.float64), cameras[view],
                                        poses_reference[:, 0])
                agreement = view_agreement(world, poses_reference)
                lifted[camera][name] = {"mpjpe_mm": round(agreement["mpjpe_mm"], 1),
                                        "p_mpjpe_mm": round(agreement["p_mpjpe_mm"], 1)}

    rows = []
    for view, camera in enumerate(CAMERAS):
        rows.append({
            "camera": camera,
            "wrong_side_frames_before": int(before[view].sum()),
            "wrong_side_frames_before_ranges": frame_ranges(before[view]),
            "single_view_frames_changed": int(changed[view].sum()),
            "single_view_changed_ranges": {group: frame_ranges(single[camera][group]) for group in groups},
            "wrong_side_frames_after_single_view": int(after_single[view].sum()),
            "wrong_side_after_single_view_ranges": frame_ranges(after_single[view]),
            "frames_made_wrong_by_single_view": int(harmed[view].sum()),
            "multiview_check_of_raw_tracks": check_raw.view_counts(view),
            "wrong_side_frames_after_multiview_check_of_raw": int(after_multi[view].sum()),
            "multiview_check_after_single_view": check.view_counts(view),
            "head_wrong_side_frames_before": int(wrong_before["head"][view].sum()),
            "lifted": lifted.get(camera),
        })
    report = {
        "data": str(args.data), "frames": frames, "person_size_px": [round(float(size)) for size in sizes],
        "reference": "per frame and group, the best of the 8 relative labellings of the 4 views (median "
                     "re-projection error over views), turned so that most views keep their labels",
        "wrong_side": f"the other labelling closer to the reference by > {WRONG_MARGIN:g} person sizes and by > half; "
                      "a frame counts when the arms or the legs are on the wrong side",
        "views": rows,
        "triangulation_vs_reference_mm": {"plain_dlt_raw": distance_mm(poses_plain),
                                          "checked_raw": distance_mm(poses_checked),
                                          "pipeline_swap_fix_then_checked": distance_mm(poses_pipeline)},
        "simulated_swaps": {"benchmark": str(args.benchmark), "by_switch_penalty": simulated_swaps(args.benchmark)},
        "machine": platform.processor() or platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pose2sim.json").write_text(json.dumps(report, indent=1) + "\n")

    print("| view | wrong-side frames before | single view: changed | wrong after | made wrong | "
          "multi-view on raw: swapped back / left out | wrong after | lifted MPJPE raw -> fixed (mm) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        check_counts = row["multiview_check_of_raw_tracks"]
        lift_text = (f"{row['lifted']['raw']['mpjpe_mm']:.0f} -> {row['lifted']['swap_fix']['mpjpe_mm']:.0f}"
                     if row["lifted"] else "")
        print(f"| {row['camera']} | {row['wrong_side_frames_before']} ({row['wrong_side_frames_before_ranges']}) | "
              f"{row['single_view_frames_changed']} | {row['wrong_side_frames_after_single_view']} | "
              f"{row['frames_made_wrong_by_single_view']} | {check_counts['frames_swapped']} / "
              f"{check_counts['frames_rejected']} | {row['wrong_side_frames_after_multiview_check_of_raw']} | "
              f"{lift_text} |")
    distances = report["triangulation_vs_reference_mm"]
    print("triangulation vs the reference, mean (max) per-frame joint distance: " + "; ".join(
        f"{name} {value['mean']} ({value['max']}) mm" for name, value in distances.items()))
    print(f"{args.benchmark.name}, noisy 2D (one-frame limb swaps simulated), switch penalty -> found / swapped, "
          "false: " + "; ".join(f"{row['switch_penalty']:g} -> {row['found']} / {row['limb_frames_swapped']}, "
                               f"{row['false']}" for row in report["simulated_swaps"]["by_switch_penalty"])
          + f" (limb-frames of {report['simulated_swaps']['by_switch_penalty'][0]['frames']} frames x 2 limbs)")
    print(f"wrote {args.out / 'pose2sim.json'}")


if __name__ == "__main__":
    main()
