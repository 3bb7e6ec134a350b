"""The ``poselift`` command.

Each sub-command parses its arguments and calls one library function; errors a user can cause
(:class:`~poselift.errors.PoseliftError`) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from poselift import __version__
from poselift.errors import PoseliftError


def _cmd_data_build(args) -> None:
    from poselift.data.benchmark import BenchmarkConfig, build_benchmark, save_benchmark, summarise
    from poselift.fileio import check_output_file

    out = check_output_file(args.out, force=args.force)
    config = BenchmarkConfig(seed=args.seed, max_clips_per_subject=args.max_clips_per_subject)
    arrays, report = build_benchmark(args.source, config)
    save_benchmark(out, arrays)
    print(summarise(arrays, report))
    print(f"wrote {out}")


def _cmd_data_convert(args) -> None:
    from poselift.convert import convert_file

    message = convert_file(args.input, args.output, asf=args.asf, to_layout=args.layout, force=args.force)
    print(message)


def _parse_assignments(pairs: list[str]) -> dict:
    """``["hidden_size=512", "dropout=0.2", "flag=False"]`` -> {"hidden_size": 512, "dropout": 0.2, "flag": False}
    (JSON values; ``True`` / ``False`` as Python spells them too)."""
    import json

    config = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise PoseliftError(f"--set expects key=value, got {pair!r}")
        if value in ("True", "False"):
            config[key] = value == "True"
            continue
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def _cmd_train(args) -> None:
    from poselift.recipes import DataOptions, default_schedule, train_on_benchmark
    from poselift.train import TrainConfig

    schedule = default_schedule(args.kind)
    for name in ("epochs", "batch_size", "lr"):
        if getattr(args, name) is None:
            setattr(args, name, schedule[name])
    data = DataOptions(input=args.input, protocol=args.protocol, validation=args.validation,
                       virtual_cameras=args.virtual_cameras, virtual_step_deg=args.virtual_step_deg,
                       flip=args.flip, frame_stride=args.frame_stride, joint_dropout=args.joint_dropout)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         max_steps=args.max_steps, num_threads=args.threads, device=args.device)
    summary = train_on_benchmark(args.kind, args.data, args.out, data, config, _parse_assignments(args.set),
                                 resume=args.resume, force=args.force, quiet=args.quiet,
                                 lr_decay_steps=args.lr_decay_steps)
    if summary.get("last_checkpoint") and int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {summary['step']} steps ({summary['epoch']} epochs); checkpoint {summary['last_checkpoint']}")


def _cmd_eval(args) -> None:
    import json

    from poselift.data.benchmark import load_benchmark
    from poselift.evaluate import evaluate
    from poselift.fileio import write_text_atomic
    from poselift.lift import load_model

    model = load_model(args.checkpoint)
    result = evaluate(model, load_benchmark(args.data), input=args.input, protocol=args.protocol)
    info = result.info
    print(f"Protocol #{info['protocol']} on {info['data_version']} test split, {info['input']} 2D "
          f"(mean 2D error {info['mean_2d_input_error_px']:.2f} px), cameras {info['cameras']}, "
          f"{info['samples']} samples, model {args.checkpoint}")
    print(result.table())
    if args.json:
        write_text_atomic(args.json, json.dumps({**result.to_dict(), "checkpoint": str(args.checkpoint)}, indent=1) + "\n")
        print(f"wrote {args.json}")


def _cmd_lift(args) -> None:
    from poselift.lift import lift_file

    read_options = {key: value for key in ("subject", "action", "camera")
                    if (value := getattr(args, key)) is not None}
    report, written = lift_file(args.input, args.out, model=args.model, force=args.force, video=args.video,
                                animation=not args.no_animation, max_gap=args.max_gap, read_options=read_options)
    print(report.summary())
    for path in written:
        print(f"wrote {path}")


def _cmd_export(args) -> None:
    import json

    from poselift.checkpoint import export_model
    from poselift.fileio import check_output_file

    check_output_file(args.out, force=args.force)
    info = {}
    run_file = args.checkpoint.parent / "run.json"
    if run_file.exists():
        info["run"] = json.loads(run_file.read_text())
    path = export_model(args.checkpoint, args.out, half=not args.float32, info=info)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _cmd_demo(args) -> None:
    from poselift.lift import run_demo

    report, written = run_demo(args.out, force=args.force)
    print("lifted the bundled sample (MediaPipe 2D of Pose2Sim cam01) with the default model")
    print(report.summary())
    for path in written:
        print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poselift", description="Lift 2D human keypoints to 3D poses.")
    parser.add_argument("--version", action="version", version=f"poselift {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="build the benchmark, convert pose files")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    build = data_commands.add_parser("build", help="build the mocap-h36m-rig benchmark from the shared data")
    build.add_argument("--source", type=Path, default=Path("../shared/data"),
                       help="folder with hdm05/ and cmu/ (default: ../shared/data)")
    build.add_argument("--out", type=Path, required=True, help="output .npz")
    build.add_argument("--seed", type=int, default=0, help="seed of the simulated detector (default 0)")
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
    convert.add_argument("--force", action="store_true", help="overwrite an existing output file")
    convert.set_defaults(handler=_cmd_data_convert)

    from poselift.models.registry import MODEL_KINDS
    from poselift.recipes import default_schedule

    schedules = {kind: default_schedule(kind) for kind in sorted(MODEL_KINDS)}
    schedule_help = "; ".join(f"{kind} {s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']:g}"
                              f"{'' if s['converged'] else ' (not converged)'}" for kind, s in schedules.items())
    train = commands.add_parser("train", help="train a lifting model on the benchmark")
    train.add_argument("kind", choices=sorted(MODEL_KINDS), help="model family")
    train.add_argument("--data", type=Path, required=True, help="benchmark .npz (poselift data build)")
    train.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, logs")
    train.add_argument("--input", choices=("gt", "noisy"), default="gt", help="2D input (default gt)")
    train.add_argument("--protocol", type=int, choices=(1, 3), default=1,
                       help="1: train on cameras 0-3; 3: cameras 0-2 (camera 3 held out)")
    train.add_argument("--virtual-cameras", action="store_true",
                       help="augment with virtual cameras around the rig (every --virtual-step-deg degrees)")
    train.add_argument("--virtual-step-deg", type=float, default=15.0,
                       help="angle between virtual cameras (default 15; 120 gives the self-supervised paper's 12 views)")
    train.add_argument("--flip", action="store_true", help="augment with left/right mirroring")
    train.add_argument("--joint-dropout", type=float, default=0.0, help="probability of hiding a 2D joint")
    train.add_argument("--frame-stride", type=int, default=1, help="keep every k-th training frame")
    train.add_argument("--validation", choices=("test", "people", "none"), default="test",
                       help="test: train on the 7 training people, log the test split (report only, no best.pt); "
                            "people: train on 5, validate on the other 2 and keep best.pt (for choices); "
                            "none: no validation (default test)")
    train.add_argument("--epochs", type=int, default=None,
                       help=f"default: the kind's schedule (poselift.recipes.default_schedule): {schedule_help}")
    train.add_argument("--batch-size", type=int, default=None, help="default: the kind's schedule (see --epochs)")
    train.add_argument("--lr", type=float, default=None, help="default: the kind's schedule (see --epochs)")
    train.add_argument("--lr-decay-steps", type=int, default=None,
                       help="steps per 0.96 decay (default: the paper's 48 decays spread over the run)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resumable)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda")
    train.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model config overrides")
    train.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    train.add_argument("--force", action="store_true", help="start over in an --out that holds a run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_cmd_train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on the benchmark (per-action table)")
    evaluate.add_argument("checkpoint", help="checkpoint .pt, or a shipped model: 'default', 'temporal'")
    evaluate.add_argument("--data", type=Path, required=True, help="benchmark .npz")
    evaluate.add_argument("--input", choices=("gt", "noisy"), default="gt")
    evaluate.add_argument("--protocol", type=int, choices=(1, 2, 3), default=1,
                          help="1/2: all four cameras (both MPJPE and P-MPJPE are reported); 3: camera 3 only")
    evaluate.add_argument("--json", type=Path, help="also write the results as JSON")
    evaluate.set_defaults(handler=_cmd_eval)

    lift = commands.add_parser("lift", help="lift a 2D keypoint file to 3D")
    lift.add_argument("input", type=Path, help="COCO JSON, OpenPose folder, MediaPipe JSON, VideoPose3D npz, poselift npz/json")
    lift.add_argument("--out", type=Path, required=True, help="output folder")
    lift.add_argument("--model", default="default",
                      help="'default' (single frames), 'temporal' (sequences) or a checkpoint path")
    lift.add_argument("--video", type=Path, help="the video the keypoints come from (drawn under the 2D)")
    lift.add_argument("--max-gap", type=int, default=10, help="longest gap (frames) filled by interpolation")
    lift.add_argument("--no-animation", action="store_true", help="skip the mp4/gif")
    lift.add_argument("--subject", help="VideoPose3D files: the subject to lift (when the file has several)")
    lift.add_argument("--action", help="VideoPose3D files: the action to lift")
    lift.add_argument("--camera", type=int, help="VideoPose3D files: the camera index (default 0)")
    lift.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    lift.set_defaults(handler=_cmd_lift)

    export = commands.add_parser("export", help="write a weights-only copy of a checkpoint for shipping")
    export.add_argument("checkpoint", type=Path, help="training checkpoint (last.pt / best.pt)")
    export.add_argument("out", type=Path, help="output .pt")
    export.add_argument("--float32", action="store_true", help="keep float32 weights (default: float16)")
    export.add_argument("--force", action="store_true", help="overwrite an existing output file")
    export.set_defaults(handler=_cmd_export)

    demo = commands.add_parser("demo", help="lift the bundled sample with the default model")
    demo.add_argument("--out", type=Path, default=Path("poselift_demo"), help="output folder (default poselift_demo)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    demo.set_defaults(handler=_cmd_demo)

    from poselift.generation import add_generate_command
    from poselift.retrieval import add_retrieval_commands
    from poselift.video import add_video_command

    add_video_command(commands)
    add_retrieval_commands(commands)
    add_generate_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except PoseliftError as error:
        print(f"poselift: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("poselift: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
