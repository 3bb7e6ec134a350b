"""V-VIPE (Levy & Shrivastava): cross-view retrieval (Hit@k), lifting error, search speed and pictures.

Every model is trained by the shared recipe (``poselift train KIND``) with one schedule (epochs, batch
size, learning rate and its 48 decays, frame stride, seed) on all four cameras: stage 1 ``vvipe_vae``
(3D only, so one per seed serves both 2D inputs), then stage 2 ``vvipe`` on ``gt`` or ``noisy`` 2D,
built on the stage-1 run of its seed (``noisy`` runs also film their augmented half through the
simulated detector). Sections (``--sections``):

- ``hits``: Hit@1/10/20 on the test split, every ordered pair of the four cameras, after near-duplicate
  poses are removed (``shared/benchmark.md``: normalised, aligned 3D within 0.02; a hit: within 0.1),
  ``gt`` and ``noisy`` 2D, ``--seeds``; next to the paper's baselines measured the same way: the
  nearest neighbour on the normalised 2D keypoints (root-centred, unit size) and the 2D mapping
  trained without the triplet loss (``--no-triplet-seeds``). Paper (H36M): ground truth 89.7 / 98.8
  / 99.4 against 28.7 / 47.1 / 50.9 for 2D keypoints; detections 70.0 / 92.7 / 95.6; without the
  triplet loss Hit@1 falls 6.1.
- ``lifting``: the decoded 3D of every test frame x 4 cameras (``--lift-stride``): MPJPE against the
  canonicalised ground truth (the model's output frame, mean body size) and P-MPJPE, averaged per
  action then over actions (paper: 62.1 mm from detections).
- ``kl``: the KL weight of stage 1 (not usable as the paper prints it, see ``PoseVaeConfig``): for each
  of ``--kl-weights``, the stage-1 reconstruction error and KL on the test poses and the Hit@k of
  its stage 2 (``--ablation-input``, first seed).
- ``triplet``: the weight of the stage-2 triplet term (the paper adds it with weight 1 to an MSE of
  unstated unit): Hit@k and the decoded 3D error for each of ``--triplet-weights``
  (``--ablation-input``, first seed). Both ablations read the test split: they describe the method,
  they do not choose what the headline rows use.
- ``speed``: exact k-nearest-neighbour search (:func:`poselift.retrieval.nearest_neighbors`, k = 20,
  32-d) in an index of ``--index-size`` (10^6) entries: queries/s on this CPU (``--threads``) and on
  CUDA when present.
- ``figures``: a test pose and its variations ``z + a n`` for two random directions n and a = 0.2 ...
  0.5 (paper Figure 7), and the test embeddings projected on their first two principal components,
  coloured by action (the paper shows t-SNE; scikit-learn is not a dependency, PCA by torch's SVD);
  PNGs in ``--figures`` (default ``OUT/``).

    python benchmarks/vvipe_accuracy.py --data benchmark.npz --out benchmarks/results/vvipe \\
        --epochs 20 --frame-stride 5 --threads 1 --figures docs/images
    python benchmarks/vvipe_accuracy.py --data benchmark.npz --out /tmp/vvipe_quick --quick

``--quick`` is a smoke test of the whole pipeline (tiny widths, 30 steps, one seed, a tenth of the test
frames, 10^5 index entries): its numbers say nothing about the method. The deduplicated test set and
its (F, F) answer matrix are cached in ``OUT/test_set_stride<k>.npz`` (a few minutes to compute at
stride 1); runs and their evaluations are cached under ``OUT/runs``, so an interrupted sweep can simply
be rerun. Results: ``OUT/summary.json`` (every table).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sweep import Sweep, add_sweep_arguments, mean_std, open_sweep, over_seeds
from sweep import print_sections, run_sections, spec, summary_header

from poselift.encoding import normalize_pose_3d, scale_normalize_2d
from poselift.fileio import atomic_path, write_text_atomic
from poselift.geometry import canonicalize
from poselift.hit_at_k_protocol import (aligned_pose_errors, cross_view_hit_at_k, pose_match_matrix,
                                        remove_near_duplicates)
from poselift.lift import load_model
from poselift.metrics import mean_by_group, mpjpe, p_mpjpe
from poselift.models.vvipe import PoseVaeConfig, VvipeConfig
from poselift.retrieval import nearest_neighbors

KS = (1, 10, 20)
HIT_METRICS = tuple(f"hit@{k}" for k in KS)
LIFT_METRICS = ("mpjpe_canonical", "p_mpjpe")
PAPER_HITS = {"gt": {"V-VIPE": (89.7, 98.8, 99.4), "2D keypoints": (28.7, 47.1, 50.9)},
              "noisy": {"V-VIPE": (70.0, 92.7, 95.6)}}
PAPER_LIFT_MPJPE_MM = 62.1
NEAR_DUPLICATE, HIT_THRESHOLD = 0.02, 0.1


class VvipeSweep(Sweep):
    """A :class:`Sweep` whose stage-2 (``vvipe``) runs build on the stage-1 run of their seed.

    The stage-1 run (:meth:`vae_spec`) is trained first and its checkpoint handed to the stage-2
    config. A stage-2 run that names ``pose_vae_kl_weight`` in its config (the ``kl`` section) builds on
    the stage-1 run with that KL weight; the name stays in the run's folder name, not in its config.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_kl_weight = self.base_config.get("vvipe_vae", {}).get("kl_weight", PoseVaeConfig().kl_weight)
        self._folder_names: dict = {}

    def vae_spec(self, seed: int, kl_weight: float | None = None, data: dict | None = None):
        """The stage-1 run of ``seed``; ``data``: the stage-2 run's own data options that choose the
        training people (``validation``), so that stage 1 never sees the 3D of held-out people."""
        config = {} if kl_weight is None or kl_weight == self.default_kl_weight else {"kl_weight": kl_weight}
        people = {key: value for key, value in (data or {}).items() if key == "validation"}
        return spec("vvipe_vae", "gt", seed, config, people or None)

    def run_dir(self, run) -> Path:
        return self.out / "runs" / self._folder_names.get(run, run.name)

    def trained(self, run):
        if run.kind != "vvipe":
            return super().trained(run)
        config = dict(run.config)
        vae_dir = super().trained(self.vae_spec(run.seed, config.pop("pose_vae_kl_weight", None), dict(run.data)))
        as_trained = spec(run.kind, run.input, run.seed, config, dict(run.data))
        self._folder_names[as_trained] = run.name
        stage_two = {key: value for key, value in self.base_config.get("vvipe", {}).items() if key != "pose_vae_checkpoint"}
        self.base_config["vvipe"] = {**stage_two, "pose_vae_checkpoint": str(vae_dir / "last.pt")}
        try:
            return super().trained(as_trained)
        finally:
            del self._folder_names[as_trained]


