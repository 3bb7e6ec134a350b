"""The README's results tables, assembled from the committed results JSON of every benchmark.

Each function takes ``benchmarks/results`` and prints one markdown table; ``benchmarks/report.py``
puts them into the README between their markers. Every row names its page, where the command that
made its JSON is given; nothing here is measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from sweep import mean_std


def _load(results: Path, name: str) -> dict:
    return json.loads((results / name).read_text())


def _averages(evaluation: dict) -> dict:
    return evaluation["averages"]["mean_over_actions"]


def print_models(results: Path) -> None:
    """Absolute test-split errors of the baseline and the shipped models."""
    baseline = _load(results, "baseline/summary.json")
    print("| model | 2D input | P#1 MPJPE mm | P#2 P-MPJPE mm | page |\n|---|---|---|---|---|")
    for input_name, row in baseline["results"]["headline"].items():
        label = "`gt`" if input_name == "gt" else f"`noisy` ({row['mean_2d_input_error_px']:.1f} px)"
        print(f"| Martinez baseline, converged schedule ({baseline['epochs']} epochs of batch "
              f"{baseline['batch_size']}), 3 seeds | {label} | {mean_std(row['mpjpe'])} | {mean_std(row['p_mpjpe'])} "
              f"| [docs/baseline.md](docs/baseline.md) |")
    for name, model, page in (
            ("temporal", "shipped default model for time series (`temporal`, T = 5: reads the camera; random "
                         "cameras in training)", "docs/temporal.md"),
            ("camera", "shipped default model for single frames (`camera`: reads the camera; random cameras in "
                       "training)", "docs/default_model.md"),
            ("pose", "shipped per-pose model (`pose`: for inputs without a camera)", "docs/default_model.md")):
        measured = _load(results, f"default_candidates/{name}.json")            # benchmarks/default_model.py
        for input_name in ("gt", "noisy"):
            row = measured[f"test_{input_name}"]
            print(f"| {model} | `{input_name}` | {row['mpjpe']:.1f} | {row['p_mpjpe']:.1f} | [{page}]({page}) |")


def print_comparisons(results: Path) -> None:
    """Each method against the baseline trained the same way (3 seeds, short CPU schedules)."""
    print("| comparison | 2D input | baseline mm | method mm | method / baseline |\n|---|---|---|---|---|")
    siamese = _load(results, "siamese/summary.json")
    for input_name, rows in siamese["results"]["headline"].items():
        what = (f"siamese, cross-camera Protocol #3 MPJPE (camera 3 never seen), {siamese['epochs']} epochs batch "
                f"{siamese['batch_size']}" if input_name == "gt" else "siamese, same")
        print(f"| {what} | `{input_name}` | {mean_std(rows['baseline']['mpjpe'])} | "
              f"{mean_std(rows['siamese']['mpjpe'])} | {rows['siamese / baseline']['mpjpe']:.2f} |")
    temporal = _load(results, "temporal/summary.json")
    for section, what in (("headline", f"temporal (paper config), P#1, {temporal['epochs']} epochs batch "
                                       f"{temporal['batch_size']}"),
                          ("variant", "temporal without dropout, P#1, same schedule")):
        rows = temporal["results"][section]["noisy"]
        print(f"| {what} | `noisy` | {mean_std(rows['baseline']['mpjpe'])} | {mean_std(rows['temporal']['mpjpe'])} "
              f"| {rows['temporal / baseline']['mpjpe']:.2f} |")
    selfsup = _load(results, "selfsup/summary.json")
    width = selfsup["selfsup_config"].get("hidden_size")
    for input_name, rows in selfsup["results"]["headline"].items():
        what = (f"self-supervised (no 3D label), P#1, 4 views, {selfsup['epochs']} epochs batch "
                f"{selfsup['batch_size']}, both {width} wide" if input_name == "gt" else "self-supervised, same")
        print(f"| {what} | `{input_name}` | {mean_std(rows['baseline (supervised)']['mpjpe'])} | "
              f"{mean_std(rows['selfsup, L_reproj + lambda L_t-reproj']['mpjpe'])} | "
              f"{rows['selfsup / baseline']['mpjpe']:.2f} |")


def print_retrieval(results: Path) -> None:
    """V-VIPE's cross-view Hit@k against the 2D-keypoint nearest neighbour."""
    hits = _load(results, "vvipe/summary.json")["results"]["hits"]
    print("| method | 2D input | Hit@1 % | Hit@10 % | Hit@20 % |\n|---|---|---|---|---|")
    for input_name in ("gt", "noisy"):
        for method, label in (("2D keypoints", "nearest neighbour on normalised 2D keypoints"),
                              ("V-VIPE", "V-VIPE, 3 seeds")):
            row = hits[input_name][method]
            print(f"| {label} | `{input_name}` | "
                  + " | ".join(mean_std(row[f"hit@{k}"]) for k in (1, 10, 20)) + " |")
