"""Project exceptions.

Every error a user can cause (a bad file, a wrong shape, an unknown layout) is raised as a
:class:`PoseliftError` whose message names the file, field, shape or joint at fault. The CLI
prints that message on one line and exits non-zero; it never shows a traceback for these.
"""


class PoseliftError(Exception):
    """Base class of all errors caused by the user's input or environment."""


class FormatError(PoseliftError):
    """A file could not be parsed: truncated, malformed or of the wrong kind.

    The message always starts with the file path.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ShapeError(PoseliftError):
    """An array has the wrong shape or contains unusable values (NaN, inf)."""


class LayoutError(PoseliftError):
    """An unknown keypoint layout, or a joint that a layout does not have."""


class OutputExistsError(PoseliftError):
    """An output would overwrite something the user has (use ``--force`` to allow)."""
