"""``poselift train`` (a model on the benchmark), ``poselift eval`` (a checkpoint on it) and ``poselift
export-model`` (a weights-only copy of a checkpoint, for shipping)."""

from __future__ import annotations

import os
from pathlib import Path

from poselift.cli.common import add_device_argument, parse_assignments, resolve_device
from poselift.models.kinds import BUILTIN_MODEL_KINDS
from poselift.schedules import default_schedule


def _cmd_train(args) -> None:
    from poselift.recipes import DataOptions, train_on_benchmark
    from poselift.train import TrainConfig

    schedule = default_schedule(args.kind)
    for name in ("epochs", "batch_size", "lr"):
        if getattr(args, name) is None:
            setattr(args, name, schedule[name])
    data = DataOptions(input=args.input, protocol=args.protocol, validation=args.validation,
                       virtual_cameras=args.virtual_cameras, virtual_step_deg=args.virtual_step_deg,
                       flip=args.flip, frame_stride=args.frame_stride, joint_dropout=args.joint_dropout,
                       random_cameras=args.random_camera_share if args.random_cameras else 0.0,
                       body_scale=args.body_scale)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         max_steps=args.max_steps, num_threads=args.threads, device=args.device,
                         optimizer=args.optimizer)
    summary = train_on_benchmark(args.kind, args.data, args.out, data, config, parse_assignments(args.set),
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

    from poselift.data.random_cameras import RandomCameraConfig

    model = load_model(args.checkpoint, device=resolve_device(args.device))
    result = evaluate(model, load_benchmark(args.data), input=args.input, protocol=args.protocol,
                      random_cameras=RandomCameraConfig() if args.random_cameras else None,
                      camera_seed=args.camera_seed, random_camera_clips=args.random_camera_clips)
    info = result.info
    per = f"piece of {args.random_camera_clips} frames" if args.random_camera_clips else "sample"
    filmed = (f"each {per} filmed by a random camera (seed {args.camera_seed}) instead of cameras {info['cameras']}"
              if args.random_cameras else f"cameras {info['cameras']}")
    print(f"Protocol #{info['protocol']} on {info['data_version']} test split, {info['input']} 2D "
          f"(mean 2D error {info['mean_2d_input_error_px']:.2f} px), {info['samples']} samples, {filmed}, "
          f"model {args.checkpoint}")
    print(result.table())
    if args.json:
        write_text_atomic(args.json, json.dumps({**result.to_dict(), "checkpoint": str(args.checkpoint)}, indent=1) + "\n")
        print(f"wrote {args.json}")


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


def add_commands(commands) -> None:
    """Register ``poselift train``, ``eval`` and ``export-model`` on the CLI's sub-command parsers."""
    schedules = {kind: default_schedule(kind) for kind in BUILTIN_MODEL_KINDS}
    schedule_help = "; ".join(f"{kind} {s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']:g}"
                              f"{'' if s['converged'] else ' (not converged)'}" for kind, s in schedules.items())
    train = commands.add_parser("train", help="train a lifting model on the benchmark")
    train.add_argument("kind", choices=BUILTIN_MODEL_KINDS, help="model family")
    train.add_argument("--data", type=Path, required=True, help="benchmark .npz (poselift data build)")
    train.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, logs")
    train.add_argument("--input", choices=("gt", "noisy"), default="gt", help="2D input (default gt)")
    train.add_argument("--protocol", type=int, choices=(1, 3), default=1,
                       help="1: train on cameras 0-3; 3: cameras 0-2 (camera 3 held out)")
    train.add_argument("--virtual-cameras", action="store_true",
                       help="augment with virtual cameras around the rig (every --virtual-step-deg degrees)")
    train.add_argument("--virtual-step-deg", type=float, default=15.0,
                       help="angle between virtual cameras (default 15; 120 gives the self-supervised paper's 12 views)")
    train.add_argument("--random-cameras", action="store_true",
                       help="film a share of the samples (--random-camera-share) with a camera drawn for each: "
                            "2-8 m away, 0.3-2.5 m high, rolled, phone to telephoto lens, the person anywhere in "
                            "the image (poselift.data.random_cameras)")
    train.add_argument("--random-camera-share", type=float, default=0.5,
                       help="share of the samples filmed by random cameras with --random-cameras (default 0.5)")
    train.add_argument("--body-scale", action="store_true",
                       help="scale every sample's bones before filming it: 0.85-1.15 overall, +-5 %% per bone "
                            "(poselift.data.body_scale)")
    train.add_argument("--flip", action="store_true", help="augment with left/right mirroring")
    train.add_argument("--joint-dropout", type=float, default=0.0, help="probability of hiding a 2D joint")
    train.add_argument("--frame-stride", type=int, default=1, help="keep every k-th training frame")
    train.add_argument("--validation", choices=("test", "people", "none"), default="test",
                       help="test: train on the 7 training people, log the test split (report only, no best.pt); "
                            "people: train on 5, validate on the other 2 and keep best.pt (for choices); "
                            "none: no validation (default test)")
    train.add_argument("--epochs", type=int, default=None,
                       help=f"default: the kind's schedule (poselift.schedules.default_schedule): {schedule_help}")
    train.add_argument("--batch-size", type=int, default=None, help="default: the kind's schedule (see --epochs)")
    train.add_argument("--lr", type=float, default=None, help="default: the kind's schedule (see --epochs)")
    train.add_argument("--lr-decay-steps", type=int, default=None,
                       help="steps per 0.96 decay (default: the paper's 48 decays spread over the run)")
    train.add_argument("--optimizer", choices=("adam", "rmsprop"), default="adam",
                       help="adam (default) or rmsprop (Cha et al.'s consensus lifters; squared-gradient decay 0.9)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resumable)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.add_argument("--device", default="auto", help="auto (a GPU where present), cpu, cuda or cuda:N")
    train.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model config overrides")
    train.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    train.add_argument("--force", action="store_true", help="start over in an --out that holds a run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_cmd_train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on the benchmark (per-action table)")
    evaluate.add_argument("checkpoint", help="checkpoint .pt, or a shipped model: 'camera' (= 'default'), 'temporal', 'pose'")
    evaluate.add_argument("--data", type=Path, required=True, help="benchmark .npz")
    evaluate.add_argument("--input", choices=("gt", "noisy"), default="gt")
    evaluate.add_argument("--protocol", type=int, choices=(1, 2, 3), default=1,
                          help="1/2: all four cameras (both MPJPE and P-MPJPE are reported); 3: camera 3 only")
    evaluate.add_argument("--random-cameras", action="store_true",
                          help="film every test sample with a camera drawn for it instead (2-8 m, phone to telephoto, "
                               "the person anywhere in the image; poselift.data.random_cameras): single-frame models, "
                               "or any model with --random-camera-clips")
    evaluate.add_argument("--random-camera-clips", type=int, default=None, metavar="N",
                          help="with --random-cameras: one camera per piece of N consecutive frames of a clip, so "
                               "sequence models are measured too, with the jitter")
    evaluate.add_argument("--camera-seed", type=int, default=0,
                          help="seed of the random cameras (default 0: the same cameras for every model)")
    evaluate.add_argument("--json", type=Path, help="also write the results as JSON")
    add_device_argument(evaluate)
    evaluate.set_defaults(handler=_cmd_eval)

    export = commands.add_parser("export-model", help="write a weights-only copy of a trained checkpoint for shipping "
                                                      "(float16; lift poses with `poselift lift`)")
    export.add_argument("checkpoint", type=Path, help="training checkpoint (last.pt / best.pt)")
    export.add_argument("out", type=Path, help="output .pt")
    export.add_argument("--float32", action="store_true", help="keep float32 weights (default: float16)")
    export.add_argument("--force", action="store_true", help="overwrite an existing output file")
    export.set_defaults(handler=_cmd_export)
