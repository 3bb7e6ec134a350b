"""ASF/AMC reading and forward kinematics on a hand-computed 3-bone fixture."""

from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io.asf_amc import asf_forward_kinematics, read_amc, read_asf

FIXTURES = Path(__file__).parent / "fixtures" / "io"
HDM05 = Path(__file__).parents[2] / "shared" / "data" / "hdm05"
MM = 50.8  # the fixture's ":units length 0.5": one unit = 2 inch


def test_reads_units_root_bones_and_hierarchy():
    skeleton = read_asf(FIXTURES / "tiny.asf")
    assert skeleton.name == "tiny"
    assert skeleton.length_unit_mm == pytest.approx(MM)
    assert skeleton.angle_unit == "deg"
    assert skeleton.root_order == ("TX", "TY", "TZ", "RX", "RY", "RZ")
    assert skeleton.root_axis == "XYZ"
    assert skeleton.bone_names == ("upper", "lower", "fixed")
    assert skeleton.bone_parents == (-1, 0, -1)
    assert skeleton.joint_names == ("root", "upper", "lower", "fixed")
    assert skeleton.joint_parents == (-1, 0, 1, 0)
    assert skeleton.dofs == (("rx", "ry", "rz"), ("rx",), ())
    np.testing.assert_array_equal(skeleton.axes[1], [0, 0, 90])
    np.testing.assert_array_equal(skeleton.lengths, [10, 5, 2])


def test_reads_latin1_motion_frames():
    motion = read_amc(FIXTURES / "tiny.amc", read_asf(FIXTURES / "tiny.asf"))
    np.testing.assert_array_equal(motion.frame_numbers, [1, 2, 3])
    np.testing.assert_array_equal(motion.root_values[0], [1, 2, 3, 0, 0, 0])
    assert set(motion.bone_values) == {"upper", "lower"}
    np.testing.assert_array_equal(motion.bone_values["lower"][:, 0], [0, 90, 0])


def test_forward_kinematics_matches_hand_computed_bone_ends():
    skeleton = read_asf(FIXTURES / "tiny.asf")
    names, positions_mm = asf_forward_kinematics(skeleton, read_amc(FIXTURES / "tiny.amc", skeleton))
    assert names == ("root", "upper", "lower", "fixed")
    expected_units = np.array(
        [
            # frame 1: rest pose translated by (1, 2, 3)
            [[1, 2, 3], [1, 12, 3], [6, 12, 3], [1, 2, 5]],
            # frame 2: root Ry(90), upper rz 90, lower rx 90 about its axis (C = Rz 90) = Ry(90)
            [[0, 0, 0], [0, 0, 10], [-5, 0, 10], [2, 0, 0]],
            # frame 3: upper rx 90 then rz 90 (M = Rz @ Rx)
            [[0, 0, 0], [0, 0, 10], [0, 5, 10], [0, 0, 2]],
        ],
        dtype=float,
    )
    np.testing.assert_allclose(positions_mm, expected_units * MM, atol=1e-9)


def test_amc_frame_missing_a_bone_names_file_frame_and_bone(tmp_path):
    text = (FIXTURES / "tiny.amc").read_bytes().decode("latin-1").replace("upper 0 0 90\n", "")
    path = tmp_path / "missing.amc"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FormatError) as error:
        read_amc(path, read_asf(FIXTURES / "tiny.asf"))
    message = str(error.value)
    assert message.startswith(str(path)) and "frame 2" in message and "'upper'" in message


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("lower 90\n", "lower 90 1\n", "line 11: frame 2, bone 'lower' has 2 values, expected 1"),
        ("lower 90\n", "hand 90\n", "line 11: frame 2 names bone 'hand'"),
    ],
)
def test_amc_bad_lines_name_the_line(tmp_path, old, new, message):
    text = (FIXTURES / "tiny.amc").read_bytes().decode("latin-1").replace(old, new)
    path = tmp_path / "bad.amc"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FormatError, match=message):
        read_amc(path, read_asf(FIXTURES / "tiny.asf"))


def test_asf_hierarchy_with_unknown_bone_names_the_line(tmp_path):
    path = tmp_path / "bad.asf"
    path.write_text((FIXTURES / "tiny.asf").read_text().replace("upper lower", "upper elbow"))
    with pytest.raises(FormatError, match=r"line \d+: hierarchy names unknown bone 'elbow'"):
        read_asf(path)


@pytest.mark.skipif(not (HDM05 / "asf" / "HDM_bd.asf").exists(), reason=f"real HDM05 data not found in {HDM05}")
def test_real_hdm05_clip_is_a_person_about_1_7_m_tall_y_up():
    skeleton = read_asf(HDM05 / "asf" / "HDM_bd.asf")
    clip = sorted((HDM05 / "amc" / "bd").glob("HDM_bd_jog*.amc"))[0]
    names, positions_mm = asf_forward_kinematics(skeleton, read_amc(clip, skeleton))
    head_y = positions_mm[:, names.index("head"), 1]
    toes_y = np.minimum(positions_mm[:, names.index("ltoes"), 1], positions_mm[:, names.index("rtoes"), 1])
    height_mm = np.median(head_y - toes_y)
    assert 1400 < height_mm < 2000
    assert np.all(positions_mm[:, names.index("root"), 1] > toes_y)
