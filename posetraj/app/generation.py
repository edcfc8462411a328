"""The app's generation: one image and drawn trajectories to a video, with PoseTraj or a benchmark adapter.

PoseTraj loads through :func:`posetraj.inference.load_pipeline` from local SVD and ControlNet folders (no
weights are ever downloaded) and stays loaded between requests. Any other model is a benchmark adapter
named as on ``posetraj bench run --model``: ``static`` / ``translate`` (the image forms of the baselines),
``module:function`` or an entry point (:func:`benchmark.models.resolve_callable`). Every failure is an
:class:`AppError` whose one-line message the page shows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from common.drawing import draw_trajectory_overlay
from common.trajectories import Trajectories, write_trajectory_json
from common.video import write_mp4

MODEL_KINDS = ("posetraj", "adapter")
DEFAULT_FPS = 6  # the fps id PoseTraj was trained with; also the video's fps for adapters

Progress = Callable[[float, str], None]


class AppError(RuntimeError):
    """A request the app cannot carry out; the message is shown in the page."""


@dataclass(frozen=True)
class ModelChoice:
    """Which model generates: ``posetraj`` (``svd`` and optional ``controlnet`` folders) or ``adapter``."""

    kind: str = "posetraj"
    svd: str = ""
    controlnet: str = ""
    adapter: str = ""
    device: str = "auto"
    dtype: str = "fp32"


@dataclass(frozen=True)
class GenerationResult:
    """What one request wrote and how long it took."""

    video: Path
    overlay: Path
    trajectories: Path
    num_frames: int
    width: int
    height: int
    seconds: float
    note: str = ""


class PipelineCache:
    """The last PoseTraj pipeline loaded, reused while the folders, device and dtype stay the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._pipe = None

    def get(self, choice: ModelChoice):
        svd = _folder(choice.svd, "SVD", required=True)
        controlnet = _folder(choice.controlnet, "ControlNet", required=False)
        key = (str(svd), str(controlnet), choice.device, choice.dtype)
        with self._lock:
            if self._key != key:
                from posetraj.inference import load_pipeline

                self._pipe, self._key = None, None
                try:
                    pipe = load_pipeline(svd, controlnet, choice.device, choice.dtype)
                except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds for a bad folder
                    raise AppError(f"cannot load PoseTraj from {svd}" + (f" and {controlnet}" if controlnet else "")
                                   + f": {_one_line(exc)}") from None
                pipe.set_progress_bar_config(disable=False, desc="denoising", leave=False)
                self._pipe, self._key = pipe, key
            return self._pipe


def _folder(text: str, what: str, required: bool) -> Path | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise AppError(f"PoseTraj needs local {what} weights: give the path of a diffusers {what} folder "
                           f"(or start the app with --{what.lower()}); no weights are downloaded")
        return None
    path = Path(text).expanduser()
    if not path.is_dir():
        raise AppError(f"missing weights: the {what} folder {path} does not exist")
    return path


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def generate(image: np.ndarray, trajectories: Trajectories, num_frames: int, choice: ModelChoice, settings,
             out_dir: Path, pipelines: PipelineCache, progress: Progress | None = None) -> GenerationResult:
    """Generate ``num_frames`` frames from ``image`` (H, W, 3) uint8 and ``trajectories`` (in its pixels)
    with ``choice`` and ``settings`` (:class:`posetraj.inference.GenerationSettings`; its width and height
    are PoseTraj's generation size), and write the video, the overlay and the trajectory JSON to ``out_dir``."""
    progress = progress or (lambda fraction, text: None)
    started = time.perf_counter()
    image = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3])
    note = ""
    if choice.kind == "posetraj":
        if settings.width % 8 or settings.height % 8 or settings.width < 8 or settings.height < 8:
            raise AppError(f"the generation size must be multiples of 8, got {settings.width}x{settings.height}")
        progress(0.02, "loading PoseTraj")
        pipe = pipelines.get(choice)
        if not choice.controlnet.strip():
            note = "no ControlNet folder given: an untrained copy was used (the output equals plain SVD)"
        progress(0.1, "generating")
        from posetraj.inference import generate_video

        try:
            video = generate_video(pipe, image, trajectories, num_frames, settings)
        except Exception as exc:  # noqa: BLE001 - the model's failure is reported, the server stays up
            raise AppError(f"PoseTraj failed: {_one_line(exc)}") from None
        fps = settings.fps_id if settings.fps_id is not None else pipe.controlnet.config.fps_id
    elif choice.kind == "adapter":
        video, fps = _run_adapter(choice.adapter, image, trajectories, num_frames,
                                  DEFAULT_FPS if settings.fps_id is None else settings.fps_id, progress)
    else:
        raise AppError(f"unknown model kind {choice.kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    progress(0.95, "writing the videos")
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path = write_mp4(out_dir / "video.mp4", video, fps)
    overlay_path = write_mp4(out_dir / "video_overlay.mp4", draw_trajectory_overlay(video, trajectories), fps)
    json_path = write_trajectory_json(out_dir / "trajectories.json", trajectories)
    return GenerationResult(video_path, overlay_path, json_path, int(video.shape[0]), int(video.shape[2]),
                            int(video.shape[1]), time.perf_counter() - started, note)


def _run_adapter(spec: str, image: np.ndarray, trajectories: Trajectories, num_frames: int, fps: int,
                 progress: Progress) -> tuple[np.ndarray, int]:
    from benchmark.models import ModelError, resolve_callable
    from benchmark.video_check import InvalidVideoError, validate_video

    spec = (spec or "").strip()
    if not spec:
        raise AppError("give an adapter: static, translate, module:function or an entry-point name")
    progress(0.05, f"loading {spec}")
    try:
        model = resolve_callable(spec)
    except ModelError as exc:
        raise AppError(str(exc)) from None
    progress(0.1, f"generating with {spec}")
    tracks = {i: p.copy() for i, p in zip(trajectories.ids, trajectories.points)}
    try:
        output = model(image.copy(), tracks, num_frames, fps)
    except Exception as exc:  # noqa: BLE001 - the model's failure is reported, the server stays up
        raise AppError(f"model {spec!r} raised {type(exc).__name__}: {_one_line(exc)}") from None
    height, width = image.shape[:2]
    try:
        video, _ = validate_video(output, spec, num_frames, width, height)
    except InvalidVideoError as exc:
        raise AppError(f"model {spec!r}: {str(exc).split(': ', 1)[-1]}") from None
    return video, fps
