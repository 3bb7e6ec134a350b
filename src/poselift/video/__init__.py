"""From a video to 3D poses: ``poselift video``, one module per job.

- :mod:`~poselift.video.reading`: what a video file says about itself (:func:`probe_video`), its
  frames as RGB arrays (:func:`read_frames`, :func:`read_frame`; OpenCV): poselift's one frame reader.
- :mod:`~poselift.video.detection`: MediaPipe Pose (``mediapipe==0.10.14``, whose model ships in the
  wheel, so it runs offline) on whole frames and tiles, to find the people in an image.
- :mod:`~poselift.video.tracking`: which person to follow (``--person``) and MediaPipe's tracker on a
  crop around them, frame after frame (:func:`detect_video`: a video -> a 2D track).
- :mod:`~poselift.video.pipeline`: every video end to end (:func:`run_video`): the 2D track, then the
  pipeline every input shares (:mod:`poselift.pipeline`: lifting, smoothing, exports, pictures), and
  with ``--calibration`` the triangulated views compared with the lifted ones (:mod:`poselift.multiview`).

Outputs (in ``--out``; one subfolder per video when there are several): ``keypoints_2d.json``
(poselift 2D, layout mediapipe33, the video's size and frame rate) and those of
:func:`poselift.pipeline.lift_track`. Every output uses the video's own frame rate (or ``--fps``).
Nothing here imports MediaPipe, OpenCV or PyTorch at module level.
"""
