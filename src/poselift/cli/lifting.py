"""``poselift lift`` (a 2D keypoint file), ``poselift video`` (videos, MediaPipe) and ``poselift demo``."""

from __future__ import annotations

from pathlib import Path

from poselift.cli.common import add_device_argument, parse_person, resolve_device
from poselift.conventions import ORIENTATIONS


def add_up_argument(parser) -> None:
    """The exports' options: the world frame's up axis and the BVH's unit."""
    parser.add_argument("--up", choices=("y", "z"), default="y",
                        help="world frame of the CSV, TRC and C3D files: y up (OpenSim, BVH; default) or z up (Blender)")
    parser.add_argument("--bvh-unit", choices=("m", "cm", "mm"), default="m",
                        help="length unit of the BVH (default m: Blender's importer reads it at scale 1)")
from poselift.pipeline import DEFAULT_SMOOTHING_S


def _cmd_lift(args) -> None:
    from poselift.lift import lift_file

    read_options = {key: value for key in ("subject", "action", "camera", "person")
                    if (value := getattr(args, key)) is not None}
    lines, written = lift_file(args.input, args.out, model=args.model, force=args.force, video=args.video,
                               animation=not args.no_animation, max_gap=args.max_gap, read_options=read_options,
                               fps=args.fps, smoothing_s=args.smooth, orientation=args.orientation,
                               image_size=args.image_size, device=resolve_device(args.device), up=args.up,
                               bvh_unit=args.bvh_unit, swap_fix=not args.no_swap_fix,
                               fixed_bones=not args.free_bones, focal_px=args.focal)
    for line in lines:
        print(line)
    for path in written:
        print(f"wrote {path}")


def _cmd_demo(args) -> None:
    from poselift.lift import run_demo

    lines, written = run_demo(args.out, force=args.force)
    print("lifted the bundled sample (MediaPipe 2D of Pose2Sim cam01) with the default model")
    for line in lines:
        print(line)
    for path in written:
        print(f"wrote {path}")


def _cmd_video(args) -> None:
    from poselift.video.pipeline import run_video

    run_video(args.videos, args.out, calibration=args.calibration, person=args.person, model=args.model,
              force=args.force, animation=not args.no_animation, max_gap=args.max_gap, max_frames=args.max_frames,
              smoothing_s=args.smooth, progress=not args.quiet, fps=args.fps, device=resolve_device(args.device),
              up=args.up, bvh_unit=args.bvh_unit, people=args.people, jobs=args.jobs,
              swap_fix=not args.no_swap_fix, fixed_bones=not args.free_bones, focal_px=args.focal)


def add_focal_argument(parser, calibrated: str) -> None:
    """``--focal PX``: the camera's focal length, for a model that reads the camera rays."""
    parser.add_argument("--focal", type=float, default=None, metavar="PX",
                        help="focal length of the camera in pixels of these images, for a model trained with "
                             f"input_normalization=camera (default: {calibrated}, else 0.75 x the image diagonal, a "
                             "67 degree diagonal field of view; the principal point is the image centre)")


def add_sequence_arguments(parser) -> None:
    """``--no-swap-fix`` and ``--free-bones``: the two steps of the pipeline that a time series gets."""
    parser.add_argument("--no-swap-fix", action="store_true",
                        help="keep the detector's left/right labels (default: swaps found from the 2D motion of "
                             "each limb group are undone, and the frames changed are reported)")
    parser.add_argument("--free-bones", action="store_true",
                        help="keep the lifted bone lengths of each frame (default: every bone at the clip's median "
                             "length, left and right alike: the BVH's skeleton, so every file has the same joints)")


MODEL_HELP = ("'default': 'temporal' for a time series (a frame rate), 'camera' for single frames (both read the camera: "
              "--focal, --calibration or the file's camera, else the image size), 'pose' for an input with neither "
              "camera nor image size; or one of them by name, or a checkpoint path")


