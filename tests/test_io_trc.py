"""TRC (OpenSim's marker file): written from its specification, read back by a strict reader."""

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.io.trc import MarkerTrajectories, format_trc, read_trc, write_trc


def markers(frames=4):
    positions = np.arange(frames * 2 * 3, dtype=np.float64).reshape(frames, 2, 3) * 10.5
    positions[2, 1] = np.nan                                  # a missing marker in one frame
    return MarkerTrajectories(("pelvis", "head"), positions, 50.0, "mm")


def test_the_header_is_what_opensim_reads():
    lines = format_trc(markers(), "walk.trc").split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\twalk.trc"
    assert lines[1].split("\t") == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                                    "OrigDataStartFrame", "OrigNumFrames"]
    assert lines[2] == "50\t50\t4\t2\tmm\t50\t1\t4"
    assert lines[3] == "Frame#\tTime\tpelvis\t\t\thead\t\t"
    assert lines[4] == "\t\tX1\tY1\tZ1\tX2\tY2\tZ2" and lines[5] == ""
    assert lines[6] == "1\t0.000000\t0.0000\t10.5000\t21.0000\t31.5000\t42.0000\t52.5000"
    assert lines[8].endswith("\t\t\t") and lines[8].startswith("3\t0.040000\t")      # missing -> empty fields


def test_a_file_reads_back_exactly_and_a_broken_one_is_refused(tmp_path):
    path = write_trc(tmp_path / "walk.trc", markers())
    back = read_trc(path)
    assert back.marker_names == ("pelvis", "head") and back.rate_hz == 50.0 and back.units == "mm"
    np.testing.assert_array_equal(back.positions, markers().positions)
    lines = path.read_text().split("\n")
    (tmp_path / "short.trc").write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(FormatError, match="short.trc: the header says 4 frames, the file has 2 rows"):
        read_trc(tmp_path / "short.trc")
    (tmp_path / "keys.trc").write_text("\n".join([lines[0], "DataRate\tNumFrames"] + lines[2:]))
    with pytest.raises(FormatError, match="keys.trc: line 2"):
        read_trc(tmp_path / "keys.trc")
