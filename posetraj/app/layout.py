"""The app's page (Gradio): the image to draw on, the drawing tools, generation and render mode.

Every handler returns its outputs, or a message in the status line (and a toast) when the request cannot
be carried out; no handler raises, so a bad request never leaves a spinner running or stops the server.
This is the only module of the package that imports gradio.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr
import numpy as np

from posetraj.app import examples as example_images
from posetraj.app.generation import DEFAULT_FPS, AppError, ModelChoice, PipelineCache, generate
from posetraj.app.render_mode import RenderRequest, add_to_suite, render_drawing
from posetraj.app.strokes import Drawing, DrawingError, preview

LOG = logging.getLogger("posetraj.app")
MODEL_KINDS = [("PoseTraj (local SVD + ControlNet folders)", "posetraj"),
               ("Benchmark adapter (static, translate, module:function)", "adapter")]


@dataclass(frozen=True)
class AppConfig:
    """Start-up settings of ``posetraj app`` (all optional)."""

    out: Path = Path("out/app")
    svd: str = ""
    controlnet: str = ""
    model: str = ""  # an adapter preselected instead of PoseTraj
    device: str = "auto"
    dtype: str = "fp32"
    example_dirs: tuple[Path, ...] = ()  # folders of clips whose first frames are examples too
    assets: tuple[str, ...] = ()  # extra render-mode assets (mesh files, e.g. a catalog split)
    render_timeout_s: float = 900.0


class Sessions:
    """Each browser session's image and drawing, kept on the server and changed under a lock, so that quick
    clicks (a click right after *Undo*) always act on the latest drawing, never on a copy the page still held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[np.ndarray | None, Drawing]] = {}

    def get(self, request: gr.Request) -> tuple[np.ndarray | None, Drawing]:
        with self._lock:
            return self._data.get(request.session_hash, (None, Drawing()))

    def update(self, request: gr.Request, change: Callable[[np.ndarray | None, Drawing], tuple]) -> tuple:
        """Apply ``change(image, drawing) -> (image, drawing)`` and return the new pair."""
        with self._lock:
            current = self._data.get(request.session_hash, (None, Drawing()))
            self._data[request.session_hash] = updated = change(*current)
            return updated

    def drop(self, request: gr.Request) -> None:
        with self._lock:
            self._data.pop(request.session_hash, None)


def _status(kind: str, text: str) -> str:
    return f"**{kind}:** {text}"


def _failure(exc: BaseException) -> str:
    """The status line for a failed request (and a toast); unexpected errors are logged with a traceback."""
    if isinstance(exc, (AppError, DrawingError)):
        text = str(exc)
    else:
        LOG.exception("unexpected error in a request")
        text = f"unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())}); see the server log"
    gr.Warning(text)
    return _status("Error", text)


def _run_dir(config: AppConfig, kind: str) -> Path:
    return config.out / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"


def _progress(progress: gr.Progress) -> Callable[[float, str], None]:
    return lambda fraction, text: progress(fraction, desc=text)


def _int(value, name: str, low: int | None = None) -> int:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        raise AppError(f"{name} is empty")
    number = int(round(float(value)))
    if low is not None and number < low:
        raise AppError(f"{name} must be at least {low}, got {number}")
    return number


def _optional_int(text, name: str, low: int) -> int | None:
    """An integer typed in a text box; None when the box is empty."""
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return _int(float(text), name, low)
    except ValueError:
        raise AppError(f"{name} must be a whole number, got {text!r}") from None


