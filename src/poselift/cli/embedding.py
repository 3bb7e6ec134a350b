"""V-VIPE's commands: ``poselift index`` (embed pose files into a retrieval index), ``poselift retrieve``
(the nearest poses of an index to a query's) and ``poselift generate`` (new poses around a pose)."""

from __future__ import annotations

from pathlib import Path

from poselift.cli.common import add_device_argument, resolve_device
from poselift.errors import PoseliftError
from poselift.io.pose_input import POSE_KINDS
from poselift.wording import count

_PRINTED_QUERIES = 20


def _cmd_index(args) -> None:
    from poselift.fileio import check_output_file
    from poselift.retrieval import build_index, load_embedding_model

    out = check_output_file(args.out, force=args.force)
    model = load_embedding_model(args.model, device=resolve_device(args.device))
    index, report = build_index(model, args.poses, kind=args.kind, model_name=str(args.model))
    index.save(out)
    print("\n".join(report))
    print(f"wrote {out} ({len(index)} embeddings of size {index.embeddings.shape[1]})")


def _neighbour_rows(index, query_frames, distances, indices) -> list[dict]:
    return [{"query_frame": int(frame),
             "neighbours": [{"rank": rank + 1, "distance": float(distance), "file": index.source_files[index.source[entry]],
                             "frame": int(index.frame[entry])}
                            for rank, (distance, entry) in enumerate(zip(row_distances, row_indices))]}
            for frame, row_distances, row_indices in zip(query_frames, distances, indices)]


def _write_results(path: Path, rows: list[dict], query, index_path: str) -> None:
    """Every query's neighbours as .json or .npz, written atomically."""
    import json

    import numpy as np

    from poselift.fileio import atomic_path, write_text_atomic

    if path.suffix.lower() == ".json":
        write_text_atomic(path, json.dumps({"query": query.path, "index": index_path, "results": rows}, indent=1) + "\n")
    elif path.suffix.lower() == ".npz":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, query_frame=np.array([row["query_frame"] for row in rows], np.int64),
                         distance=np.array([[n["distance"] for n in row["neighbours"]] for row in rows], np.float32),
                         source_file=np.array([[n["file"] for n in row["neighbours"]] for row in rows]),
                         frame=np.array([[n["frame"] for n in row["neighbours"]] for row in rows], np.int64))
    else:
        raise PoseliftError(f"{path}: results are written as .json or .npz")


def _cmd_retrieve(args) -> None:
    import numpy as np
    import torch

    from poselift.fileio import check_output_file
    from poselift.io.pose_input import load_pose_input
    from poselift.retrieval import embed_pose_input, load_embedding_model, load_index, nearest_neighbors

    if args.out is not None:
        check_output_file(args.out, force=args.force)
    index = load_index(args.index)
    device = resolve_device(args.device)
    model = load_embedding_model(args.model or index.model, device=device)
    query = load_pose_input(args.query, args.kind)
    embeddings, valid = embed_pose_input(model, query)
    if args.frame is not None:
        if not 0 <= args.frame < len(embeddings):
            raise PoseliftError(f"{args.query}: --frame {args.frame} is outside its {count(len(embeddings), 'frame')}")
        selected = np.array([args.frame]) if valid[args.frame] else np.array([], dtype=int)
    else:
        selected = np.flatnonzero(valid)
    if len(selected) == 0:
        raise PoseliftError(f"{args.query}: no frame to query (missing root or joints)")
    if embeddings.shape[1] != index.embeddings.shape[1]:
        raise PoseliftError(f"{args.index}: embeddings of size {index.embeddings.shape[1]}, the model makes "
                            f"{embeddings.shape[1]}; query with the index's model ({index.model})")
    distances, indices = nearest_neighbors(torch.from_numpy(embeddings[selected]),
                                           torch.from_numpy(index.embeddings).to(device), args.k)
    rows = _neighbour_rows(index, selected, distances.cpu().numpy(), indices.cpu().numpy())
    print(f"{query.path} ({query.kind.upper()}): {len(rows)} quer{'y' if len(rows) == 1 else 'ies'} against "
          f"{args.index} ({len(index)} entries), {args.k} nearest")
    for row in rows[:_PRINTED_QUERIES]:
        print(f"query frame {row['query_frame']}:")
        for neighbour in row["neighbours"]:
            print(f"  {neighbour['rank']:>3}  distance {neighbour['distance']:8.4f}  {neighbour['file']}  "
                  f"frame {neighbour['frame']}")
    if len(rows) > _PRINTED_QUERIES:
        print(f"... {len(rows) - _PRINTED_QUERIES} more queries" + ("" if args.out else " (use --out to save them all)"))
    if args.out is not None:
        _write_results(Path(args.out), rows, query, str(args.index))
        print(f"wrote {args.out}")


