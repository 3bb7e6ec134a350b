"""The `poselift` command end to end: bad input gives one clear line and a non-zero exit."""

import json

import numpy as np
import pytest

from poselift.cli import main


def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *needles):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poselift: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def write_keypoints_npz(path, keypoints, layout="h36m17"):
    """A poselift 2D npz written by hand, as a user would (all confidences 1)."""
    np.savez(path, keypoints_2d=keypoints, confidence=np.ones(keypoints.shape[:2], np.float32), layout=np.array(layout))
    return path


def test_truncated_bvh(capsys, tmp_path):
    bvh = tmp_path / "truncated.bvh"
    bvh.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n"
                   " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 3\nFrame Time: 0.01\n0 0 0\n1 1 1\n")
    status, _, err = run_cli(capsys, "data", "convert", bvh, tmp_path / "out.npz")
    assert_one_line_error(status, err, "truncated.bvh")
    assert not (tmp_path / "out.npz").exists()


def test_amc_frame_with_a_missing_bone(capsys, tmp_path, shared_data):
    asf = shared_data / "hdm05" / "asf" / "HDM_bd.asf"
    amc_source = sorted((shared_data / "hdm05" / "amc" / "bd").glob("*.amc"))[0]
    lines = amc_source.read_text(encoding="latin-1").splitlines()
    bad_lines = [line for line in lines if not line.startswith("lfemur")][:200]   # no frame has lfemur
    amc = tmp_path / "HDM_bd_broken_01_120.amc"
    amc.write_text("\n".join(bad_lines) + "\n", encoding="latin-1")
    status, _, err = run_cli(capsys, "data", "convert", amc, tmp_path / "out.npz", "--asf", asf)
    assert_one_line_error(status, err, "HDM_bd_broken_01_120.amc", "lfemur")


def test_json_person_without_keypoints(capsys, tmp_path):
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [1.0, 2.0, 1.0], "score": 0.9}]))
    status, _, err = run_cli(capsys, "data", "convert", coco, tmp_path / "out.json")
    assert_one_line_error(status, err, "results.json", "keypoints")


def test_npz_with_a_wrong_shape(capsys, tmp_path):
    npz = write_keypoints_npz(tmp_path / "bad.npz", np.zeros((4, 17, 3), np.float32))
    status, _, err = run_cli(capsys, "data", "convert", npz, tmp_path / "out.npz")
    assert_one_line_error(status, err, "bad.npz", "keypoints_2d")


def test_nan_keypoint_with_confidence(capsys, tmp_path):
    keypoints = np.zeros((2, 17, 2), np.float32)
    keypoints[1, 3] = np.nan
    npz = write_keypoints_npz(tmp_path / "nan.npz", keypoints)
    status, _, err = run_cli(capsys, "data", "convert", npz, tmp_path / "out.npz")
    assert_one_line_error(status, err, "nan.npz", "NaN")


def test_unknown_layout(capsys, tmp_path):
    npz = write_keypoints_npz(tmp_path / "layout.npz", np.zeros((2, 17, 2), np.float32), layout="coco18")
    status, _, err = run_cli(capsys, "data", "convert", npz, tmp_path / "out.npz")
    assert_one_line_error(status, err, "layout.npz", "coco18")


def test_existing_output_is_not_overwritten(capsys, tmp_path):
    out = tmp_path / "out.json"
    out.write_text("precious")
    npz = write_keypoints_npz(tmp_path / "ok.npz", np.zeros((2, 17, 2), np.float32))
    status, _, err = run_cli(capsys, "data", "convert", npz, out)
    assert_one_line_error(status, err, "exists", "--force")
    assert out.read_text() == "precious"
    status, out_text, _ = run_cli(capsys, "data", "convert", npz, out, "--force")
    assert status == 0 and "2 frames" in out_text


def test_convert_real_bvh_and_coco_to_h36m(capsys, tmp_path, shared_data):
    from poselift.io import load_keypoints_2d, load_poses_3d

    status, out, _ = run_cli(capsys, "data", "convert", shared_data / "cmu" / "subjects" / "006" / "006_01.bvh",
                             tmp_path / "clip.npz")
    assert status == 0
    poses = load_poses_3d(tmp_path / "clip.npz")
    assert poses.poses_3d.shape[1:] == (17, 3) and poses.frame == "world"
    height = poses.poses_3d[:, 10, 2] - poses.poses_3d[:, [3, 6], 2].min(1)
    assert 1400 < np.median(height) < 1900                                         # mm, Z up
    coco_rows = [{"image_id": i, "category_id": 1, "score": 1.0,
                  "keypoints": sum(([100.0 + j, 200.0 + i, 2] for j in range(17)), [])} for i in range(3)]
    (tmp_path / "coco.json").write_text(json.dumps(coco_rows))
    status, _, _ = run_cli(capsys, "data", "convert", tmp_path / "coco.json", tmp_path / "h36m.json", "--layout", "h36m17")
    converted = load_keypoints_2d(tmp_path / "h36m.json")
    assert status == 0 and converted.layout == "h36m17" and converted.keypoints_2d.shape == (3, 17, 2)


