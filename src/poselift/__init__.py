"""poselift: lift 2D human keypoints to 3D poses.

Units: millimetres in 3D, pixels in 2D, unless a name says otherwise.
"""

__version__ = "0.1.0"
