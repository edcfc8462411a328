"""Render one clip end to end: asset -> Blender scene -> passes -> ground truth -> clip directory."""

from __future__ import annotations

import hashlib
import resource
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from render.camera import (
    CameraPlacementError,
    CameraTrack,
    default_camera,
    in_frame,
    moving_camera,
    project_points,
    random_camera,
)
from common.clip_format import LOG_NAME, is_complete_clip, write_clip
from render.errors import RenderError
from render.groundtruth import (
    GroundTruthSettings,
    box_corners_object,
    compute_ground_truth,
    original_layout,
    transform_points,
)
from render.plate import plan_plate, plate_unavailable_reason
from render.scene import SceneDescription, sample_scene
from render.spec import ClipSpec, RenderSettings
from render.trajectories import build_trajectory, object_to_world

FAILURES_DIR = "failures"  # OUT/failures/<clip_id>.json: the last failure of each clip
FAILURE_SCHEMA_VERSION = 1


def _stream_seed(seed: int, stream: str) -> int:
    """Independent, stable random streams per purpose (camera, scene, tracks) from one clip seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{stream}".encode()).digest()[:8], "little")


def place_camera(spec: ClipSpec, corners_world: np.ndarray) -> CameraTrack:
    """The clip's camera; the object's box must stay in frame for every frame."""
    width, height = spec.settings.width, spec.settings.height
    rng = np.random.default_rng(_stream_seed(spec.seed, "camera"))
    try:
        if spec.camera_mode == "default":
            camera = default_camera(width, height, corners_world.shape[0])
        elif spec.camera_mode == "random":
            camera = random_camera(rng, width, height, corners_world)
        else:
            camera = moving_camera(rng, spec.camera_mode, width, height, corners_world)
    except CameraPlacementError as exc:
        raise RenderError("out_of_frame", str(exc)) from None
    pixels, depth = project_points(camera.K, camera.w2c, corners_world)
    inside = in_frame(pixels, depth, width, height)
    if not inside.all():
        frames = np.flatnonzero(~inside.all(axis=1))
        raise RenderError(
            "out_of_frame",
            f"the object's box leaves the {spec.camera_mode} camera's frame in frames {frames.tolist()[:8]}"
            f"{'...' if len(frames) > 8 else ''}",
        )
    return camera


def plate_record(
    settings: RenderSettings, corners_world: np.ndarray, camera: CameraTrack, scene: SceneDescription
) -> dict:
    """Whether this clip renders with a background plate, why not, and the per-frame regions."""
    if settings.plate_samples <= 0:
        return {"used": False, "reason": "plate_samples is 0", "samples": 0, "regions": None}
    reason = plate_unavailable_reason(camera, scene)
    if reason is not None:
        return {"used": False, "reason": reason, "samples": settings.plate_samples, "regions": None}
    plan = plan_plate(corners_world, camera, scene)
    return {"used": True, "reason": None, "samples": settings.plate_samples, "regions": plan.regions.tolist(),
            "area_fraction": plan.area_fraction(camera.width, camera.height)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def render_clip(spec: ClipSpec, out_root: Path, *, overwrite: bool = False, keep_work_dir: bool = False) -> Path:
    """Render ``spec`` into ``out_root/<clip_id>`` and return that directory.

    Raises :class:`RenderError` (with a reason code) on failure; nothing that looks like a complete clip
    is left behind. An already complete clip is returned as is unless ``overwrite``.
    """
    out_root = Path(out_root)
    final = out_root / spec.clip_id
    if is_complete_clip(final) and not overwrite:
        return final
    try:
        from render.blender import backend
        from render.blender.asset_import import import_asset
        from render.blender.console import console_to_log, quiet_python_loggers
    except ImportError as exc:
        raise RenderError("blender_missing", f"cannot import bpy ({exc}); install posetraj[render]") from None
    from assets_catalog.files import AssetFileError
    from assets_catalog.resolve import resolve_asset

    started, cpu_started = time.perf_counter(), _cpu_seconds()
    out_root.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{spec.clip_id}.work-", dir=out_root))
    log_path = work_dir / LOG_NAME
    timing: dict[str, float] = {}
    try:
        try:
            asset = resolve_asset(spec.asset, out_root / ".assets")
        except FileNotFoundError as exc:
            raise RenderError("asset_not_found", str(exc)) from None
        except AssetFileError as exc:
            raise RenderError("asset_corrupt", str(exc)) from None
        except ValueError as exc:
            raise RenderError("asset_unsupported", str(exc)) from None
        trajectory = build_trajectory(spec.trajectory)
        scene_description = sample_scene(
            np.random.default_rng(_stream_seed(spec.seed, "scene")),
            floor_kind=spec.scene.floor_kind,
            floor_texture=spec.scene.floor_texture,
            hdri=spec.scene.hdri,
        )
        quiet_python_loggers()
        with console_to_log(log_path):
            backend.reset_scene()
            tick = time.perf_counter()
            imported = import_asset(Path(asset.path), spec.min_flatness)
            timing["import_s"] = time.perf_counter() - tick
            obj_to_world = object_to_world(trajectory, imported.extents)
            corners_world = transform_points(obj_to_world, box_corners_object(imported.extents))
            camera = place_camera(spec, corners_world)
            tick = time.perf_counter()
            try:
                camera_object = backend.build_clip_scene(imported, obj_to_world, camera, scene_description)
            except ValueError as exc:
                raise RenderError("invalid_spec", str(exc)) from None
            timing["scene_s"] = time.perf_counter() - tick
            plate = plate_record(spec.settings, corners_world, camera, scene_description)
            tick, cpu_tick = time.perf_counter(), _cpu_seconds()
            try:
                passes = backend.render_passes(
                    spec.settings, trajectory.spec.num_frames, trajectory.spec.fps, work_dir,
                    plate_regions=np.array(plate["regions"]) if plate["used"] else None,
                    object_meshes=imported.mesh_objects,
                )
            except (RuntimeError, OSError) as exc:
                raise RenderError("render_failed", str(exc).strip().splitlines()[-1][:300]) from None
            timing["render_s"] = time.perf_counter() - tick
            timing["render_cpu_s"] = _cpu_seconds() - cpu_tick
            timing["plate_cpu_s"] = passes.plate_cpu_s
            tick = time.perf_counter()
            pose_check = backend.check_against_blender(imported, camera_object, obj_to_world, camera, corners_world)
            timing["check_s"] = time.perf_counter() - tick
            version = backend.blender_version()

        tick = time.perf_counter()
        gt_settings = GroundTruthSettings(num_track_points=spec.num_track_points)
        annotations = compute_ground_truth(
            camera=camera,
            obj_to_world=obj_to_world,
            extents=imported.extents,
            path_xy=trajectory.path_xy,
            lift=trajectory.lift,
            surface_vertices=imported.vertices,
            surface_faces=imported.faces,
            depth=passes.depth,
            mask=passes.mask,
            seed=_stream_seed(spec.seed, "tracks"),
            settings=gt_settings,
        )
        traj_npy, bbox_npy = original_layout(annotations)
        timing["ground_truth_s"] = time.perf_counter() - tick
        meta = {
            "seed": spec.seed,
            "fps": trajectory.spec.fps,
            "num_frames": trajectory.spec.num_frames,
            "width": spec.settings.width,
            "height": spec.settings.height,
            "asset": {
                "source": asset.source, "uid": asset.uid, "path": str(asset.path), "sha256": asset.sha256,
                "license": asset.license, "attribution": asset.attribution, "category": asset.category,
            },
            "normalization": {
                "scale": imported.scale, "offset": imported.offset.tolist(), "extents": imported.extents.tolist(),
            },
            "trajectory": trajectory.spec.to_dict(),
            "camera": {"mode": camera.mode, "lens_mm": camera.lens_mm, "sensor_mm": camera.sensor_mm,
                       "static": camera.is_static, "params": camera.params},
            "scene": scene_description.to_dict(),
            "render": {
                "preset": spec.preset, "engine": "CYCLES", **asdict(spec.settings),
                "requested_device": spec.settings.device, "device": passes.device,
                "view_transform": "Standard", "blender_version": version, "background_plate": plate,
            },
            "ground_truth": {
                "num_track_points": gt_settings.num_track_points,
                "visibility_depth_tolerance_m": gt_settings.depth_tolerance_m,
                "visibility_depth_relative_tolerance": gt_settings.depth_relative_tolerance,
                "blender_check": asdict(pose_check),
            },
            "spec": spec.to_dict(),
        }
        meta["timing"] = {**timing, "total_s": time.perf_counter() - started, "cpu_s": _cpu_seconds() - cpu_started}
        return write_clip(
            out_root, spec.clip_id, frames=passes.frames, annotations=annotations, meta=meta,
            extra_arrays={"traj": traj_npy, "bbox": bbox_npy}, write_png=spec.write_png, log_path=log_path,
            overwrite=overwrite,
        )
    except RenderError as exc:
        _record_failure(out_root, spec, exc, log_path)
        raise
    finally:
        if not keep_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)


def _record_failure(out_root: Path, spec: ClipSpec, error: RenderError, log_path: Path) -> None:
    """Keep a record of the failure (and the tail of Blender's log) next to the clips, in
    ``failures/<clip_id>.json``: one file per clip, written atomically and replaced by a later failure
    of the same clip, so workers on several hosts of a shared file system never write into one file."""
    import platform
    from datetime import datetime, timezone

    from common.atomic import write_json_atomic

    log_tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    record = {"schema_version": FAILURE_SCHEMA_VERSION, "clip_id": spec.clip_id, "asset": spec.asset,
              **error.to_dict(), "host": platform.node(), "failed_at": datetime.now(timezone.utc).isoformat(),
              "log_tail": log_tail}
    folder = out_root / FAILURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{spec.clip_id}.json", record)
