"""The app's render mode: the drawn path lifted onto the floor and rendered with full ground truth.

The first drawn trajectory's points (pixels of the image, seen by the default camera at the image's size:
:func:`render.user_path.lift_image_path`) become floor points; the renderer drives the chosen asset along
the natural cubic spline through them (:func:`render.user_path.user_clip_spec`), at the image's aspect ratio
and the requested width. The spec is checked here first (one-line errors, no Blender start), then
``posetraj render --path-floor ...`` renders it in a child process, so that Blender never runs inside the
server and a stuck render can be stopped. The clip is a normal clip folder (docs/clip_format.md) that can be
added to a benchmark suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.clip_format import load_clip
from common.drawing import draw_trajectory_overlay
from common.trajectories import read_clip_trajectories, write_trajectory_json
from common.video import write_mp4
from posetraj.app.generation import AppError, Progress
from posetraj.app.strokes import Drawing

#: Wall-clock limit of one app render (a draft clip takes seconds to a few minutes on a CPU).
DEFAULT_RENDER_TIMEOUT_S = 900.0
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass(frozen=True)
class RenderRequest:
    """What to render: asset (``builtin:NAME`` or a mesh file), pose mode, and a draft clip's size and length
    (the height follows the image's aspect ratio)."""

    asset: str = "builtin:car"
    pose_mode: str = "yaw"
    width: int = 288
    num_frames: int = 16
    samples: int = 8
    seed: int = 0
    speed_profile: str = "constant"


@dataclass(frozen=True)
class RenderResult:
    clip_dir: Path
    video: Path
    overlay: Path
    trajectories: Path
    archive: Path
    num_frames: int
    width: int
    height: int
    seconds: float


def render_size(image_size: tuple[int, int], width: int) -> tuple[int, int]:
    """(width, height) of the render: ``width`` rounded to even, the height at the image's aspect ratio (even)."""
    if width < 8:
        raise AppError(f"the render width must be at least 8 pixels, got {width}")
    image_width, image_height = image_size
    width = 2 * round(width / 2)
    return width, max(8, 2 * round(width * image_height / image_width / 2))


def drawn_floor_points(drawing: Drawing) -> np.ndarray:
    """Floor points (N, 3) under the first drawn trajectory's points."""
    from render.floor_lift import FloorPathError
    from render.user_path import lift_image_path

    strokes = drawing.drawn
    if drawing.size is None or not strokes:
        raise AppError("draw a trajectory first: click at least two points on the floor in the image")
    try:
        return lift_image_path(np.asarray(strokes[0].points, dtype=np.float64), drawing.size)
    except FloorPathError as exc:
        raise AppError(f"trajectory 1: {exc}") from None


def render_drawing(drawing: Drawing, request: RenderRequest, out_root: Path, run_dir: Path,
                   progress: Progress | None = None, timeout_s: float = DEFAULT_RENDER_TIMEOUT_S) -> RenderResult:
    """Render ``request``'s asset along the first drawn trajectory into ``out_root/<clip_id>`` and write the
    clip's video, its overlay (the rendered ground-contact path) and downloads into ``run_dir``."""
    from render.errors import RenderError
    from render.user_path import user_clip_spec

    progress = progress or (lambda fraction, text: None)
    started = time.perf_counter()
    _check_asset(request.asset)
    floor = drawn_floor_points(drawing)
    width, height = render_size(drawing.size, request.width)
    options = dict(preset="draft", pose_mode=request.pose_mode, speed_profile=request.speed_profile,
                   num_frames=request.num_frames, width=width, height=height, samples=request.samples,
                   seed=request.seed)
    try:
        spec = user_clip_spec(request.asset, floor_points=floor, **options)
    except (RenderError, ValueError) as exc:
        raise AppError(getattr(exc, "message", str(exc))) from None
    control = spec.trajectory.params["control_points"]
    command = [sys.executable, "-m", "posetraj", "render", "--asset", request.asset,
               "--pose-mode", request.pose_mode, "--speed-profile", request.speed_profile,
               "--path-floor", json.dumps(control), "--preset", "draft", "--frames", str(request.num_frames),
               "--width", str(width), "--height", str(height), "--samples", str(request.samples),
               "--seed", str(request.seed), "--clip-id", spec.clip_id, "--out", str(out_root)]
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "render.log"
    clip_dir = Path(out_root) / spec.clip_id
    progress(0.02, f"rendering {spec.clip_id}")
    returncode = _run(command, log_path, timeout_s, progress)
    log = log_path.read_text(errors="replace")
    if returncode != 0:
        errors = [line[len("error: "):] for line in log.splitlines() if line.startswith("error: ")]
        raise AppError(f"render failed: {errors[-1] if errors else _last_line(log)}")
    progress(0.95, "writing the videos")
    clip = load_clip(clip_dir)
    frames = clip.frames()
    ground = read_clip_trajectories(clip_dir, "ground_2d")
    overlay = write_mp4(run_dir / "render_overlay.mp4", draw_trajectory_overlay(frames, ground), clip.fps)
    video = run_dir / "render.mp4"
    shutil.copyfile(clip_dir / "rgb.mp4", video)
    trajectories = write_trajectory_json(run_dir / "ground_path.json", ground)
    archive = Path(shutil.make_archive(str(run_dir / spec.clip_id), "zip", root_dir=clip_dir.parent,
                                       base_dir=clip_dir.name))
    width, height = clip.size
    return RenderResult(clip_dir, video, overlay, trajectories, archive, clip.num_frames, width, height,
                        time.perf_counter() - started)


def _check_asset(asset: str) -> None:
    from assets_catalog.builtin import BUILTIN_SCHEME, get_builtin

    if asset.startswith(BUILTIN_SCHEME):
        try:
            get_builtin(asset)
        except ValueError as exc:
            raise AppError(str(exc)) from None
    elif not Path(asset).expanduser().is_file():
        raise AppError(f"asset file not found: {asset}")


def _run(command: list[str], log_path: Path, timeout_s: float, progress: Progress) -> int:
    """Run ``command`` in its own process group with its output in ``log_path``; stopped past ``timeout_s``."""
    from render.process_control import stop_process_group

    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                stop_process_group(process)
                raise AppError(f"render stopped after {timeout_s:g} s (the limit of one app render)")
            progress(min(0.9, 0.05 + 0.85 * elapsed / (elapsed + 20.0)), f"rendering with Blender ({elapsed:.0f} s)")
            time.sleep(0.25)
        return process.returncode
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)


def stop_renders() -> None:
    """Stop every render still running (the app is shutting down)."""
    from render.process_control import stop_process_group

    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        stop_process_group(process)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "the render process printed nothing"


def add_to_suite(clip_dir: Path, suite_dir: Path) -> str:
    """Add a rendered clip to a posetraj-synth suite (created when missing); a one-line summary."""
    from benchmark.suite import SuiteError
    from benchmark.suite_build import add_clips_to_suite

    try:
        suite = add_clips_to_suite(suite_dir, [clip_dir])
    except (SuiteError, OSError, ValueError) as exc:
        raise AppError(f"cannot add the clip to {suite_dir}: {exc}") from None
    return f"added {clip_dir.name} to {suite.path} ({len(suite.samples)} samples, version {suite.version})"