def mapping_spec(input_name: str, seed: int, config: dict | None = None, data: dict | None = None):
    """A stage-2 run; ``noisy`` runs film their augmented views through the simulated detector."""
    config = dict(config or {})
    if input_name == "noisy":
        config.setdefault("augment_detector_noise", True)
    return spec("vvipe", input_name, seed, config, data)


def cached(run_dir: Path, key: str, compute) -> dict:
    """``compute()`` once per run and key, kept in ``run_dir/vvipe_evals.json``."""
    path = run_dir / "vvipe_evals.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    if key not in cache:
        cache[key] = compute()
        write_text_atomic(path, json.dumps(cache, indent=1) + "\n")
    return cache[key]


# ---------------------------------------------------------------------------------------------- test set


def distinct_test_poses(benchmark, out: Path, stride: int, split: str = "test") -> dict:
    """The deduplicated poses of ``split`` ("test", or "val" for choices and learning curves): frames
    (F,), normalised poses (F, J, 3), answers (F, F), statistics; cached in ``out``."""
    path = out / f"{split}_set_stride{stride}.npz"
    frames = torch.nonzero(benchmark.frame_mask(split)).squeeze(1)[::stride]
    normalised, _ = normalize_pose_3d(benchmark.poses_3d_world[frames].double())
    stored = {}
    if path.exists():
        with np.load(path) as data:
            stored = {key: data[key] for key in data.files}
    if str(stored.get("benchmark")) == benchmark.version and int(stored.get("frames", -1)) == len(frames):
        kept = torch.from_numpy(stored["kept"])
        matches = torch.from_numpy(np.unpackbits(stored["matches"], count=len(kept) ** 2).reshape(len(kept), -1) > 0)
        check = json.loads(str(stored["check"]))
    else:
        started = time.time()
        kept = remove_near_duplicates(normalised, NEAR_DUPLICATE)
        check = prefilter_check(normalised)
        matches = pose_match_matrix(normalised[kept], HIT_THRESHOLD)
        check["seconds"] = time.time() - started
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, kept=kept.numpy(), matches=np.packbits(matches.numpy()),
                         check=np.array(json.dumps(check)), benchmark=np.array(benchmark.version),
                         frames=np.array(len(frames)))
    stats = {"test_frames": len(frames), "distinct_poses": len(kept), "stride": stride, "split": split,
             "answers_per_query": float(matches.sum(1).float().mean()), **check}
    return {"frames": frames[kept], "normalised": normalised[kept], "matches": matches, "stats": stats}