def test_data_build_sample(capsys, tmp_path, shared_data):
    out = tmp_path / "bench.npz"
    status, text, _ = run_cli(capsys, "data", "build", "--source", shared_data, "--out", out,
                              "--max-clips-per-subject", "1")
    assert status == 0 and out.exists()
    assert "train:" in text and "test :" in text and "noisy 2D: mean error" in text
    status, _, err = run_cli(capsys, "data", "build", "--source", shared_data, "--out", out)
    assert_one_line_error(status, err, "exists")


def test_train_set_parses_python_booleans_and_refuses_a_wrong_type(capsys, tmp_path, small_benchmark_path):
    from poselift.cli.common import parse_assignments

    assert parse_assignments(["restart_optimizer=False", "batch_norm=true", "dropout=0.1"]) == {
        "restart_optimizer": False, "batch_norm": True, "dropout": 0.1}
    status, _, err = run_cli(capsys, "train", "selfsup", "--data", small_benchmark_path, "--out", tmp_path / "run",
                             "--epochs", "1", "--quiet", "--set", "batch_norm=no")
    assert_one_line_error(status, err, "batch_norm", "true or false")
    status, _, err = run_cli(capsys, "train", "baseline", "--data", small_benchmark_path, "--out", tmp_path / "run",
                             "--epochs", "1", "--quiet", "--set", "hidden_size=big")
    assert_one_line_error(status, err, "hidden_size", "number")


def test_selfsup_whose_pretraining_fills_the_run_is_refused(capsys, tmp_path, small_benchmark_path):
    status, _, err = run_cli(capsys, "train", "selfsup", "--data", small_benchmark_path, "--out", tmp_path / "run",
                             "--epochs", "2", "--quiet", "--set", "pretrain_epochs=2")
    assert_one_line_error(status, err, "pretrain_epochs=2 of 2 epochs")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_train_validation_modes(capsys, tmp_path, small_benchmark_path):
    """people: trained on the 'fit' people, validated on the 'val' ones, best.pt kept; test: the test split
    is only reported, no best.pt; none: no validation rows."""
    import json

    common = ("--data", small_benchmark_path, "--epochs", "1", "--quiet", "--batch-size", "32", "--threads", "1",
              "--set", "hidden_size=16", "num_blocks=1")
    counts = {}
    for mode in ("people", "test", "none"):
        status, out, err = run_cli(capsys, "train", "baseline", "--out", tmp_path / mode, "--validation", mode,
                                   *common)
        assert status == 0, err
        log = json.loads((tmp_path / mode / "log.json").read_text())
        assert ("val_mpjpe_mm" in log[-1]) == (mode != "none")
        assert (tmp_path / mode / "best.pt").exists() == (mode == "people")
        counts[mode] = json.loads((tmp_path / mode / "run.json").read_text())["train_samples"]
    assert counts["people"] < counts["test"] == counts["none"]
    with pytest.raises(SystemExit):
        run_cli(capsys, "train", "baseline", "--out", tmp_path / "bad", "--validation", "dev", *common)
    assert "invalid choice: 'dev'" in capsys.readouterr().err


def test_train_a_camera_aware_model_on_random_cameras_then_evaluate_it_on_them(capsys, tmp_path, small_benchmark_path):
    import json

    status, _, err = run_cli(capsys, "train", "baseline", "--data", small_benchmark_path, "--out", tmp_path / "run",
                             "--random-cameras", "--random-camera-share", "0.7", "--body-scale", "--validation", "none",
                             "--epochs", "1", "--max-steps", "3", "--batch-size", "32", "--frame-stride", "8",
                             "--threads", "1", "--quiet", "--set", "input_normalization=camera", "hidden_size=16",
                             "num_blocks=1")
    assert status == 0, err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"]["random_cameras"] == 0.7 and run["data"]["body_scale"] is True
    assert run["model"]["input_normalization"] == "camera"
    status, out, err = run_cli(capsys, "eval", tmp_path / "run" / "last.pt", "--data", small_benchmark_path,
                               "--random-cameras", "--camera-seed", "2", "--json", tmp_path / "eval.json")
    assert status == 0, err
    assert "each sample filmed by a random camera (seed 2) instead of cameras [0, 1, 2, 3]" in out
    assert json.loads((tmp_path / "eval.json").read_text())["info"]["random_cameras"]["seed"] == 2
    status, out, err = run_cli(capsys, "eval", tmp_path / "run" / "last.pt", "--data", small_benchmark_path,
                               "--random-cameras", "--random-camera-clips", "10", "--json", tmp_path / "clips.json")
    assert status == 0, err
    assert "each piece of 10 frames filmed by a random camera (seed 0)" in out
    assert json.loads((tmp_path / "clips.json").read_text())["info"]["random_cameras"]["frames_per_camera"] == 10


