"""``meta.json`` of a rendered clip (docs/clip_format.md): what was rendered, how, and how long it took."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from assets_catalog.validate import ValidationReport
from render.groundtruth import MASK_ALPHA_THRESHOLD, GroundTruthSettings
from render.scene import SceneDescription
from render.spec import ClipSpec

if TYPE_CHECKING:
    from render.trajectories.kinematics import Trajectory


def clip_meta(spec: ClipSpec, asset, trajectory: Trajectory, scene: SceneDescription, stage,
              gt_settings: GroundTruthSettings, precheck: ValidationReport | None = None) -> dict:
    """The clip's meta record from the spec rendered (its trajectory maybe fitted), resolved asset, trajectory,
    scene, Blender stage (:class:`render.blender.clip_stage.BlenderStage`), ground-truth settings and the
    asset file's check before import; timing is added by the caller."""
    imported, camera, passes = stage.imported, stage.camera, stage.passes
    return {
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
        "asset_import": {**imported.record, "precheck": None if precheck is None else precheck.to_dict()},
        "trajectory": trajectory.spec.to_dict(),
        "fit": stage.fit,
        "camera": {"mode": camera.mode, "lens_mm": camera.lens_mm, "sensor_mm": camera.sensor_mm,
                   "static": camera.is_static, "params": camera.params},
        "scene": scene.to_dict(),
        "render": {
            "preset": spec.preset, "engine": "CYCLES", **asdict(spec.settings),
            "requested_device": spec.settings.device, "device": passes.device,
            "view_transform": "Standard", "blender_version": stage.blender_version, "background_plate": stage.plate,
        },
        "ground_truth": {
            "num_track_points": gt_settings.num_track_points,
            "visibility_depth_tolerance_m": gt_settings.depth_tolerance_m,
            "visibility_depth_relative_tolerance": gt_settings.depth_relative_tolerance,
            "blender_check": asdict(stage.pose_check),
            "mask_alpha_threshold": MASK_ALPHA_THRESHOLD,
            "see_through_materials": passes.see_through_materials,
        },
        "spec": spec.to_dict(),
    }