def build_app(config: AppConfig) -> gr.Blocks:
    """The Blocks of the app (call ``.launch()`` on it)."""
    from assets_catalog.builtin import builtin_names
    from render.trajectories import POSE_MODES

    examples: dict[str, np.ndarray] = {name: example_images.load_image(path)
                                       for name, path in example_images.shipped_examples().items()}
    for folder in config.example_dirs:
        examples.update(example_images.clip_examples(folder))
    assets = [f"builtin:{name}" for name in builtin_names(None)] + list(config.assets)
    pipelines = PipelineCache()

    sessions = Sessions()

    def shown(image, drawing: Drawing, frames, smooth):
        return None if image is None else preview(image, drawing, max(2, int(frames or 2)), bool(smooth))

    def open_image(image, request: gr.Request):
        if image is None:
            sessions.update(request, lambda *_: (None, Drawing()))
            return None, Drawing().describe(), _status("Note", "no image")
        image = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3])
        _, drawing = sessions.update(request, lambda *_: (image, Drawing(size=(image.shape[1], image.shape[0]))))
        return (image, drawing.describe(),
                _status("Ready", f"{image.shape[1]}x{image.shape[0]} image: click points on it to draw a trajectory"))

    def open_example(name, request: gr.Request):
        if not name:
            return *open_image(None, request), gr.skip()
        builtin = f"builtin:{name}"  # a built-in's example also picks that asset for render mode
        return *open_image(examples[name], request), (gr.update(value=builtin) if builtin in assets else gr.skip())

    def click(frames, smooth, evt: gr.SelectData, request: gr.Request):
        x, y = evt.index
        try:
            image, drawing = sessions.update(request, lambda image, drawing: (image, drawing.add_point(float(x), float(y))))
            status = _status("Drawing", f"trajectory {len(drawing.drawn)}: point ({x}, {y}) added")
        except Exception as exc:  # noqa: BLE001 - shown in the page
            (image, drawing), status = sessions.get(request), _failure(exc)
        return shown(image, drawing, frames, smooth), drawing.describe(), status

    def edit(action: str):
        def handler(frames, smooth, request: gr.Request):
            image, drawing = sessions.update(request, lambda image, drawing: (image, getattr(drawing, action)()))
            note = {"new_stroke": f"drawing trajectory {len(drawing.strokes)}: click its points",
                    "undo": "last point removed", "clear": "all trajectories removed"}[action]
            return shown(image, drawing, frames, smooth), drawing.describe(), _status("Drawing", note)
        return handler

    def redraw(frames, smooth, request: gr.Request):
        return shown(*sessions.get(request), frames, smooth)

    def import_json(path, frames, smooth, request: gr.Request):
        from common.trajectories import read_trajectory_json

        image, drawing = sessions.get(request)
        try:
            if image is None:
                raise AppError("open an image first: imported trajectories are in its pixels")
            if not path:
                raise AppError("no file")
            traj = read_trajectory_json(path, drawing.size, outliers="keep")
            imported = Drawing.from_trajectories(traj)
            image, drawing = sessions.update(request, lambda image, _: (image, imported))
            frames = traj.num_frames
            return (shown(image, drawing, frames, smooth), drawing.describe(), frames,
                    _status("Imported", f"{traj.num_points} trajectories of {traj.num_frames} frames"))
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return shown(image, drawing, frames, smooth), drawing.describe(), frames, _failure(exc)

    def export_json(frames, smooth, request: gr.Request):
        from common.trajectories import write_trajectory_json

        try:
            traj = sessions.get(request)[1].trajectories(_int(frames, "frames", 2), bool(smooth))
            folder = _run_dir(config, "export")
            folder.mkdir(parents=True)
            path = write_trajectory_json(folder / "trajectories.json", traj)
            return str(path), _status("Exported", f"{traj.num_points} trajectories, {traj.num_frames} frames")
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return None, _failure(exc)

    def run_generation(frames, smooth, kind, svd, controlnet, adapter, fps, motion, steps, min_guidance,
                       max_guidance, seed, width, height, request: gr.Request,
                       progress=gr.Progress(track_tqdm=True)):
        from posetraj.inference import GenerationSettings

        image, drawing = sessions.get(request)
        try:
            if image is None:
                raise AppError("open an image first (upload one or pick an example)")
            num_frames = _int(frames, "frames", 2)
            traj = drawing.trajectories(num_frames, bool(smooth))
            gen_width = _int(width, "width", 8)
            gen_height = _int(height, "height", 0) or 8 * max(1, round(gen_width * image.shape[0] / image.shape[1] / 8))
            settings = GenerationSettings(
                width=gen_width, height=gen_height, num_inference_steps=_int(steps, "steps", 1),
                motion_bucket_id=_optional_int(motion, "motion bucket", 0),
                min_guidance_scale=float(min_guidance), max_guidance_scale=float(max_guidance),
                seed=_int(seed, "seed", 0), fps_id=_optional_int(fps, "fps id", 1))
            choice = ModelChoice(kind=kind, svd=svd or "", controlnet=controlnet or "", adapter=adapter or "",
                                 device=config.device, dtype=config.dtype)
            result = generate(image, traj, num_frames, choice, settings, _run_dir(config, "generate"), pipelines,
                              _progress(progress))
            text = (f"{result.num_frames} frames, {result.width}x{result.height}, in {result.seconds:.1f} s"
                    + (f"; {result.note}" if result.note else ""))
            files = [str(result.video), str(result.overlay), str(result.trajectories)]
            return str(result.video), str(result.overlay), files, _status("Generated", text)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return None, None, None, _failure(exc)

    def run_render(frames, asset, pose_mode, width, samples, seed, request: gr.Request, progress=gr.Progress()):
        image, drawing = sessions.get(request)
        try:
            if image is None:
                raise AppError("open an image first (pick an example: they show the render's default camera)")
            request = RenderRequest(asset=(asset or "").strip(), pose_mode=pose_mode,
                                    width=_int(width, "render width", 8), num_frames=_int(frames, "frames", 2),
                                    samples=_int(samples, "samples", 1), seed=_int(seed, "seed", 0))
            if not request.asset:
                raise AppError("choose an asset (builtin:NAME or a mesh file)")
            result = render_drawing(drawing, request, config.out / "clips", _run_dir(config, "render"),
                                    _progress(progress), config.render_timeout_s)
            note = "" if len(drawing.drawn) == 1 else f"; render mode uses trajectory 1 of {len(drawing.drawn)}"
            text = (f"clip {result.clip_dir} ({result.num_frames} frames, {result.width}x{result.height}) in "
                    f"{result.seconds:.1f} s{note}")
            files = [str(result.video), str(result.overlay), str(result.trajectories), str(result.archive)]
            return str(result.video), str(result.overlay), files, str(result.clip_dir), _status("Rendered", text)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return None, None, None, "", _failure(exc)

    def to_suite(clip_dir, suite):
        try:
            if not clip_dir:
                raise AppError("render a clip first")
            if not (suite or "").strip():
                raise AppError("give the suite folder to add the clip to")
            return _status("Suite", add_to_suite(Path(clip_dir), Path(suite.strip()).expanduser()))
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return _failure(exc)

    with gr.Blocks(title="PoseTraj app") as demo:
        last_clip = gr.State("")
        gr.Markdown("## PoseTraj: draw trajectories, get the video — or the true 3D render\n"
                    "Open an image, click points on it to draw a trajectory (one click per point; *New trajectory* "
                    "starts the next one), then **Generate** with a model or **Render** the drawn path in 3D.")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    example = gr.Dropdown(choices=list(examples), value=None, label="Example image",
                                          info="first frames of clips of the built-in models", elem_id="example")
                    upload = gr.Image(label="…or upload an image", type="numpy", sources=["upload", "clipboard"],
                                      height=120, elem_id="upload")
                canvas = gr.Image(label="Click to draw", type="numpy", format="png", interactive=False,
                                  buttons=[], elem_id="canvas")
                with gr.Row():
                    new_button = gr.Button("New trajectory", size="sm", elem_id="new-trajectory")
                    undo_button = gr.Button("Undo", size="sm", elem_id="undo")
                    clear_button = gr.Button("Clear", size="sm", elem_id="clear")
                with gr.Row():
                    smooth = gr.Checkbox(label="Smooth (spline through the points)", value=True, elem_id="smooth")
                    frames = gr.Slider(2, 64, value=14, step=1, label="Frames", elem_id="frames")
                points = gr.Textbox(label="Trajectories", value=Drawing().describe(), lines=3, interactive=False,
                                    elem_id="points")
                with gr.Row():
                    import_file = gr.File(label="Import trajectories (DragAnything / PoseTraj JSON)",
                                          file_types=[".json"], elem_id="import")
                    with gr.Column():
                        export_button = gr.Button("Export JSON", size="sm", elem_id="export")
                        export_file = gr.File(label="Exported trajectories", interactive=False, elem_id="exported")
            with gr.Column(scale=4):
                status = gr.Markdown(_status("Ready", "pick an example or upload an image"), elem_id="status")
                with gr.Tabs():
                    with gr.Tab("Generate", elem_id="tab-generate"):
                        kind = gr.Radio(MODEL_KINDS, value="adapter" if config.model else "posetraj", label="Model",
                                        elem_id="model-kind")
                        with gr.Row():
                            svd = gr.Textbox(value=config.svd, label="SVD folder", elem_id="svd")
                            controlnet = gr.Textbox(value=config.controlnet, label="ControlNet folder",
                                                    elem_id="controlnet")
                        adapter = gr.Textbox(value=config.model or "translate", label="Adapter",
                                             info="static, translate, package.module:function or an entry point",
                                             elem_id="adapter")
                        with gr.Row():
                            fps = gr.Textbox(value="", label="fps id", placeholder=f"the model's ({DEFAULT_FPS})",
                                             elem_id="fps")
                            motion = gr.Textbox(value="", label="Motion bucket", placeholder="the model's",
                                                elem_id="motion")
                            steps = gr.Number(value=25, label="Steps", precision=0, elem_id="steps")
                            seed = gr.Number(value=0, label="Seed", precision=0, elem_id="seed")
                        with gr.Row():
                            min_guidance = gr.Number(value=1.0, label="Min guidance", elem_id="min-guidance")
                            max_guidance = gr.Number(value=3.0, label="Max guidance", elem_id="max-guidance")
                            width = gr.Number(value=576, label="Width", precision=0, elem_id="width")
                            height = gr.Number(value=0, label="Height", info="0: the image's aspect", precision=0,
                                               elem_id="height")
                        generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                    with gr.Tab("Render", elem_id="tab-render"):
                        gr.Markdown("The drawn points are lifted onto the floor through the default camera (the "
                                    "examples' camera) and the renderer drives the object along that path, with full "
                                    "ground truth.")
                        with gr.Row():
                            asset = gr.Dropdown(assets, value=assets[0], allow_custom_value=True, label="Asset",
                                                elem_id="asset")
                            pose_mode = gr.Dropdown(list(POSE_MODES), value="yaw", label="Pose mode",
                                                    elem_id="pose-mode")
                        with gr.Row():
                            render_width = gr.Number(value=288, label="Render width", precision=0,
                                                     elem_id="render-width")
                            samples = gr.Number(value=8, label="Samples", precision=0, elem_id="samples")
                            render_seed = gr.Number(value=0, label="Scene seed", precision=0, elem_id="render-seed")
                        render_button = gr.Button("Render", variant="primary", elem_id="render")
                        with gr.Row():
                            suite = gr.Textbox(value=str(config.out / "suite"), label="Suite folder",
                                               elem_id="suite")
                            suite_button = gr.Button("Add clip to suite", elem_id="add-to-suite")
                with gr.Row():
                    video = gr.Video(label="Video", interactive=False, elem_id="video", loop=True, autoplay=True)
                    overlay = gr.Video(label="With the trajectories", interactive=False, elem_id="overlay",
                                       loop=True, autoplay=True)
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

        view = [canvas, points, status]
        ordered = {"concurrency_id": "drawing", "concurrency_limit": 1}  # drawing events run in arrival order
        example.change(open_example, example, view + [asset], **ordered)
        upload.upload(open_image, upload, view, **ordered)
        canvas.select(click, [frames, smooth], view, **ordered)
        for button, action in ((new_button, "new_stroke"), (undo_button, "undo"), (clear_button, "clear")):
            button.click(edit(action), [frames, smooth], view, **ordered)
        smooth.change(redraw, [frames, smooth], canvas, **ordered)
        frames.change(redraw, [frames, smooth], canvas, **ordered)
        import_file.upload(import_json, [import_file, frames, smooth], [canvas, points, frames, status], **ordered)
        export_button.click(export_json, [frames, smooth], [export_file, status])
        generate_button.click(
            run_generation,
            [frames, smooth, kind, svd, controlnet, adapter, fps, motion, steps, min_guidance, max_guidance, seed,
             width, height],
            [video, overlay, downloads, status])
        render_button.click(run_render, [frames, asset, pose_mode, render_width, samples, render_seed],
                            [video, overlay, downloads, last_clip, status])
        suite_button.click(to_suite, [last_clip, suite], status)
        demo.unload(sessions.drop)
    return demo
