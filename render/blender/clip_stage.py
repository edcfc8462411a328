"""The Blender stage of one clip: import the asset, place the camera, build the scene, render the passes
and check the poses against Blender's own projection. :func:`render.pipeline.render_clip` runs it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from render.blender import backend
from render.blender.asset_import import ImportedObject, import_asset
from render.blender.console import console_to_log, quiet_python_loggers
from render.camera import CameraTrack
from render.errors import RenderError
from render.fitting import FitPolicy, frame_clip
from render.framing import plate_record
from render.scene import SceneDescription
from render.spec import ClipSpec

if TYPE_CHECKING:
    from render.trajectories.kinematics import Trajectory


@dataclass
class BlenderStage:
    """What the Blender stage produced for one clip."""

    imported: ImportedObject
    spec: ClipSpec  # the spec rendered: the requested one, its trajectory maybe fitted (render.fitting)
    trajectory: Trajectory
    fit: dict  # render.fitting.FramedClip.record
    obj_to_world: np.ndarray  # (T, 4, 4)
    camera: CameraTrack
    plate: dict  # render.framing.plate_record
    passes: backend.RenderedPasses
    pose_check: backend.PoseCheck
    blender_version: str
    timing: dict[str, float] = field(default_factory=dict)


def run_blender_stage(spec: ClipSpec, asset_path: Path, trajectory: Trajectory, scene: SceneDescription,
                      work_dir: Path, log_path: Path, fit: FitPolicy | None = None) -> BlenderStage:
    """Everything of one clip that needs Blender, with Blender's console output sent to ``log_path``.
    ``fit``: how a drawn trajectory whose object leaves the frame may be changed (None: not at all).

    Raises :class:`RenderError` (``out_of_frame``, ``invalid_spec``, ``render_failed`` or an import code).
    """
    timing: dict[str, float] = {}
    quiet_python_loggers()
    with console_to_log(log_path):
        backend.reset_scene()
        tick = time.perf_counter()
        imported = import_asset(Path(asset_path), spec.min_flatness, spec.asset_frame)
        timing["import_s"] = time.perf_counter() - tick
        framed = frame_clip(spec, trajectory, imported.extents, fit)
        obj_to_world, corners_world, camera = framed.obj_to_world, framed.corners_world, framed.camera
        tick = time.perf_counter()
        try:
            camera_object = backend.build_clip_scene(imported, obj_to_world, camera, scene)
        except ValueError as exc:
            raise RenderError("invalid_spec", str(exc)) from None
        timing["scene_s"] = time.perf_counter() - tick
        plate = plate_record(spec.settings, corners_world, camera, scene)
        tick, cpu_tick = time.perf_counter(), cpu_seconds()
        try:
            passes = backend.render_passes(
                spec.settings, trajectory.spec.num_frames, trajectory.spec.fps, work_dir,
                plate_regions=np.array(plate["regions"]) if plate["used"] else None,
                object_meshes=imported.mesh_objects,
            )
        except (RuntimeError, OSError) as exc:
            raise RenderError("render_failed", str(exc).strip().splitlines()[-1][:300]) from None
        timing["render_s"] = time.perf_counter() - tick
        timing["render_cpu_s"] = cpu_seconds() - cpu_tick
        timing["plate_cpu_s"] = passes.plate_cpu_s
        tick = time.perf_counter()
        pose_check = backend.check_against_blender(imported, camera_object, obj_to_world, camera, corners_world)
        timing["check_s"] = time.perf_counter() - tick
        version = backend.blender_version()
    return BlenderStage(imported=imported, spec=framed.spec, trajectory=framed.trajectory, fit=framed.record,
                        obj_to_world=obj_to_world, camera=camera, plate=plate, passes=passes,
                        pose_check=pose_check, blender_version=version, timing=timing)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