def add_commands(commands) -> None:
    """Register ``poselift lift``, ``video`` and ``demo`` on the CLI's sub-command parsers."""
    lift = commands.add_parser("lift", help="lift a 2D keypoint file to 3D")
    lift.add_argument("input", type=Path, help="COCO JSON, OpenPose folder, MediaPipe JSON, VideoPose3D npz, poselift npz/json")
    lift.add_argument("--out", type=Path, required=True, help="output folder")
    lift.add_argument("--model", default="default",
                      help=MODEL_HELP)
    lift.add_argument("--video", type=Path, help="the video the keypoints come from (drawn under the 2D)")
    lift.add_argument("--max-gap", type=int, default=10, help="longest gap (frames) filled by interpolation")
    lift.add_argument("--fps", type=float, default=None,
                      help="frame rate of the keypoints (default: the file's, else --video's; none known: 30 assumed, "
                           "not smoothed)")
    lift.add_argument("--smooth", type=float, default=DEFAULT_SMOOTHING_S,
                      help=f"Savitzky-Golay window of the 3D smoothing in seconds (default {DEFAULT_SMOOTHING_S}; 0: off)")
    lift.add_argument("--image-size", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"), default=None,
                      help="the images' size in pixels, when the file does not say (scales normalised coordinates)")
    add_focal_argument(lift, "the file's own camera where its format names one (Human3.6M files)")
    lift.add_argument("--orientation", choices=ORIENTATIONS, default="auto",
                      help="which way y points: auto (refuse a track whose head is below its feet in most frames), "
                           "y-down (image coordinates, trusted), y-up (flipped first)")
    lift.add_argument("--no-animation", action="store_true", help="skip the mp4/gif")
    add_sequence_arguments(lift)
    add_device_argument(lift)
    add_up_argument(lift)
    lift.add_argument("--subject", help="VideoPose3D files: the subject to lift (when the file has several)")
    lift.add_argument("--action", help="VideoPose3D files: the action to lift")
    lift.add_argument("--camera", type=int, help="VideoPose3D files: the camera index (default 0)")
    lift.add_argument("--person", type=parse_person, default=None,
                      help="COCO and OpenPose files with several people: follow largest, central or N (the N-th "
                           "from the left) through the frames (default: each frame's best-scored person)")
    lift.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    lift.set_defaults(handler=_cmd_lift)

    demo = commands.add_parser("demo", help="lift the bundled sample with the default model")
    demo.add_argument("--out", type=Path, default=Path("poselift_demo"), help="output folder (default poselift_demo)")
    demo.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    demo.set_defaults(handler=_cmd_demo)

    video = commands.add_parser(
        "video", help="detect (MediaPipe), track one person, lift to 3D and export (BVH, CSV, mp4) from videos",
        description="Needs the video extra: pip install \"poselift[video]\".")
    video.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="video file(s); several: one per camera")
    video.add_argument("--out", type=Path, required=True, help="output folder (a subfolder per video when several)")
    video.add_argument("--calibration", type=Path, help="Qualisys .qca.txt calibration of the videos' cameras: "
                                                        "triangulate and compare the views")
    video.add_argument("--people", choices=("one", "all"), default="one",
                       help="one (default: the person --person picks) or all: every person, each with an id, in "
                            "person_<id>/ and shown in people.png (searches every frame: several times slower)")
    video.add_argument("--jobs", type=int, default=None,
                       help="videos processed at once, one process each (default: a quarter of the CPU cores, "
                            "at least 1)")
    video.add_argument("--person", type=parse_person, default="largest",
                       help="who to follow: largest (default), central, or N = the N-th person from the left")
    video.add_argument("--model", default="default",
                       help=MODEL_HELP)
    video.add_argument("--max-gap", type=int, default=10, help="longest gap (frames) filled by interpolation")
    video.add_argument("--max-frames", type=int, help="only the first N frames of each video")
    video.add_argument("--fps", type=float, default=None, help="frame rate of the videos (default: their own)")
    add_focal_argument(video, "the --calibration's camera")
    add_device_argument(video, "where the lifting model runs (MediaPipe runs on the CPU)")
    add_up_argument(video)
    video.add_argument("--smooth", type=float, default=DEFAULT_SMOOTHING_S,
                       help=f"Savitzky-Golay window of the 3D smoothing in seconds (default {DEFAULT_SMOOTHING_S}; 0: off)")
    video.add_argument("--no-animation", action="store_true", help="skip the mp4")
    add_sequence_arguments(video)
    video.add_argument("--quiet", action="store_true", help="no progress bars")
    video.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    video.set_defaults(handler=_cmd_video)