def prefilter_check(normalised: torch.Tensor, chunk_size: int = 1024) -> dict:
    """How safe the candidate radius of :func:`remove_near_duplicates` is: among pairs 0.1 - 0.15 apart
    in the canonical frame (RMS), how many are near-duplicates after alignment (expected: none)."""
    flat, scale = normalised.flatten(1), math.sqrt(normalised.shape[1])
    rows, columns = [], []
    for start in range(0, len(flat), chunk_size):
        distance = torch.cdist(flat[start:start + chunk_size], flat) / scale
        row, column = torch.nonzero((distance >= 0.1) & (distance < 0.15), as_tuple=True)
        forward = column > row + start
        rows.append(row[forward] + start)
        columns.append(column[forward])
    errors = aligned_pose_errors(normalised, torch.cat(rows), torch.cat(columns))
    return {"pairs_0.1_to_0.15_canonical": len(errors),
            "near_duplicates_among_them": int((errors < NEAR_DUPLICATE).sum()),
            "smallest_aligned_error_among_them": float(errors.min()) if len(errors) else None}


def camera_views(benchmark, frames: torch.Tensor, input_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """2D keypoints (4, F, J, 2) px and confidences (4, F, J) of the frames seen by the four cameras."""
    return benchmark.keypoints_2d[input_name][:, frames], benchmark.confidence[input_name][:, frames]


def as_percent(hits: dict) -> dict:
    return {f"hit@{k}": 100.0 * rate for k, rate in hits["mean"].items()}


# ---------------------------------------------------------------------------------------------- sections


def model_hits(sweep: Sweep, run, tests: dict, input_name: str) -> dict:
    def compute():
        model = load_model(sweep.trained(run) / "last.pt")
        keypoints, confidence = camera_views(sweep.benchmark, tests["frames"], input_name)
        embeddings = model.embed(keypoints, confidence)
        result = cross_view_hit_at_k(embeddings, tests["matches"], KS)
        return {**as_percent(result), "pairs": {pair: {f"hit@{k}": 100 * rate for k, rate in rates.items()}
                                                for pair, rates in result["pairs"].items()}}
    split = tests["stats"].get("split", "test")
    where = "" if split == "test" else f"{split}+"
    return cached(sweep.trained(run), f"hits+{input_name}+{where}stride{tests['stats']['stride']}", compute)


def keypoint_hits(sweep: Sweep, tests: dict, input_name: str) -> dict:
    """The paper's "2D keypoints" baseline: nearest neighbour on root-centred, unit-size 2D poses."""
    keypoints, confidence = camera_views(sweep.benchmark, tests["frames"], input_name)
    normalised, _, _ = scale_normalize_2d(keypoints, confidence, 0)
    return as_percent(cross_view_hit_at_k(normalised.flatten(-2), tests["matches"], KS))


def hits(sweep: Sweep, args) -> dict:
    tests = distinct_test_poses(sweep.benchmark, args.out, args.test_stride)
    results = {"test_set": tests["stats"]}
    for input_name in args.inputs:
        rows = {"V-VIPE": over_seeds([model_hits(sweep, mapping_spec(input_name, seed), tests, input_name)
                                      for seed in args.seeds], HIT_METRICS),
                "V-VIPE w/o triplet": over_seeds([model_hits(sweep, mapping_spec(input_name, seed, {"triplet_weight": 0.0}),
                                                             tests, input_name)
                                                  for seed in args.no_triplet_seeds or args.seeds], HIT_METRICS),
                "2D keypoints": over_seeds([keypoint_hits(sweep, tests, input_name)], HIT_METRICS)}
        rows["paper"] = {name: dict(zip(HIT_METRICS, values)) for name, values in PAPER_HITS[input_name].items()}
        results[input_name] = rows
    return results


def lifting_errors(sweep: Sweep, run, input_name: str, stride: int) -> dict:
    def compute():
        model = load_model(sweep.trained(run) / "last.pt")
        benchmark = sweep.benchmark
        frames = torch.nonzero(benchmark.frame_mask("test")).squeeze(1)[::stride]
        keypoints, confidence = camera_views(benchmark, frames, input_name)
        lifted = model.lift(keypoints, confidence)                                        # (4, F, J, 3) canonical
        world = benchmark.poses_3d_world[frames]
        canonical = canonicalize(world)[None].expand_as(lifted)
        actions = np.array([benchmark.clips[clip]["action"] for clip in benchmark.clip_index[frames].tolist()] * 4)
        errors = {"mpjpe_canonical": mpjpe(lifted, canonical).flatten(),
                  "p_mpjpe": p_mpjpe(lifted, world[None].expand_as(lifted)).flatten()}
        return {name: mean_by_group(values, actions)[1] for name, values in errors.items()} | \
               {f"{name}_all_frames": float(values.mean()) for name, values in errors.items()}
    return cached(sweep.trained(run), f"lifting+{input_name}+stride{stride}", compute)


def lifting(sweep: Sweep, args) -> dict:
    metrics = LIFT_METRICS + tuple(f"{metric}_all_frames" for metric in LIFT_METRICS)
    results = {}
    for input_name in args.inputs:
        runs = [mapping_spec(input_name, seed) for seed in args.seeds]
        results[input_name] = {**over_seeds([lifting_errors(sweep, run, input_name, args.lift_stride) for run in runs],
                                            metrics), "paper_mpjpe_mm": PAPER_LIFT_MPJPE_MM}
    return results


def reconstruction(sweep: Sweep, run, stride: int) -> dict:
    """Stage 1 on the test poses: reconstruction from the latent mean (mm, each pose at its own size,
    canonical frame) and the KL divergence (nats), means over the poses."""
    from poselift.models.vvipe import kl_divergence

    def compute():
        model = load_model(sweep.trained(run) / "last.pt")
        frames = torch.nonzero(sweep.benchmark.frame_mask("test")).squeeze(1)[::stride]
        poses = sweep.benchmark.poses_3d_world[frames]
        normalised, size = normalize_pose_3d(poses)
        with torch.no_grad():
            mean, log_variance = model.encode(model.normalizer.encode_3d(poses))
            decoded = model.normalizer.decode_3d(model.decode(mean)) / model.normalizer.scale_mm
        error_mm = mpjpe(decoded * size[:, None, None], normalised * size[:, None, None])
        return {"reconstruction_mm": float(error_mm.mean()), "kl_nats": float(kl_divergence(mean, log_variance).mean())}
    return cached(sweep.trained(run), f"reconstruction+stride{stride}", compute)


def kl(sweep: Sweep, args) -> dict:
    tests = distinct_test_poses(sweep.benchmark, args.out, args.test_stride)
    seed, results = args.seeds[0], {}
    for weight in args.kl_weights:
        tag = {} if weight == sweep.default_kl_weight else {"pose_vae_kl_weight": weight}   # the default: the main runs
        mapping = mapping_spec(args.ablation_input, seed, tag)
        results[f"{weight:g}"] = {**reconstruction(sweep, sweep.vae_spec(seed, weight), args.test_stride),
                                  **model_hits(sweep, mapping, tests, args.ablation_input)}
        results[f"{weight:g}"].pop("pairs")
    return {"input": args.ablation_input, "seed": seed, "weights": results}


def triplet(sweep: Sweep, args) -> dict:
    tests = distinct_test_poses(sweep.benchmark, args.out, args.test_stride)
    seed, results = args.seeds[0], {}
    default = sweep.base_config["vvipe"].get("triplet_weight", VvipeConfig().triplet_weight)
    for weight in args.triplet_weights:
        run = mapping_spec(args.ablation_input, seed, {} if weight == default else {"triplet_weight": weight})
        row = {**model_hits(sweep, run, tests, args.ablation_input),
               **lifting_errors(sweep, run, args.ablation_input, args.lift_stride)}
        row.pop("pairs")
        results[f"{weight:g}"] = row
    return {"input": args.ablation_input, "seed": seed, "weights": results}


def speed(sweep: Sweep, args) -> dict:
    generator = torch.Generator().manual_seed(0)
    index = torch.randn(args.index_size, 32, generator=generator)
    results = {"index_size": args.index_size, "k": 20, "dim": 32}
    devices = [("cpu", args.speed_queries)] + ([("cuda", 16 * args.speed_queries)] if torch.cuda.is_available() else [])
    for device, count in devices:
        on_device = index.to(device)
        queries = torch.randn(count, 32, generator=generator).to(device)
        nearest_neighbors(queries[:64], on_device, 20)                              # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        nearest_neighbors(queries, on_device, 20)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        name = f"cpu ({torch.get_num_threads()} threads)" if device == "cpu" else torch.cuda.get_device_name()
        results[name] = {"queries": count, "seconds": seconds, "queries_per_s": count / seconds}
    return results


def figures(sweep: Sweep, args) -> dict:
    from poselift.generation import canonical_to_view, decode_along
    from poselift.viz import save_pose_grid

    folder = args.figures or args.out
    model = load_model(sweep.trained(mapping_spec("gt", args.seeds[0])) / "last.pt")
    tests = distinct_test_poses(sweep.benchmark, args.out, args.test_stride)
    frame = tests["frames"][len(tests["frames"]) // 3]
    latent = model.embed_3d(sweep.benchmark.poses_3d_world[frame][None])[0]
    scales = [0.0, 0.2, 0.3, 0.4, 0.5]
    directions = torch.randn(2, latent.shape[0], generator=torch.Generator().manual_seed(1))
    poses = decode_along(model, latent, directions, scales)
    titles = [[("decoded test pose" if a == 0 else f"a = {a:g}, direction {row + 1}") for a in scales] for row in range(2)]
    generation_png = save_pose_grid(folder / "vvipe_generation.png", canonical_to_view(poses), titles,
                                    title="V-VIPE generation: decode(z + a n), canonical frame, mean body size")
    keypoints, confidence = camera_views(sweep.benchmark, tests["frames"], "gt")
    actions = [sweep.benchmark.clips[clip]["action"] for clip in sweep.benchmark.clip_index[tests["frames"]].tolist()]
    embedding_png = save_embedding_plot(folder / "vvipe_embeddings.png", model.embed(keypoints, confidence), actions)
    return {"generation": str(generation_png), "embeddings": str(embedding_png), "frame": int(frame)}


def save_embedding_plot(path: Path, embeddings: torch.Tensor, actions: list[str], shown: int = 10) -> Path:
    """The (C, F, D) test embeddings of all cameras on their first two principal components, the ``shown``
    most frequent actions in colour (the others grey)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    flat = embeddings.reshape(-1, embeddings.shape[-1])
    centred = flat - flat.mean(dim=0)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)
    projected = (centred @ right[:2].T).numpy()
    labels = np.array(actions * embeddings.shape[0])
    names, counts = np.unique(labels, return_counts=True)
    frequent = names[np.argsort(-counts)][:shown]
    figure = Figure(figsize=(8, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    other = ~np.isin(labels, frequent)
    ax.scatter(projected[other, 0], projected[other, 1], s=2, c="0.8", label="other actions")
    for number, name in enumerate(frequent):
        mask = labels == name
        ax.scatter(projected[mask, 0], projected[mask, 1], s=3, color=colormaps["tab10"](number), label=str(name)[:48])
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title("V-VIPE embeddings of the distinct test poses, 4 cameras (gt 2D)")
    ax.legend(markerscale=4, fontsize=7, loc="best")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    return path


SECTIONS = {"hits": hits, "lifting": lifting, "kl": kl, "triplet": triplet, "speed": speed, "figures": figures}


# ---------------------------------------------------------------------------------------------- report




HIT_TITLES = " | ".join(metric.capitalize() for metric in HIT_METRICS)
LIFT_TITLES = "MPJPE (canonical) mm | P-MPJPE mm"


def print_hits(summary: dict) -> None:
    results = summary["results"]["hits"]
    stats = results["test_set"]
    print(f"\nHit@k %, test split: {stats['distinct_poses']:,} distinct poses of {stats['test_frames']:,} frames "
          f"(stride {stats['stride']}; near-duplicates among the {stats['pairs_0.1_to_0.15_canonical']:,} pairs "
          f"0.1 - 0.15 apart: {stats['near_duplicates_among_them']}), 12 ordered camera pairs, "
          f"{stats['answers_per_query']:.1f} answers per query; mean ± std over seeds {summary['seeds']}\n")
    print(f"| 2D input | method | {HIT_TITLES} |\n|---|---|---|---|---|")
    for input_name in (key for key in results if key != "test_set"):
        rows = results[input_name]
        for name in ("V-VIPE", "V-VIPE w/o triplet", "2D keypoints"):
            print(f"| `{input_name}` | {name} | " + " | ".join(mean_std(rows[name][m]) for m in HIT_METRICS) + " |")
        for name, values in rows["paper"].items():
            print(f"| `{input_name}` | paper: {name} | " + " | ".join(f"{values[m]:.1f}" for m in HIT_METRICS) + " |")


def print_lifting(summary: dict) -> None:
    results = summary["results"]["lifting"]
    paper = next(iter(results.values()))["paper_mpjpe_mm"]
    print(f"\nDecoded 3D, mm (per action, then over actions), mean ± std over seeds {summary['seeds']}; "
          f"paper: MPJPE {paper:.1f} mm from detections\n")
    print(f"| 2D input | {LIFT_TITLES} |\n|---|---|---|")
    for input_name, rows in results.items():
        print(f"| `{input_name}` | " + " | ".join(mean_std(rows[m]) for m in LIFT_METRICS) + " |")


def print_kl(summary: dict) -> None:
    results = summary["results"]["kl"]
    print(f"\nStage-1 KL weight: reconstruction of the test poses and KL, and the Hit@k % of its stage 2 "
          f"({results['input']} 2D, seed {results['seed']})\n")
    print(f"| KL weight | reconstruction mm | KL nats | {HIT_TITLES} |\n|---|---|---|---|---|---|")
    for weight, row in results["weights"].items():
        print(f"| {weight} | {row['reconstruction_mm']:.1f} | {row['kl_nats']:.1f} | "
              + " | ".join(f"{row[m]:.1f}" for m in HIT_METRICS) + " |")


def print_triplet(summary: dict) -> None:
    results = summary["results"]["triplet"]
    print(f"\nStage-2 triplet weight: Hit@k % and the decoded 3D ({results['input']} 2D, seed {results['seed']})\n")
    print(f"| triplet weight | {HIT_TITLES} | {LIFT_TITLES} |\n|---|---|---|---|---|---|")
    for weight, row in results["weights"].items():
        print(f"| {weight} | " + " | ".join(f"{row[m]:.1f}" for m in HIT_METRICS + LIFT_METRICS) + " |")


def print_speed(summary: dict) -> None:
    results = summary["results"]["speed"]
    print(f"\nExact {results['k']}-NN search in {results['index_size']:,} embeddings of size {results['dim']}:\n")
    for name, row in results.items():
        if isinstance(row, dict):
            print(f"- {name}: {row['queries_per_s']:,.0f} queries/s ({row['queries']:,} in {row['seconds']:.2f} s)")


def print_figures(summary: dict) -> None:
    results = summary["results"]["figures"]
    print(f"\nfigures: {results['generation']}, {results['embeddings']}")


TABLES = {"hits": print_hits, "lifting": print_lifting, "kl": print_kl, "triplet": print_triplet,
          "speed": print_speed, "figures": print_figures}


def print_tables(summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds)."""
    print_sections(TABLES, summary, sections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_help="frames per step (the triplets are mined in it)")
    parser.add_argument("--no-triplet-seeds", nargs="+", type=int, default=None,
                        help="seeds of the 'w/o triplet' rows of hits (default --seeds)")
    parser.add_argument("--test-stride", type=int, default=1, help="keep every k-th test frame before deduplication")
    parser.add_argument("--lift-stride", type=int, default=5, help="keep every k-th test frame for the lifting errors")
    parser.add_argument("--kl-weights", nargs="+", type=float, default=[0.001, 0.01, 0.1, 1.0])
    parser.add_argument("--triplet-weights", nargs="+", type=float, default=[0.0, 0.01, 0.1, 1.0])
    parser.add_argument("--ablation-input", choices=["gt", "noisy"], default="gt", help="2D of the kl and triplet rows")
    parser.add_argument("--index-size", type=int, default=1_000_000)
    parser.add_argument("--speed-queries", type=int, default=2048, help="queries timed on the CPU (16x on CUDA)")
    parser.add_argument("--figures", type=Path, default=None, help="folder of the PNGs (default: --out)")
    parser.add_argument("--vae-set", nargs="*", default=[], metavar="KEY=VALUE", help="stage-1 config overrides")
    parser.add_argument("--vvipe-set", nargs="*", default=[], metavar="KEY=VALUE", help="stage-2 config overrides")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.max_steps, args.frame_stride = 1, 30, 20
        args.seeds, args.kl_weights, args.triplet_weights = [0], [0.01], [0.0, 1.0]
        args.test_stride, args.lift_stride = 10, 20
        args.index_size, args.speed_queries = 100_000, 256
        args.vae_set = args.vae_set + ["hidden_size=64"]
        args.vvipe_set = args.vvipe_set + ["hidden_size=64"]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
    sweep = open_sweep(args, {"vvipe_vae": args.vae_set, "vvipe": args.vvipe_set}, sweep_class=VvipeSweep)
    stage_two = {key: value for key, value in sweep.base_config["vvipe"].items() if key != "pose_vae_checkpoint"}
    summary = summary_header(args, sweep.benchmark, vae_config=sweep.base_config["vvipe_vae"], vvipe_config=stage_two)
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
