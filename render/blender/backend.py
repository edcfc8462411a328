"""Blender-side steps of rendering one clip; :mod:`render.pipeline` calls them in order."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from render.blender import engine, see_through, stage
from render.blender.asset_import import ImportedObject
from render.camera import CameraTrack, blender_camera_matrix_world, w2c_from_blender_matrix_world
from render.plate import composite
from render.scene import SceneDescription
from render.spec import RenderSettings


@dataclass
class RenderedPasses:
    frames: np.ndarray  # (T,H,W,3) uint8
    depth: np.ndarray  # (T,H,W) float32
    mask: np.ndarray  # (T,H,W) uint16
    device: str
    plate_cpu_s: float = 0.0  # process CPU seconds spent on the background plate (0 without one)
    see_through_materials: int = 0  # > 0: depth and mask from a 1-sample render with alpha thresholded


def blender_version() -> str:
    return bpy.app.version_string


def reset_scene() -> None:
    """Start from an empty scene; also frees everything the previous clip created."""
    bpy.ops.wm.read_factory_settings(use_empty=True)


def build_clip_scene(
    imported: ImportedObject, obj_to_world: np.ndarray, camera: CameraTrack, description: SceneDescription
) -> bpy.types.Object:
    """Floor, lights, world, the object's per-frame pose and the per-frame camera."""
    stage.build_stage(description)
    stage.key_matrices(imported.pose_root, obj_to_world)
    blender_matrices = np.stack([blender_camera_matrix_world(w2c) for w2c in camera.w2c])
    return stage.add_camera(camera.lens_mm, camera.sensor_mm, blender_matrices)


def render_passes(
    settings: RenderSettings, num_frames: int, fps: float, work_dir: Path,
    plate_regions: np.ndarray | None = None, object_meshes: list | None = None,
) -> RenderedPasses:
    """Render every frame to PNG plus depth/index EXRs in ``work_dir`` and read them back.

    With ``plate_regions`` (T,4) (see :mod:`render.plate`), the background is rendered once with
    ``object_meshes`` hidden at ``settings.plate_samples`` and each frame only inside its region. When
    ``object_meshes`` have see-through materials, depth and mask come from :mod:`render.blender.see_through`.
    """
    passes, file_output = _render_passes(settings, num_frames, fps, work_dir, plate_regions, object_meshes)
    materials = see_through.see_through_materials(object_meshes or [])
    if not materials:
        return passes
    depth, mask = see_through.exact_passes(materials, settings, num_frames, fps, work_dir, file_output)
    return replace(passes, depth=depth, mask=mask, see_through_materials=len(materials))


def _render_passes(
    settings: RenderSettings, num_frames: int, fps: float, work_dir: Path, plate_regions: np.ndarray | None,
    object_meshes: list | None,
) -> tuple[RenderedPasses, bpy.types.Node]:
    device = engine.configure_cycles(settings, num_frames, fps)
    exr_dir = Path(work_dir) / "passes"
    file_output = engine.add_pass_outputs(exr_dir)
    prefix = Path(work_dir) / "rgb_"
    scene = bpy.context.scene
    if plate_regions is None:
        scene.render.filepath = str(prefix)
        bpy.ops.render.render(animation=True)
        depth, mask = engine.read_passes(exr_dir, num_frames)
        return RenderedPasses(engine.read_frames(prefix, num_frames), depth, mask, device), file_output

    cpu_before = time.process_time()
    plate_dir = Path(work_dir) / "plate"
    file_output.directory = str(plate_dir) + "/"
    # Every frame shows the plate's noise: render it with all its samples, no adaptive early stop.
    engine.configure_cycles(replace(settings, samples=settings.plate_samples, adaptive_sampling=False), num_frames, fps)
    for obj in object_meshes or []:
        obj.hide_render = True
    try:
        scene.frame_set(1)
        _render_still(plate_dir / "rgb_0001.png")
    finally:
        for obj in object_meshes or []:
            obj.hide_render = False
    plate_frame = engine.read_frames(plate_dir / "rgb_", 1)[0]
    plate_depth, plate_mask = (array[0] for array in engine.read_passes(plate_dir, 1))
    plate_cpu_s = time.process_time() - cpu_before

    engine.configure_cycles(settings, num_frames, fps)
    file_output.directory = str(exr_dir) + "/"
    for frame, region in enumerate(plate_regions, start=1):
        scene.frame_set(frame)
        engine.set_render_region(tuple(int(v) for v in region), settings.width, settings.height)
        _render_still(Path(f"{prefix}{frame:04d}.png"))
    engine.set_render_region(None, settings.width, settings.height)
    depth, mask = engine.read_passes(exr_dir, num_frames)
    return RenderedPasses(
        frames=composite(plate_frame, engine.read_frames(prefix, num_frames), plate_regions),
        depth=composite(plate_depth, depth, plate_regions),
        mask=composite(plate_mask, mask, plate_regions),
        device=device,
        plate_cpu_s=plate_cpu_s,
    ), file_output


def _render_still(path: Path) -> None:
    bpy.context.scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


@dataclass(frozen=True)
class PoseCheck:
    """How far Blender's evaluated scene is from the numbers the ground truth uses."""

    object_matrix_max_error: float
    camera_matrix_max_error: float
    projection_max_error_px: float  # world_to_camera_view vs our K, w2c on the box corners


def check_against_blender(
    imported: ImportedObject, camera_object: bpy.types.Object, obj_to_world: np.ndarray, camera: CameraTrack,
    corners_world: np.ndarray,
) -> PoseCheck:
    """Evaluate every frame in Blender and compare poses and projections with ours."""
    from render.camera import project_points

    scene = bpy.context.scene
    object_error = camera_error = projection_error = 0.0
    width, height = camera.width, camera.height
    for index in range(obj_to_world.shape[0]):
        scene.frame_set(index + 1)
        object_error = max(object_error, float(np.abs(np.array(imported.pose_root.matrix_world) - obj_to_world[index]).max()))
        w2c = w2c_from_blender_matrix_world(np.array(camera_object.matrix_world))
        camera_error = max(camera_error, float(np.abs(w2c - camera.w2c[index]).max()))
        ours, _ = project_points(camera.K, camera.w2c[index], corners_world[index])
        for corner, expected in zip(corners_world[index], ours):
            ndc = world_to_camera_view(scene, camera_object, Vector(corner.tolist()))
            blender_px = np.array([ndc.x * width - 0.5, (1.0 - ndc.y) * height - 0.5])
            projection_error = max(projection_error, float(np.abs(blender_px - expected).max()))
    return PoseCheck(object_error, camera_error, projection_error)