def test_the_command_parser_loads_no_pytorch():
    """``poselift --help`` must answer at once: building the parser imports no torch (a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys; from poselift.cli import build_parser; build_parser(); "
            "print(sorted(name for name in ('torch', 'cv2', 'matplotlib', 'scipy') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_command_group_registers_and_every_kind_is_trainable():
    from poselift.cli import build_parser
    from poselift.models.kinds import BUILTIN_MODEL_KINDS
    from poselift.models.registry import MODEL_KINDS

    assert set(BUILTIN_MODEL_KINDS) == set(MODEL_KINDS)
    parser = build_parser()
    for argv in (["data", "build", "--out", "x.npz"], ["train", "vvipe_vae", "--data", "b", "--out", "o"],
                 ["eval", "default", "--data", "b"], ["lift", "k.json", "--out", "o"], ["video", "v.mp4", "--out", "o"],
                 ["demo"], ["export-model", "a.pt", "b.pt"], ["index", "p.npz", "--model", "m", "--out", "i.npz"],
                 ["retrieve", "q.npz", "--index", "i.npz"], ["generate", "p.npz", "--model", "m", "--out", "o"]):
        assert callable(parser.parse_args(argv).handler)


def test_train_help_lists_each_kinds_default_schedule(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "baseline 11 epochs, batch 256, lr 0.001;" in text and "(not converged)" in text


def test_export_model_writes_a_float16_copy_that_lifts_like_the_checkpoint(capsys, tmp_path):
    import torch

    from poselift.checkpoint import load_checkpoint, save_checkpoint
    from poselift.lift import load_model
    from poselift.models.baseline import BaselineConfig, BaselineLifter

    torch.manual_seed(0)
    model = BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1)).eval()
    checkpoint = save_checkpoint(tmp_path / "last.pt", model=model)
    (tmp_path / "run.json").write_text(json.dumps({"command": "poselift train baseline"}))
    status, text, _ = run_cli(capsys, "export-model", checkpoint, tmp_path / "shipped.pt")
    assert status == 0 and "shipped.pt" in text
    shipped = load_checkpoint(tmp_path / "shipped.pt")
    assert shipped["optimizer_state"] is None and shipped["extra"]["export"]["run"]["command"] == "poselift train baseline"
    weights = [tensor for name, tensor in shipped["model_state"].items() if name.endswith("weight")]
    assert weights and all(tensor.dtype == torch.float16 for tensor in weights)
    keypoints = np.random.default_rng(0).uniform(300, 700, (5, 17, 2)).astype(np.float32)
    original, exported = load_model(checkpoint).lift(keypoints), load_model(tmp_path / "shipped.pt").lift(keypoints)
    assert np.abs(original - exported).max() < 1.0                      # mm: float16 weights, float32 maths
    status, _, err = run_cli(capsys, "export-model", checkpoint, tmp_path / "shipped.pt")
    assert_one_line_error(status, err, "exists")


def test_every_command_that_runs_a_model_takes_a_device(capsys, tmp_path):
    import torch

    from poselift.cli import build_parser

    parser = build_parser()
    for argv in (["lift", "k.json", "--out", "o"], ["video", "v.mp4", "--out", "o"], ["eval", "default", "--data", "b"],
                 ["index", "p.npz", "--model", "m", "--out", "i.npz"], ["retrieve", "q.npz", "--index", "i.npz"],
                 ["generate", "p.npz", "--model", "m", "--out", "o"], ["train", "baseline", "--data", "b", "--out", "o"]):
        assert parser.parse_args(argv + ["--device", "cpu"]).device == "cpu"
    if not torch.cuda.is_available():
        keypoints = tmp_path / "k.npz"
        write_keypoints_npz(keypoints, np.random.default_rng(0).uniform(300, 700, (3, 17, 2)).astype(np.float32))
        status, _, err = run_cli(capsys, "lift", keypoints, "--out", tmp_path / "out", "--device", "cuda")
        assert_one_line_error(status, err, "--device cuda", "no CUDA GPU")
