"""BVH and CSV export: rotations solved from positions read back to the same positions."""

from pathlib import Path

import numpy as np
import pytest

from poselift.errors import PoseliftError, ShapeError
from poselift.export import (BVH_JOINTS, REST_DIRECTIONS, bvh_h36m_positions, camera_to_bvh_frame, export_bvh,
                             fill_missing_frames, fixed_length_positions, format_csv, median_bone_lengths,
                             poses_to_bvh, skeleton_bone_lengths)
from poselift.io.bvh import bvh_forward_kinematics, read_bvh, write_bvh
from poselift.io.records import Poses3D
from poselift.skeleton import H36M17

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
BONE_LENGTHS_MM = {"r_hip": 100, "r_knee": 400, "r_ankle": 420, "l_hip": 100, "l_knee": 400, "l_ankle": 420,
                   "spine": 250, "thorax": 250, "neck": 120, "head": 130, "l_shoulder": 180, "l_elbow": 280,
                   "l_wrist": 250, "r_shoulder": 180, "r_elbow": 280, "r_wrist": 250}


def t_pose_bvh_frame(pelvis=(0.0, 1000.0, 0.0)) -> np.ndarray:
    """(17, 3) mm: the exporter's rest pose (T-pose, Y up, facing +Z) built by hand from bone lengths."""
    pose = np.zeros((17, 3))
    pose[0] = pelvis
    for joint, parent in enumerate(H36M17.parents):
        if parent >= 0:
            name = H36M17.joint_names[joint]
            pose[joint] = pose[parent] + BONE_LENGTHS_MM[name] * np.array(REST_DIRECTIONS[name])
    return pose


def round_trip(tmp_path, positions_mm, fps=50.0):
    """poses_to_bvh -> write_bvh -> read_bvh -> forward kinematics, H36M-17 order."""
    path = tmp_path / "motion.bvh"
    write_bvh(path, poses_to_bvh(positions_mm, fps))
    motion = read_bvh(path)
    return motion, bvh_h36m_positions(motion)


