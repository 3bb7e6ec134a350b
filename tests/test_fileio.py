"""Atomic writes and output protection (poselift.fileio): nothing half-written, nothing overwritten by accident."""

import os
import stat

import numpy as np
import pytest

from poselift.errors import OutputExistsError
from poselift.fileio import atomic_path, check_output_file, prepare_output_dir, write_text_atomic


def test_atomic_path_replaces_the_file_on_success_with_the_usual_permissions(tmp_path):
    out = tmp_path / "new" / "folder" / "arrays.npz"                 # missing folders are created
    with atomic_path(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".arrays.npz.") and tmp.name.endswith(".tmp.npz")
        assert not out.exists()                                      # nothing at the destination while writing
        np.savez(tmp, values=np.arange(3))
    assert np.load(out)["values"].tolist() == [0, 1, 2]
    assert os.listdir(out.parent) == ["arrays.npz"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask          # not mkstemp's 0600


def test_a_writer_that_raises_leaves_the_old_file_and_no_partial_one(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("precious")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(out) as tmp:
            tmp.write_text("half of the new cont")
            raise RuntimeError("disk full")
    assert out.read_text() == "precious" and os.listdir(tmp_path) == ["notes.txt"]
    with pytest.raises(KeyboardInterrupt):                          # an interrupt too
        with atomic_path(tmp_path / "never.txt") as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_write_text_atomic_writes_utf8(tmp_path):
    out = tmp_path / "note.txt"
    write_text_atomic(out, "first")
    write_text_atomic(out, "Müller, 3 µm\n")
    assert out.read_bytes() == "Müller, 3 µm\n".encode("utf-8") and os.listdir(tmp_path) == ["note.txt"]


def test_output_folders_and_files_are_not_overwritten_without_force(tmp_path):
    fresh = prepare_output_dir(tmp_path / "a" / "b")
    assert fresh.is_dir() and fresh == tmp_path / "a" / "b"
    assert prepare_output_dir(fresh) == fresh                         # an empty folder is fine
    (fresh / "poses.npz").write_text("results")
    with pytest.raises(OutputExistsError, match=r"b: folder exists and is not empty \(use --force to write into it\)"):
        prepare_output_dir(fresh)
    assert prepare_output_dir(fresh, force=True) == fresh and (fresh / "poses.npz").read_text() == "results"
    with pytest.raises(OutputExistsError, match="poses.npz: exists and is not a folder"):
        prepare_output_dir(fresh / "poses.npz", force=True)

    assert check_output_file(tmp_path / "new.json") == tmp_path / "new.json"
    with pytest.raises(OutputExistsError, match=r"poses.npz: file exists \(use --force to overwrite\)"):
        check_output_file(fresh / "poses.npz")
    assert check_output_file(fresh / "poses.npz", force=True) == fresh / "poses.npz"
    assert (fresh / "poses.npz").read_text() == "results"             # checking never writes
