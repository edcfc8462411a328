"""Cycles configuration, device selection, pass outputs and pass read-back."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from render.groundtruth import MASK_ALPHA_THRESHOLD
from render.spec import RenderSettings

GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
BACKGROUND_DEPTH = 1e9  # Cycles writes 1e10 where a ray hits nothing


def select_device(requested: str) -> str:
    """Use a GPU backend when one is present (or the requested one); otherwise the CPU."""
    scene = bpy.context.scene
    if requested.upper() == "CPU":
        scene.cycles.device = "CPU"
        return "CPU"
    try:
        preferences = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        scene.cycles.device = "CPU"
        return "CPU"
    candidates = GPU_BACKENDS if requested == "auto" else (requested.upper(),)
    for backend in candidates:
        try:
            preferences.compute_device_type = backend
        except TypeError:
            continue
        preferences.get_devices()
        devices = [d for d in preferences.devices if d.type == backend]
        if devices:
            for device in preferences.devices:
                device.use = device.type == backend
            scene.cycles.device = "GPU"
            return backend
    if requested != "auto":
        raise ValueError(f"render device {requested!r} is not available on this machine")
    scene.cycles.device = "CPU"
    return "CPU"


def configure_cycles(settings: RenderSettings, num_frames: int, fps: float) -> str:
    """Apply ``settings`` to the scene; returns the device backend in use."""
    scene = bpy.context.scene
    render = scene.render
    render.engine = "CYCLES"
    render.resolution_x, render.resolution_y, render.resolution_percentage = settings.width, settings.height, 100
    render.fps = max(1, round(fps))
    render.fps_base = render.fps / fps
    scene.frame_start, scene.frame_end = 1, num_frames
    render.use_motion_blur = False
    render.film_transparent = False
    if settings.threads > 0:
        render.threads_mode, render.threads = "FIXED", settings.threads
    else:
        render.threads_mode = "AUTO"
    render.use_persistent_data = True
    cycles = scene.cycles
    device = select_device(settings.device)
    cycles.samples = settings.samples
    cycles.use_adaptive_sampling = settings.adaptive_sampling
    cycles.adaptive_threshold = settings.adaptive_threshold
    cycles.use_denoising = settings.denoise
    if settings.denoise:
        cycles.denoiser = "OPENIMAGEDENOISE"
        cycles.denoising_prefilter = settings.denoising_prefilter
    cycles.max_bounces = settings.max_bounces
    cycles.diffuse_bounces = settings.diffuse_bounces
    cycles.glossy_bounces = settings.glossy_bounces
    cycles.transparent_max_bounces = settings.transparent_bounces
    cycles.transmission_bounces = settings.transmission_bounces
    cycles.caustics_reflective = cycles.caustics_refractive = False
    cycles.pixel_filter_type = "BLACKMAN_HARRIS"
    cycles.filter_width = settings.filter_width
    cycles.seed = settings.cycles_seed
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    image = render.image_settings
    image.media_type = "IMAGE"
    image.file_format = "PNG"
    image.color_mode = "RGB"
    image.color_depth = "8"
    return device


def add_pass_outputs(exr_dir: Path) -> bpy.types.Node:
    """Write planar depth and the object index of every frame to one multilayer EXR per frame.

    Returns the file output node (its ``directory`` can be pointed elsewhere for a separate render).
    """
    scene = bpy.context.scene
    layer = scene.view_layers[0]
    layer.use_pass_z = True
    layer.use_pass_object_index = True
    layer.pass_alpha_threshold = MASK_ALPHA_THRESHOLD  # see render/blender/see_through.py
    tree = bpy.data.node_groups.new("posetraj_compositor", "CompositorNodeTree")
    scene.compositing_node_group = tree
    layers = tree.nodes.new("CompositorNodeRLayers")
    group_output = tree.nodes.new("NodeGroupOutput")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    tree.links.new(layers.outputs["Image"], group_output.inputs[0])
    file_output = tree.nodes.new("CompositorNodeOutputFile")
    file_output.directory = str(exr_dir) + "/"
    file_output.file_name = "pass_####"
    file_output.format.media_type = "MULTI_LAYER_IMAGE"
    file_output.format.file_format = "OPEN_EXR_MULTILAYER"
    file_output.format.color_depth = "32"
    file_output.format.exr_codec = "ZIP"
    file_output.file_output_items.new("FLOAT", "Depth")
    file_output.file_output_items.new("FLOAT", "IndexOB")
    tree.links.new(layers.outputs["Depth"], file_output.inputs["Depth"])
    tree.links.new(layers.outputs["Object Index"], file_output.inputs["IndexOB"])
    return file_output


def set_render_region(region: tuple[int, int, int, int] | None, width: int, height: int) -> None:
    """Path trace only pixels ``[x0, x1) x [y0, y1)`` (row 0 at the top) of a full-size image; None: all.

    Blender truncates ``border * size`` to whole pixels and counts rows from the bottom; half-pixel
    borders make the truncation land exactly on the requested pixels.
    """
    render = bpy.context.scene.render
    if region is None:
        render.use_border = False
        return
    x0, x1, y0, y1 = region
    render.use_border, render.use_crop_to_border = True, False
    render.border_min_x, render.border_max_x = (x0 + 0.5) / width, min(1.0, (x1 + 0.5) / width)
    render.border_min_y, render.border_max_y = (height - y1 + 0.5) / height, min(1.0, (height - y0 + 0.5) / height)


def read_passes(exr_dir: Path, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,H,W) float32 planar depth (0 where nothing was hit) and (T,H,W) uint16 instance mask."""
    import OpenEXR

    depths, masks = [], []
    for frame in range(1, num_frames + 1):
        path = Path(exr_dir) / f"pass_{frame:04d}.exr"
        channels: dict[str, np.ndarray] = {}
        with OpenEXR.File(str(path)) as handle:
            for part in handle.parts:
                for name, channel in part.channels.items():
                    channels[name] = channel.pixels.copy()
        depth_key = next(k for k in channels if k.startswith("Depth"))
        index_key = next(k for k in channels if k.startswith("IndexOB"))
        depth = channels[depth_key].astype(np.float32)
        depth[depth >= BACKGROUND_DEPTH] = 0.0
        depths.append(depth)
        masks.append((channels[index_key] > 0.5).astype(np.uint16))
    return np.stack(depths), np.stack(masks)


def read_frames(frame_prefix: Path, num_frames: int) -> np.ndarray:
    from PIL import Image

    frames = []
    for frame in range(1, num_frames + 1):
        with Image.open(f"{frame_prefix}{frame:04d}.png") as image:
            frames.append(np.asarray(image.convert("RGB")))
    return np.stack(frames)
