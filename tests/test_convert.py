"""convert_file (poselift.convert, what ``poselift data convert`` runs): 2D and 3D files to poselift's own,
to the H36M-17 layout on request, motion capture as the benchmark maps it, and refusals that name the file.
(The BVH skeletons and the command line are tested in test_mocap_mapping.py and test_cli.py.)"""

from pathlib import Path

import numpy as np
import pytest

from poselift.convert import convert_file
from poselift.errors import FormatError, OutputExistsError, PoseliftError
from poselift.io.coco_json import read_coco_keypoints
from poselift.io.poselift_format import read_keypoints_2d, read_poses_3d
from poselift.io.records import Poses3D
from poselift.io.videopose3d import write_videopose3d_3d
from poselift.skeleton import H36M17, get_layout

FIXTURES = Path(__file__).parent / "fixtures" / "io"


def test_a_coco_file_converts_as_it_is_or_to_h36m17(tmp_path):
    summary = convert_file(FIXTURES / "coco_results.json", tmp_path / "coco.npz")
    assert summary == f"wrote {tmp_path / 'coco.npz'}: 2 frames of 2D keypoints (coco17)"
    assert read_keypoints_2d(tmp_path / "coco.npz") == read_coco_keypoints(FIXTURES / "coco_results.json")

    summary = convert_file(FIXTURES / "coco_results.json", tmp_path / "h36m.json", to_layout="h36m17")
    assert summary.endswith("2 frames of 2D keypoints (h36m17)")
    converted = read_keypoints_2d(tmp_path / "h36m.json")
    assert converted.layout == "h36m17" and converted.keypoints_2d.shape == (2, 17, 2)
    # image 1's person has COCO keypoint j at (10 + j, 20 + j): hips 11 (left) and 12 (right)
    np.testing.assert_allclose(converted.keypoints_2d[0, H36M17.index("r_hip")], [22, 32])
    np.testing.assert_allclose(converted.keypoints_2d[0, H36M17.index("pelvis")], [21.5, 31.5])
    np.testing.assert_allclose(converted.confidence[0, H36M17.index("pelvis")], 0.8, rtol=1e-6)


def test_3d_poses_of_32_joints_convert_to_h36m17_by_joint_name(tmp_path):
    names_32 = get_layout("h36m32").joint_names
    poses_mm = np.random.default_rng(0).normal(size=(5, 32, 3)).astype(np.float32) * 400
    source = tmp_path / "data_3d_h36m.npz"
    write_videopose3d_3d(source, {"S1": {"Walk": Poses3D(poses_mm, names_32, "world", layout="h36m32")}})
    assert convert_file(source, tmp_path / "same.npz").endswith("5 frames of 3D poses (h36m32)")
    assert read_poses_3d(tmp_path / "same.npz").layout == "h36m32"
    assert convert_file(source, tmp_path / "h36m17.npz", to_layout="h36m17").endswith("5 frames of 3D poses (h36m17)")
    converted = read_poses_3d(tmp_path / "h36m17.npz")
    assert converted.layout == "h36m17" and converted.frame == "world" and converted.meta["subject"] == "S1"
    expected = poses_mm[:, [names_32.index(name) for name in H36M17.joint_names]]
    np.testing.assert_allclose(converted.poses_3d, expected, rtol=1e-5, atol=1e-3)


def test_an_hdm05_clip_converts_exactly_as_the_benchmark_reads_it(shared_data, tmp_path):
    from poselift.data.sources import load_hdm05_clip

    asf = shared_data / "hdm05" / "asf" / "HDM_bd.asf"
    amc = shared_data / "hdm05" / "amc" / "bd" / "HDM_bd_hopBothLegs1hops_005_120.amc"
    summary = convert_file(amc, tmp_path / "hop.npz", asf=asf)
    clip = load_hdm05_clip(asf, amc)
    poses = read_poses_3d(tmp_path / "hop.npz")
    assert summary.endswith(f"{len(clip.poses_world_mm)} frames of H36M-17 3D poses in mm (world frame, Z up, 120 fps)")
    assert poses.layout == "h36m17" and poses.frame == "world" and poses.fps == 120.0
    assert poses.meta["units"] == "mm" and poses.meta["axes"] == "Z up" and poses.meta["source"] == str(amc)
    np.testing.assert_array_equal(poses.poses_3d, clip.poses_world_mm.astype(np.float32))
    with pytest.raises(PoseliftError, match=r"HDM_bd_hopBothLegs1hops_005_120.amc: an .amc file needs its skeleton"):
        convert_file(amc, tmp_path / "again.npz")


def test_refusals_name_the_file_and_leave_existing_outputs_alone(tmp_path):
    coco = FIXTURES / "coco_results.json"
    with pytest.raises(PoseliftError, match=r"out.csv: output must be a poselift .npz or .json file"):
        convert_file(coco, tmp_path / "out.csv")
    with pytest.raises(PoseliftError, match="--layout 'coco17': only h36m17 is supported as a conversion target"):
        convert_file(coco, tmp_path / "out.npz", to_layout="coco17")
    existing = tmp_path / "existing.json"
    existing.write_text("precious")
    with pytest.raises(OutputExistsError, match=r"existing.json: file exists \(use --force to overwrite\)"):
        convert_file(coco, existing)
    assert existing.read_text() == "precious"
    convert_file(coco, existing, force=True)
    assert read_keypoints_2d(existing).num_frames == 2
    notes = tmp_path / "notes.json"
    notes.write_text('{"hello": 1}')
    with pytest.raises(FormatError, match=r"notes.json: unrecognised 2D keypoint file"):   # the 2D reader's reason
        convert_file(notes, tmp_path / "notes_out.npz")
    assert not (tmp_path / "notes_out.npz").exists() and not (tmp_path / "out.npz").exists()