def test_t_pose_has_zero_rotations_and_reads_back(tmp_path):
    rest = t_pose_bvh_frame()
    motion, back = round_trip(tmp_path, np.stack([rest, rest + [10.0, 0.0, 0.0]]))
    rotation_columns = np.array([channel.endswith("rotation") for joint in motion.channels for channel in joint])
    np.testing.assert_allclose(motion.motion[:, rotation_columns], 0.0, atol=1e-9)
    np.testing.assert_allclose(motion.motion[:, :3], [[0.0, 1000.0, 0.0], [10.0, 1000.0, 0.0]])
    np.testing.assert_allclose(back, np.stack([rest, rest + [10.0, 0.0, 0.0]]), atol=1e-9)
    assert motion.frame_time_s == pytest.approx(0.02)
    end_sites = [joint.name for joint in BVH_JOINTS if joint.rotation is None]
    assert end_sites == ["r_toes_End", "l_toes_End", "neck_End", "l_hand_End", "r_hand_End"]
    # hands and toes of anthropometric size beyond the wrists and ankles (Winter's table), by hand
    everything, _ = bvh_forward_kinematics(motion)
    at = {name: everything[0, number] for number, name in enumerate(motion.joint_names)}
    np.testing.assert_allclose(at["l_hand_End"] - at["l_wrist"], [250 * 0.108 / 0.146, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(at["r_hand_End"] - at["r_wrist"], [-250 * 0.108 / 0.146, 0.0, 0.0], atol=1e-6)
    shin = BONE_LENGTHS_MM["r_ankle"]
    np.testing.assert_allclose(at["r_toes_End"] - at["r_ankle"], [0.0, -shin * 0.039 / 0.246, shin * 0.115 / 0.246],
                               atol=1e-6)


def test_a_bent_pose_with_fixed_bones_reads_back_exactly(tmp_path):
    """Rotate limbs and the trunk by hand: constant bone lengths, so the file plays it back exactly."""
    rng = np.random.default_rng(0)
    rest = t_pose_bvh_frame()
    frames = []
    for _ in range(5):
        pose = rest.copy()
        directions = rng.normal(size=(17, 3))        # every bone pointing somewhere else, same lengths
        for joint, parent in enumerate(H36M17.parents):
            if parent >= 0:
                pose[joint] = pose[parent] + BONE_LENGTHS_MM[H36M17.joint_names[joint]] * directions[joint] / np.linalg.norm(directions[joint])
        frames.append(pose)
    positions = np.stack(frames)
    np.testing.assert_allclose(median_bone_lengths(positions)[1:], [BONE_LENGTHS_MM[n] for n in H36M17.joint_names[1:]])
    _, back = round_trip(tmp_path, positions)
    np.testing.assert_allclose(back, positions, atol=1e-6)


def test_real_mocap_reads_back_within_a_few_mm(tmp_path):
    """CMU motion capture as H36M-17: the file plays the fixed-length skeleton exactly, which is within
    a few mm of the original joints (its derived joints change length a little)."""
    bvh = SHARED_DATA / "cmu" / "subjects" / "001" / "001_01.bvh"
    if not bvh.is_file():
        pytest.skip(f"real data not found at {bvh}")
    from poselift.data.sources import load_cmu_clip

    clip = load_cmu_clip(bvh, {})
    positions = clip.poses_world_mm[:240] @ Z_UP_TO_Y_UP.T
    motion, back = round_trip(tmp_path, positions, clip.fps)
    expected = fixed_length_positions(positions, skeleton_bone_lengths(positions))
    np.testing.assert_allclose(back, expected, atol=1e-6)
    distance = np.linalg.norm(back - positions, axis=-1)
    assert distance.mean() < 3.0
    assert motion.num_frames == 240 and motion.fps == pytest.approx(clip.fps)


def test_the_skeleton_is_the_medians_with_left_and_right_alike():
    """Left bones 10 % longer than the right and every bone's length jittering: the skeleton's left and right
    bones are the mean of their two medians, and the poses fitted to it keep those lengths in every frame."""
    rng = np.random.default_rng(3)
    rest = t_pose_bvh_frame()
    frames = []
    for _ in range(9):
        pose = rest.copy()
        for joint, parent in enumerate(H36M17.parents):
            if parent >= 0:
                name = H36M17.joint_names[joint]
                length = BONE_LENGTHS_MM[name] * (1.1 if name.startswith("l_") else 1.0) * rng.uniform(0.9, 1.1)
                direction = rng.normal(size=3)
                pose[joint] = pose[parent] + length * direction / np.linalg.norm(direction)
        frames.append(pose)
    positions = np.stack(frames)
    positions[4] = np.nan                                             # a frame the lifter could not lift
    medians = median_bone_lengths(positions)
    lengths = skeleton_bone_lengths(positions)
    for left, right in H36M17.left_right:
        assert lengths[left] == lengths[right] == pytest.approx((medians[left] + medians[right]) / 2)
    assert lengths[H36M17.index("l_elbow")] < medians[H36M17.index("l_elbow")]               # the longer side shrinks
    np.testing.assert_array_equal(lengths[H36M17.index("spine")], medians[H36M17.index("spine")])
    fitted = fixed_length_positions(positions, lengths)
    parents = np.array(H36M17.parents)
    fitted_lengths = np.linalg.norm(fitted[:, 1:] - fitted[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(np.delete(fitted_lengths, 4, axis=0), np.broadcast_to(lengths[1:], (8, 16)), atol=1e-9)
    assert np.isnan(fitted[4]).all()


def test_fixed_length_positions_moves_each_joint_by_its_own_bone_only():
    pose = t_pose_bvh_frame()
    longer = pose.copy()
    longer[H36M17.index("r_knee")] += [0.0, -40.0, 0.0]      # thigh 40 mm too long, shin unchanged
    longer[H36M17.index("r_ankle")] += [0.0, -40.0, 0.0]
    lengths = median_bone_lengths(pose[None])
    fixed = fixed_length_positions(longer[None], lengths)[0]
    np.testing.assert_allclose(fixed[H36M17.index("r_knee")], pose[H36M17.index("r_knee")], atol=1e-9)
    # the shin points from the corrected knee at the lifted ankle: ankle 40 mm off, not 80
    assert np.linalg.norm(fixed[H36M17.index("r_ankle")] - longer[H36M17.index("r_ankle")]) == pytest.approx(40.0)


def test_camera_to_bvh_frame_turns_upright_and_puts_feet_on_the_floor_under_the_root():
    rest = t_pose_bvh_frame(pelvis=(0.0, 0.0, 0.0))
    ankle_height = BONE_LENGTHS_MM["r_knee"] + BONE_LENGTHS_MM["r_ankle"]
    # the T-pose seen by a camera 3 m away, walking 200 mm to its right over three frames: the path is
    # kept, centred on the root's median position, feet on the floor
    path = np.array([[-200.0, 0.0, 3000.0], [0.0, 0.0, 3000.0], [200.0, 0.0, 3000.0]])
    camera = rest * [1.0, -1.0, -1.0] + path[:, None]
    bvh_frame = camera_to_bvh_frame(camera)
    expected = rest + [0.0, ankle_height, 0.0] + np.array([-200.0, 0.0, 200.0])[:, None, None] * [1.0, 0.0, 0.0]
    np.testing.assert_allclose(bvh_frame, expected, atol=1e-9)


def test_fill_missing_frames_interpolates_and_holds_the_ends():
    poses = np.zeros((5, 17, 3))
    poses[:, :, 0] = np.arange(5)[:, None] * 10.0
    poses[[0, 2]] = np.nan
    filled, count = fill_missing_frames(poses)
    assert count == 2
    np.testing.assert_allclose(filled[:, 0, 0], [10.0, 10.0, 20.0, 30.0, 40.0])
    with pytest.raises(ShapeError, match="no frame"):
        fill_missing_frames(np.full((3, 17, 3), np.nan))


def test_export_bvh_of_camera_frame_poses(tmp_path):
    rest = t_pose_bvh_frame(pelvis=(0.0, 0.0, 0.0))
    camera = np.stack([rest * [1.0, -1.0, -1.0]] * 4).astype(np.float32)
    camera[2] = np.nan                                           # a frame the lifter could not lift
    poses = Poses3D(poses_3d=camera, joint_names=H36M17.joint_names, frame="camera", fps=25.0, layout="h36m17")
    report = export_bvh(tmp_path / "out.bvh", poses, unit="mm")
    assert (report.frames, report.frames_filled) == (4, 1)
    assert report.mean_distance_mm < 1e-3
    motion = read_bvh(tmp_path / "out.bvh")
    assert motion.frame_time_s == pytest.approx(0.04)
    np.testing.assert_allclose(motion.motion[:, 3:], 0.0, atol=1e-6)
    assert export_bvh(tmp_path / "m.bvh", poses).unit == "m"                                  # the default unit
    in_metres = read_bvh(tmp_path / "m.bvh")
    np.testing.assert_allclose(bvh_h36m_positions(in_metres) * 1000.0, bvh_h36m_positions(motion), atol=1e-6)
    with pytest.raises(PoseliftError, match="out2.bvh: BVH unit must be one of m, cm, mm"):
        export_bvh(tmp_path / "out2.bvh", poses, unit="inch")


def test_world_frame_poses_keep_their_root_trajectory_in_the_bvh(tmp_path):
    world = np.stack([t_pose_bvh_frame(pelvis=(0.0, 0.0, 0.0)) @ np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])]
                     * 5)                                          # the T-pose turned Z up
    world = world + np.linspace(0.0, 2000.0, 5)[:, None, None] * np.array([1.0, 0.0, 0.0])   # walking 2 m along x
    poses = Poses3D(poses_3d=world.astype(np.float32), joint_names=H36M17.joint_names, frame="world", fps=25.0,
                    layout="h36m17")
    export_bvh(tmp_path / "walk.bvh", poses, unit="m")
    played = bvh_h36m_positions(read_bvh(tmp_path / "walk.bvh")) * 1000.0
    np.testing.assert_allclose(played[:, 0, 0], np.linspace(0.0, 2000.0, 5), atol=1e-3)     # the root moves


def test_csv_rows_and_missing_values():
    poses_mm = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3)
    poses_mm[1, 3] = np.nan
    text = format_csv(Poses3D(poses_3d=poses_mm, joint_names=H36M17.joint_names, frame="camera", fps=50.0))
    header, first, second = text.splitlines()
    assert header.split(",")[:5] == ["frame", "time_s", "pelvis_x_mm", "pelvis_y_mm", "pelvis_z_mm"]
    assert len(header.split(",")) == 2 + 17 * 3
    assert first.split(",")[:4] == ["0", "0.000000", "0.00", "1.00"]
    cells = second.split(",")
    assert cells[1] == "0.020000" and cells[2] == "51.00"
    assert cells[2 + 9:2 + 12] == ["", "", ""]                 # joint 3 (r_ankle) missing in frame 1


def _walking_poses(frames=30):
    """Camera-frame H36M-17 poses of the benchmark's standing pose, facing the camera 4 m away, swaying."""
    from poses import standing_pose_mm

    world = standing_pose_mm()                                   # Z up, facing +X
    camera = np.stack([world[:, 1], -world[:, 2], -world[:, 0]], axis=-1) + np.array([0.0, 0.0, 4000.0])
    sway = np.sin(np.arange(frames) / 5.0)[:, None, None] * np.array([30.0, 0.0, 0.0])
    return camera[None] + sway


def test_world_positions_put_the_feet_on_the_floor_with_the_chosen_axis_up():
    from poselift.export import world_positions

    poses = _walking_poses()
    y_up, z_up = world_positions(poses, "camera", "y"), world_positions(poses, "camera", "z")
    head, ankle = H36M17.index("head"), H36M17.index("l_ankle")
    assert np.allclose(np.median(np.minimum(y_up[:, ankle, 1], y_up[:, H36M17.index("r_ankle"), 1])), 0.0)
    assert (y_up[:, head, 1] > 1500).all() and (z_up[:, head, 2] > 1500).all()
    np.testing.assert_allclose(z_up[..., 2], y_up[..., 1])       # the same heights, only the axis differs
    np.testing.assert_allclose(np.linalg.norm(z_up - z_up[:, :1], axis=-1), np.linalg.norm(poses - poses[:, :1], axis=-1))
    world = world_positions(z_up, "world", "z")                 # a z-up world keeps its own floor
    np.testing.assert_allclose(world, z_up, atol=1e-9)
    np.testing.assert_allclose(world_positions(y_up, "world", "z", world_up="y"), z_up, atol=1e-9)   # its up read
    np.testing.assert_allclose(world_positions(y_up, "world", "y", world_up="y"), y_up, atol=1e-9)
    with pytest.raises(PoseliftError, match="up axis"):
        world_positions(poses, "camera", "x")


def test_trc_and_c3d_exports_read_back_as_the_markers_they_wrote(tmp_path):
    from poselift.export import export_c3d, export_trc, world_positions
    from poselift.io.c3d import read_c3d
    from poselift.io.trc import read_trc

    poses = Poses3D(_walking_poses().astype(np.float32), H36M17.joint_names, "camera", fps=60.0, layout="h36m17")
    expected = world_positions(poses.poses_3d, "camera", "z")
    trc = read_trc(export_trc(tmp_path / "walk.trc", poses, up="z"))
    assert trc.marker_names == H36M17.joint_names and trc.rate_hz == 60.0 and trc.units == "mm"
    np.testing.assert_allclose(trc.positions, expected, atol=1e-4)
    pytest.importorskip("ezc3d", reason='C3D needs ezc3d: pip install "poselift[export]"')
    c3d = read_c3d(export_c3d(tmp_path / "walk.c3d", poses, up="z"))
    assert c3d.marker_names == H36M17.joint_names and c3d.rate_hz == 60.0 and c3d.units == "mm"
    np.testing.assert_allclose(c3d.positions, expected, atol=1e-3)


def test_opensim_reads_the_trc(tmp_path):
    """OpenSim's own reader (``pip install opensim``), where it installs; the strict reader above otherwise."""
    opensim = pytest.importorskip("opensim", reason="OpenSim's Python package is not installed")
    from poselift.export import export_trc

    poses = Poses3D(_walking_poses().astype(np.float32), H36M17.joint_names, "camera", fps=60.0, layout="h36m17")
    path = export_trc(tmp_path / "walk.trc", poses)
    table = opensim.TimeSeriesTableVec3(str(path))
    assert table.getNumRows() == 30 and list(table.getColumnLabels()) == list(H36M17.joint_names)
    head = table.getDependentColumn("head")
    assert head[0][1] > 1500                                           # y up, mm


def test_blenders_own_importer_reads_the_bvh_joint_by_joint(tmp_path):
    """Blender (Debian's package, headless) imports the BVH with its BVH importer; every joint in every
    frame matches poselift's forward kinematics (scripts/blender_bvh_check.py)."""
    import shutil
    import sys

    if shutil.which("blender") is None:
        pytest.skip("no Blender here (Debian: apt install blender)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from blender_bvh_check import compare

    poses = Poses3D(_walking_poses(12).astype(np.float32), H36M17.joint_names, "camera", fps=30.0, layout="h36m17")
    export_bvh(tmp_path / "walk.bvh", poses)
    names, distances = compare(tmp_path / "walk.bvh")
    assert distances.shape == (12, len(BVH_JOINTS)) and distances.max() < 0.01          # mm
