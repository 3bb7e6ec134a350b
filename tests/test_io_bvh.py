"""BVH reading, writing and forward kinematics on a hand-computed 3-joint fixture."""

from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io.bvh import BvhMotion, bvh_forward_kinematics, read_bvh, write_bvh

FIXTURE = Path(__file__).parent / "fixtures" / "io" / "three_joints.bvh"
CMU_CLIP = Path(__file__).parents[2] / "shared" / "data" / "cmu" / "subjects" / "001" / "001_01.bvh"


def test_reads_hierarchy_channels_and_frame_time():
    motion = read_bvh(FIXTURE)
    assert motion.joint_names == ("Hips", "Arm", "Arm_End")
    assert motion.parents == (-1, 0, 1)
    assert motion.channels == (
        ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"),
        ("Xrotation", "Yrotation", "Zrotation"),
        (),
    )
    np.testing.assert_array_equal(motion.offsets, [[0, 100, 0], [10, 0, 0], [0, 5, 0]])
    assert motion.frame_time_s == 0.04
    assert motion.motion.shape == (4, 9)
    assert motion.num_frames == 4


def test_forward_kinematics_matches_hand_computed_positions():
    positions, rotations = bvh_forward_kinematics(read_bvh(FIXTURE))
    expected = np.array(
        [
            # rest pose: offsets accumulate, root position channels add to the root OFFSET
            [[0, 100, 0], [10, 100, 0], [10, 105, 0]],
            # root moved by (1, 2, 3) and turned Rz(90); Arm turned Rz(90) more: End points down
            [[1, 102, 3], [1, 112, 3], [1, 107, 3]],
            # root Z=90 then X=90 (intrinsic Rz @ Rx): the End Site offset +Y ends up along +Z
            [[0, 100, 0], [0, 110, 0], [0, 110, 5]],
            # Arm X=90 then Z=90 (intrinsic Rx @ Rz): End Site offset +Y ends up along -X
            [[0, 100, 0], [10, 100, 0], [5, 100, 0]],
        ],
        dtype=float,
    )
    np.testing.assert_allclose(positions, expected, atol=1e-9)
    rz180 = np.diag([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(rotations[1, 2], rz180, atol=1e-12)
    np.testing.assert_allclose(rotations[0], np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12)


def test_write_then_read_gives_the_same_motion(tmp_path):
    motion = read_bvh(FIXTURE)
    noisy = BvhMotion(
        joint_names=motion.joint_names,
        parents=motion.parents,
        offsets=motion.offsets + 1e-7 / 3,
        channels=motion.channels,
        frame_time_s=1 / 120,
        motion=np.random.default_rng(0).normal(size=motion.motion.shape) * 100,
    )
    out = tmp_path / "out.bvh"
    write_bvh(out, noisy)
    assert read_bvh(out) == noisy
    assert [path.name for path in tmp_path.iterdir()] == ["out.bvh"]  # no temporary file left


def _write_broken(tmp_path, edit):
    lines = FIXTURE.read_text().splitlines()
    path = tmp_path / "broken.bvh"
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines[:-1], "line 21: file is truncated: it ends after 3 motion rows but 'Frames:' says 4"),
        (lambda lines: lines[:-1] + ["0 0 0 0 0 0 90 0"], "line 22: motion row 4 has 8 values, expected 9"),
        (lambda lines: lines[:15], "missing MOTION section"),
        (lambda lines: lines[:13] + lines[15:], "unbalanced braces: joint Arm (opened at line 6)"),
        (lambda lines: lines + ["1 2 3 4 5 6 7 8 9"], "line 23: more motion rows than 'Frames: 4'"),
        (lambda lines: lines[:4] + ["\tCHANNELS 1 Wrotation"] + lines[5:], "line 5: unknown channel 'Wrotation'"),
    ],
    ids=["truncated", "short-row", "no-motion", "unbalanced", "extra-row", "bad-channel"],
)
def test_broken_files_raise_format_error_naming_file_and_line(tmp_path, edit, message):
    path = _write_broken(tmp_path, edit)
    with pytest.raises(FormatError) as error:
        read_bvh(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


@pytest.mark.skipif(not CMU_CLIP.exists(), reason=f"real CMU data not found at {CMU_CLIP}")
def test_real_cmu_clip_is_a_person_about_1_7_m_tall_y_up():
    motion = read_bvh(CMU_CLIP)
    positions_cm, _ = bvh_forward_kinematics(motion)
    names = motion.joint_names
    frames = positions_cm[1:]  # frame 0 is the converter's T-pose
    height_cm = frames[..., 1].max(axis=1) - frames[..., 1].min(axis=1)
    assert 140 < np.median(height_cm) < 200
    head_y = frames[:, names.index("CC_Base_Head"), 1]
    hip_y = frames[:, names.index("CC_Base_Hip"), 1]
    foot_y = frames[:, names.index("CC_Base_L_Foot"), 1]
    assert np.all(head_y > hip_y) and np.all(hip_y > foot_y)