def _cmd_generate(args) -> None:
    import numpy as np
    import torch

    from poselift.fileio import prepare_output_dir
    from poselift.generation import CANONICAL_FRAME_NOTE, canonical_to_view, generate_variations
    from poselift.viz import save_pose_grid
    from poselift.io.pose_input import load_pose_input
    from poselift.io.poselift_format import write_poses_3d
    from poselift.io.records import Poses3D
    from poselift.retrieval import embed_pose_input, load_embedding_model
    from poselift.skeleton import H36M17

    model = load_embedding_model(args.model, device=resolve_device(args.device))
    poses = load_pose_input(args.pose, args.kind)
    if not 0 <= args.frame < len(poses.points):
        raise PoseliftError(f"{args.pose}: --frame {args.frame} is outside its {count(len(poses.points), 'frame')}")
    embeddings, valid = embed_pose_input(model, poses)
    if not valid[args.frame]:
        raise PoseliftError(f"{args.pose}: frame {args.frame} cannot be embedded (missing root or joints)")
    out = prepare_output_dir(args.out, force=args.force)
    latent = torch.from_numpy(embeddings[args.frame])
    _, variations = generate_variations(model, latent, args.n, args.scale, torch.Generator().manual_seed(args.seed))
    original = torch.as_tensor(model.decode_latent(latent[None]))
    all_poses = torch.cat([original, variations]).numpy()
    meta = {"frame_detail": CANONICAL_FRAME_NOTE, "model": str(args.model), "source": str(args.pose),
            "source_frame": args.frame, "scale": args.scale, "seed": args.seed,
            "rows": "0: the input pose decoded from its embedding z; 1..n: decoded from z + scale * N(0, I) noise"}
    write_poses_3d(out / "variations.npz", Poses3D(all_poses, H36M17.joint_names, "world", layout=H36M17.name,
                                                   meta=meta))
    columns = min(len(all_poses), 6)
    grid = np.full((-(-len(all_poses) // columns) * columns,) + all_poses.shape[1:], np.nan, np.float32)
    grid[:len(all_poses)] = all_poses
    titles = ["decoded input"] + [f"variation {number}" for number in range(1, len(grid))]
    save_pose_grid(out / "variations.png", canonical_to_view(grid.reshape((-1, columns) + all_poses.shape[1:])),
                   [titles[start:start + columns] for start in range(0, len(grid), columns)],
                   title=f"{Path(args.pose).name} frame {args.frame}: z + {args.scale:g} * noise")
    print(f"{args.pose} frame {args.frame} ({poses.kind.upper()}): {args.n} variations at scale {args.scale:g}")
    print(f"wrote {out / 'variations.npz'} ({len(all_poses)} poses, mm, {CANONICAL_FRAME_NOTE})")
    print(f"wrote {out / 'variations.png'}")


def add_commands(commands) -> None:
    """Register ``poselift index``, ``retrieve`` and ``generate`` on the CLI's sub-command parsers."""
    index = commands.add_parser("index", help="embed the frames of pose files with a V-VIPE model into a "
                                                "retrieval index (.npz)")
    index.add_argument("poses", nargs="+", type=Path, metavar="POSES",
                       help="2D keypoint or 3D pose file(s) (any format poselift reads)")
    index.add_argument("--model", type=Path, required=True, help="a 'vvipe' (2D and 3D) or 'vvipe_vae' (3D) checkpoint")
    index.add_argument("--out", type=Path, required=True, help="index file (.npz)")
    index.add_argument("--kind", choices=POSE_KINDS, default="auto", help="read the files as 2D or 3D (default: detect)")
    index.add_argument("--force", action="store_true", help="overwrite an existing index")
    add_device_argument(index)
    index.set_defaults(handler=_cmd_index)

    retrieve = commands.add_parser("retrieve", help="find the poses of an index nearest to a query's (V-VIPE)")
    retrieve.add_argument("query", type=Path, metavar="QUERY", help="2D keypoint or 3D pose file of the query pose(s)")
    retrieve.add_argument("--index", type=Path, required=True, help="index from `poselift index`")
    retrieve.add_argument("-k", type=int, default=5, help="neighbours per query (default 5)")
    retrieve.add_argument("--frame", type=int, default=None, help="query only this frame of QUERY (default: all)")
    retrieve.add_argument("--model", type=Path, default=None, help="checkpoint (default: the one that built the index)")
    retrieve.add_argument("--kind", choices=POSE_KINDS, default="auto", help="read QUERY as 2D or 3D (default: detect)")
    retrieve.add_argument("--out", type=Path, default=None, help="save every result (.json or .npz)")
    add_device_argument(retrieve, "where to search")
    retrieve.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    retrieve.set_defaults(handler=_cmd_retrieve)

    generate = commands.add_parser("generate", help="new 3D poses around a given pose: decode z + scale * noise "
                                                      "(V-VIPE)")
    generate.add_argument("pose", type=Path, metavar="POSE", help="2D keypoint or 3D pose file")
    generate.add_argument("--model", type=Path, required=True, help="a 'vvipe' or 'vvipe_vae' checkpoint")
    generate.add_argument("--out", type=Path, required=True, help="output folder (variations.npz, variations.png)")
    generate.add_argument("--n", type=int, default=8, help="number of variations (default 8)")
    generate.add_argument("--scale", type=float, default=0.3, help="noise scale a (default 0.3; the paper shows 0.2-0.5)")
    generate.add_argument("--frame", type=int, default=0, help="frame of POSE to start from (default 0)")
    generate.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    generate.add_argument("--kind", choices=POSE_KINDS, default="auto", help="read POSE as 2D or 3D")
    generate.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    add_device_argument(generate)
    generate.set_defaults(handler=_cmd_generate)
