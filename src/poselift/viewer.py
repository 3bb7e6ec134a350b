"""A viewer for one result: a single self-contained HTML file (no network: data, script and video inline).

It plays the 3D skeleton (world frame, y up, feet on the floor, :func:`poselift.export.world_positions`)
in sync with the video when there is one: the video's own clock drives the frame shown, so pausing,
seeking or scrubbing the video moves the skeleton too. Drag the 3D view to turn it (yaw and pitch),
scrub with the slider, play and pause with the button or the space bar. Each joint is drawn in the
colour of its 2D confidence (green 1, yellow 0.5, red 0; grey: missing), left limbs blue, right limbs
red, a 0.5 m floor grid and a 1 m scale bar.

Videos larger than :data:`MAX_EMBEDDED_VIDEO_MB` are not embedded (the page would be too heavy to
open); the page then refers to the video by its relative path and says so.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np

from poselift.fileio import write_text_atomic
from poselift.io.records import Poses3D
from poselift.skeleton import H36M17

MAX_EMBEDDED_VIDEO_MB = 50.0
MAX_FRAMES = 20_000                  # a longer clip shows every k-th frame, so the page stays light
_VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/mp4", ".m4v": "video/mp4"}


def viewer_data(poses: Poses3D, confidence: np.ndarray | None) -> dict:
    """What the page draws: positions (T', 17, 3) mm rounded to 0.1 mm (None where missing), the
    skeleton's bones and sides, per-joint confidences (T', 17) rounded to 0.01, and the rate of the
    frames shown. A clip longer than :data:`MAX_FRAMES` keeps every ``step``-th frame (T' = T / step,
    the rate divided by ``step``, so the page stays in sync with the video)."""
    from poselift.export import world_positions

    total = poses.num_frames
    step = max(1, -(-total // MAX_FRAMES))
    positions = world_positions(poses.poses_3d, poses.frame, "y", poses.up)[::step]
    if confidence is not None:
        confidence = np.asarray(confidence)[::step]
    finite = np.isfinite(positions).all(axis=-1)
    rounded = np.round(np.where(finite[..., None], positions, 0.0), 1)
    frames = [[list(map(float, joint)) if ok else None for joint, ok in zip(frame, frame_ok)]
              for frame, frame_ok in zip(rounded, finite)]
    left = {index for pair in H36M17.left_right for index in pair[:1]}
    right = {index for pair in H36M17.left_right for index in pair[1:]}
    side = ["l" if joint in left else "r" if joint in right else "c" for joint in range(H36M17.num_joints)]
    if confidence is None:
        confidence = np.where(finite, 1.0, 0.0)
    return {"fps": float(poses.fps or 30.0) / step, "step": step, "total_frames": total,
            "joints": list(H36M17.joint_names), "parents": list(H36M17.parents),
            "side": side, "positions": frames,
            "confidence": np.round(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 2).tolist()}


def _video_source(video: str | os.PathLike | None, page: Path) -> tuple[str | None, str]:
    """(the <video> src: a data URI, or a relative path for a large file; a note for the page)."""
    if video is None:
        return None, ""
    video = Path(video)
    size_mb = video.stat().st_size / 1e6
    if size_mb > MAX_EMBEDDED_VIDEO_MB:
        relative = os.path.relpath(video.resolve(), page.resolve().parent)
        return relative, (f"The video ({size_mb:.0f} MB) is not embedded: this page plays {relative} beside it; "
                          "keep the two together.")
    kind = _VIDEO_TYPES.get(video.suffix.lower(), "video/mp4")
    return f"data:{kind};base64,{base64.b64encode(video.read_bytes()).decode('ascii')}", ""


def write_viewer(path: str | os.PathLike, poses: Poses3D, confidence: np.ndarray | None = None,
                 video: str | os.PathLike | None = None, title: str = "poselift") -> Path:
    """Write the viewer page of ``poses`` (H36M-17, any frame poselift exports) to ``path``, atomically.

    Args:
        confidence: (T, 17) 2D confidences shown per joint, or None (1 where lifted).
        video: the video the poses come from (embedded, see the module doc), or None.
    """
    path = Path(path)
    data = viewer_data(poses, confidence)
    source, note = _video_source(video, path)
    video_tag = (f'<video id="video" src="{html.escape(source)}" muted playsinline></video>' if source else "")
    page = (_TEMPLATE.replace("__TITLE__", html.escape(title))
            .replace("__VIDEO__", video_tag)
            .replace("__NOTE__", html.escape(note))
            .replace("__DATA__", json.dumps(data, separators=(",", ":"))))
    write_text_atomic(path, page)
    return path


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: sans-serif; margin: 12px; background: #fafafa; color: #222; }
#views { display: flex; gap: 12px; align-items: flex-start; flex-wrap: wrap; }
video { max-height: 540px; max-width: 48vw; background: #000; }
canvas { background: #fff; border: 1px solid #ccc; cursor: grab; }
#controls { margin-top: 8px; display: flex; gap: 10px; align-items: center; }
#slider { width: 420px; }
.legend span { display: inline-block; margin-right: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle; margin-right: 4px; }
</style></head>
<body>
<h3>__TITLE__</h3>
<div id="views">__VIDEO__<canvas id="view" width="560" height="560"></canvas></div>
<div id="controls"><button id="play">play</button><input id="slider" type="range" min="0" value="0">
<span id="label"></span></div>
<p class="legend"><span><i class="swatch" style="background:#1f5fd6"></i>left</span>
<span><i class="swatch" style="background:#d62728"></i>right</span>
<span>joint colour = 2D confidence: <i class="swatch" style="background:#2ca02c"></i>1
<i class="swatch" style="background:#e6c700"></i>0.5 <i class="swatch" style="background:#d62728"></i>0
<i class="swatch" style="background:#999"></i>missing</span>
<span>grid 0.5 m, drag to turn</span></p>
<p>__NOTE__</p>
<script>
const DATA = __DATA__;
const frames = DATA.positions.length;
const canvas = document.getElementById("view"), ctx = canvas.getContext("2d");
const slider = document.getElementById("slider"), label = document.getElementById("label");
const button = document.getElementById("play"), video = document.getElementById("video");
slider.max = frames - 1;
let frame = 0, yaw = 0.6, pitch = 0.25, playing = false, lastTime = null, clock = 0;
const RED = [214, 39, 40], YELLOW = [230, 199, 0], GREEN = [44, 160, 44];
function confidenceColour(c) {      // 0 red -> 0.5 yellow -> 1 green
  const [a, b, t] = c < 0.5 ? [RED, YELLOW, c * 2] : [YELLOW, GREEN, (c - 0.5) * 2];
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * t)).join(",")})`;
}
function project(p) {               // world mm (y up) -> canvas px: turn by yaw about y, pitch about x
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const x = cy * p[0] + sy * p[2], z = -sy * p[0] + cy * p[2];
  const y = cp * p[1] - sp * z;
  const scale = canvas.width / 2600;
  return [canvas.width / 2 + x * scale, canvas.height * 0.88 - y * scale];
}
function centre(poses) {            // the clip's mean pelvis on the floor, so the body stays in view
  let sx = 0, sz = 0, n = 0;
  for (const pose of poses) { if (pose[0]) { sx += pose[0][0]; sz += pose[0][2]; n++; } }
  return n ? [sx / n, 0, sz / n] : [0, 0, 0];
}
const middle = centre(DATA.positions);
function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#e3e3e3"; ctx.lineWidth = 1;
  for (let i = -4; i <= 4; i++) {
    let a = project([i * 500, 0, -2000]), b = project([i * 500, 0, 2000]);
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    a = project([-2000, 0, i * 500]); b = project([2000, 0, i * 500]);
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }
  const s0 = project([-500, 0, -1500]), s1 = project([500, 0, -1500]);
  ctx.strokeStyle = "#444"; ctx.lineWidth = 3; ctx.beginPath(); ctx.moveTo(s0[0], s0[1]); ctx.lineTo(s1[0], s1[1]); ctx.stroke();
  ctx.fillStyle = "#444"; ctx.font = "12px sans-serif"; ctx.fillText("1 m", (s0[0] + s1[0]) / 2 - 10, s0[1] - 6);
  const pose = DATA.positions[frame].map(p => p && [p[0] - middle[0], p[1], p[2] - middle[2]]);
  const points = pose.map(p => p && project(p));
  ctx.lineWidth = 4;
  DATA.parents.forEach((parent, joint) => {
    if (parent < 0 || !points[joint] || !points[parent]) return;
    ctx.strokeStyle = DATA.side[joint] === "l" ? "#1f5fd6" : DATA.side[joint] === "r" ? "#d62728" : "#555";
    ctx.beginPath(); ctx.moveTo(points[parent][0], points[parent][1]); ctx.lineTo(points[joint][0], points[joint][1]); ctx.stroke();
  });
  points.forEach((q, joint) => {
    const c = DATA.confidence[frame][joint];
    ctx.fillStyle = q && c > 0 ? confidenceColour(c) : "#999";
    if (!q) return;
    ctx.beginPath(); ctx.arc(q[0], q[1], 5, 0, 2 * Math.PI); ctx.fill();
  });
  slider.value = frame;
  label.textContent = `frame ${frame * DATA.step + 1} / ${DATA.total_frames}, ${(frame / DATA.fps).toFixed(2)} s` +
    (DATA.step > 1 ? ` (every ${DATA.step}th frame shown)` : "");
}
function show(index) { frame = Math.max(0, Math.min(frames - 1, index)); draw(); }
function tick(time) {
  if (video) { show(Math.floor(video.currentTime * DATA.fps + 1e-6)); }
  else if (playing) {
    if (lastTime !== null) clock += (time - lastTime) / 1000;
    lastTime = time; show(Math.floor(clock * DATA.fps) % frames);
  }
  requestAnimationFrame(tick);
}
function toggle() {
  playing = !playing; button.textContent = playing ? "pause" : "play"; lastTime = null;
  if (video) { if (playing) video.play(); else video.pause(); }
}
button.onclick = toggle;
document.addEventListener("keydown", e => { if (e.code === "Space") { e.preventDefault(); toggle(); } });
slider.oninput = () => {
  const index = Number(slider.value);
  if (video) video.currentTime = (index + 0.5) / DATA.fps; else { clock = index / DATA.fps; show(index); }
};
if (video) video.onended = () => { playing = false; button.textContent = "play"; };
let drag = null;
canvas.onmousedown = e => { drag = [e.clientX, e.clientY, yaw, pitch]; };
window.onmouseup = () => { drag = null; };
window.onmousemove = e => {
  if (!drag) return;
  yaw = drag[2] + (e.clientX - drag[0]) * 0.01;
  pitch = Math.max(-1.4, Math.min(1.4, drag[3] + (e.clientY - drag[1]) * 0.01));
  draw();
};
show(0); requestAnimationFrame(tick);
</script></body></html>
"""
