"""Counts in messages agree with their number."""

from poselift.wording import count


def test_count_agrees_with_its_number():
    assert count(1, "frame") == "1 frame" and count(0, "frame") == "0 frames" and count(2, "frame") == "2 frames"
    assert count(1, "person", "people") == "1 person" and count(3, "person", "people") == "3 people"
