"""One person followed through multi-person COCO and OpenPose files (lift --person)."""

import json

import numpy as np
import pytest

from poselift.cli import main
from poselift.errors import FormatError
from poselift.io import load_keypoints_2d
from poselift.io.people import follow_person


def person(x_centre: float, height: float, joints: int = 17) -> np.ndarray:
    """(J, 3) x, y, score: a vertical stick of joints centred at ``x_centre``, ``height`` px tall."""
    ys = np.linspace(100.0, 100.0 + height, joints)
    return np.stack([np.full(joints, x_centre) + np.linspace(-10, 10, joints), ys, np.full(joints, 0.9)], axis=1)


def crossing(frames: int = 12) -> list[list[np.ndarray]]:
    """A tall person walking right from x=100 and a short one walking left from x=700: they pass each
    other; the file lists them in a different order every other frame."""
    out = []
    for frame in range(frames):
        tall, short = person(100 + 50 * frame, 400), person(700 - 50 * frame, 250)
        out.append([tall, short] if frame % 2 == 0 else [short, tall])
    return out


def test_a_person_is_kept_through_a_crossing_whatever_the_order():
    frames = [[(values[:, :2], values[:, 2]) for values in frame] for frame in crossing()]
    keypoints, confidence, note = follow_person(frames, "largest", (800, 600))
    np.testing.assert_allclose(np.nanmean(keypoints[:, :, 0], axis=1), 100 + 50 * np.arange(12), atol=1e-4)
    assert "largest person from frame 0: found in 12 of 12 frames" in note
    left, _, _ = follow_person(frames, 1, (800, 600))                       # person 1 from the left: the tall one
    np.testing.assert_allclose(left, keypoints)
    right, _, _ = follow_person(frames, 2, (800, 600))
    np.testing.assert_allclose(np.nanmean(right[:, :, 0], axis=1), 700 - 50 * np.arange(12), atol=1e-4)
    nobody, _, note = follow_person(frames, 3, (800, 600))
    assert np.isnan(nobody).all() and "nobody matches" in note


def test_coco_results_and_openpose_folders_take_a_person(tmp_path, capsys):
    entries = [{"image_id": frame, "category_id": 1, "keypoints": values.ravel().tolist(), "score": 0.9}
               for frame, people in enumerate(crossing()) for values in people]
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps(entries))
    followed = load_keypoints_2d(coco, person=2)
    np.testing.assert_allclose(np.nanmean(followed.keypoints_2d[:, :, 0], axis=1), 700 - 50 * np.arange(12), atol=1e-3)
    assert "person 2 from the left" in followed.notes[0]
    folder = tmp_path / "openpose"
    folder.mkdir()
    for frame, people in enumerate(crossing()):
        body25 = [np.concatenate([values, values[:8]]) for values in people]          # 25 joints from 17 + 8
        (folder / f"clip_{frame:012d}_keypoints.json").write_text(json.dumps(
            {"people": [{"pose_keypoints_2d": values.ravel().tolist()} for values in body25]}))
    tall = load_keypoints_2d(folder, person="largest")
    np.testing.assert_allclose(np.nanmean(tall.keypoints_2d[:, :17, 0], axis=1), 100 + 50 * np.arange(12), atol=1e-3)
    with pytest.raises(FormatError, match="the option 'subject' does not apply"):
        load_keypoints_2d(tmp_path / "results.json", person=1, subject="S1")
    assert main(["lift", str(coco), "--out", str(tmp_path / "out"), "--subject", "S1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.json: the option 'subject' does not apply" in err
