"""Counts in messages: "1 frame", "2 frames", "1 person", "3 people"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` and the noun that agrees with it: ``count(1, "frame")`` -> "1 frame", ``count(2, "frame")``
    -> "2 frames", ``count(2, "person", "people")`` -> "2 people" (``plural`` defaults to singular + "s")."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"
