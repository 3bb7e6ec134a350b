"""``poselift data build`` (the benchmark) and ``poselift data convert`` (pose files)."""

from __future__ import annotations

from pathlib import Path

from poselift.mocap_mapping import UNIT_CHOICES


def _cmd_data_build(args) -> None:
    from poselift.data.benchmark import benchmark_config, build_benchmark, save_benchmark, summarise
    from poselift.fileio import check_output_file

    out = check_output_file(args.out, force=args.force)
    config = benchmark_config(args.benchmark_version, seed=args.seed, max_clips_per_subject=args.max_clips_per_subject)
    arrays, report = build_benchmark(args.source, config)
    save_benchmark(out, arrays)
    print(summarise(arrays, report))
    print(f"wrote {out}")


def _cmd_data_convert(args) -> None:
    from poselift.convert import convert_file

    message = convert_file(args.input, args.output, asf=args.asf, to_layout=args.layout, force=args.force,
                           units=args.units, joint_map=args.joint_map, fps=args.fps,
                           keep_first_frame=args.keep_first_frame)
    print(message)


def add_commands(commands) -> None:
    """Register ``poselift data build|convert`` on the CLI's sub-command parsers."""
    data = commands.add_parser("data", help="build the benchmark, convert pose files")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    build = data_commands.add_parser("build", help="build the mocap-h36m-rig benchmark from the shared data")
    build.add_argument("--source", type=Path, default=Path("../shared/data"),
                       help="folder with hdm05/ and cmu/ (default: ../shared/data)")
    build.add_argument("--out", type=Path, required=True, help="output .npz")
    build.add_argument("--seed", type=int, default=0, help="seed of the simulated detector (default 0)")
    build.add_argument("--benchmark-version", default="1.0", choices=("1.0", "2.0"),
                       help="1.0 (default; every figure in the docs is measured on it) or 2.0 (the floor from "
                            "the body's own joints, a noisy-2D confidence that does not see the realised error)")
    build.add_argument("--max-clips-per-subject", type=int, default=None,
                       help="build a quick sample from the first N clips of every subject")
    build.add_argument("--force", action="store_true", help="overwrite an existing output file")
    build.set_defaults(handler=_cmd_data_build)

    convert = data_commands.add_parser(
        "convert", help="convert a pose file (BVH, ASF/AMC, VideoPose3D, H36M h5, COCO, OpenPose, MediaPipe, "
                        "poselift) to poselift npz/json")
    convert.add_argument("input", type=Path, help="input file or folder (OpenPose)")
    convert.add_argument("output", type=Path, help="output .npz or .json (poselift format)")
    convert.add_argument("--asf", type=Path, help="skeleton .asf for an .amc input")
    convert.add_argument("--layout", default=None,
                         help="convert 2D keypoints to this layout (only h36m17 is supported as a target)")
    convert.add_argument("--units", choices=UNIT_CHOICES, default="auto",
                         help="BVH length unit (default auto: the one giving adult leg lengths; cmu = 1/0.45 inch)")
    convert.add_argument("--joint-map", type=Path, default=None,
                         help="JSON {h36m joint: BVH joint} for a BVH skeleton poselift does not know")
    convert.add_argument("--fps", type=float, default=None, help="frame rate (an AMC file states none)")
    convert.add_argument("--keep-first-frame", action="store_true",
                         help="keep a T-pose frame 0 (dropped by default: a converter's rest pose)")
    convert.add_argument("--force", action="store_true", help="overwrite an existing output file")
    convert.set_defaults(handler=_cmd_data_convert)
