"""poselift: lift 2D human keypoints to 3D poses.

Units: millimetres in 3D, pixels in 2D, unless a name says otherwise.

    >>> import poselift
    >>> model = poselift.load_model()            # the default model shipped with the package
    >>> poses_mm = model.lift(keypoints_2d_px)    # (T, 17, 2) H36M-17 px -> (T, 17, 3) mm

``load_model`` is imported on first use (PEP 562), so ``import poselift`` (and ``poselift --help``)
does not load PyTorch.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str):
    if name == "load_model":
        from poselift.lift import load_model

        return load_model
    raise AttributeError(f"module 'poselift' has no attribute {name!r}")
