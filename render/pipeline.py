"""Render one clip end to end: asset -> Blender stage -> ground truth -> clip directory.

The steps live in their own modules: :mod:`render.framing` (camera and plate), :mod:`render.blender.clip_stage`
(everything that needs Blender), :mod:`render.groundtruth`, :mod:`render.clip_meta` (``meta.json``),
:mod:`render.failures` (failure records) and :mod:`common.clip_format` (the atomic clip writer).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common.clip_format import LOG_NAME, is_complete_clip, write_clip
from render.asset_check import checked_asset
from render.clip_meta import clip_meta
from render.errors import RenderError
from render.failures import record_failure, unexpected_errors_as_failures
from render.fitting import FitPolicy
from render.framing import stream_seed
from render.groundtruth import GroundTruthSettings, compute_ground_truth, original_layout
from render.scene import sample_scene
from render.spec import ClipSpec
from render.trajectories import build_trajectory
from render.workdirs import work_dir_prefix


def render_clip(spec: ClipSpec, out_root: Path, *, overwrite: bool = False, keep_work_dir: bool = False,
                strict: bool = False, fit: FitPolicy | None = FitPolicy()) -> Path:
    """Render ``spec`` into ``out_root/<clip_id>`` and return that directory.

    Raises :class:`RenderError` (with a reason code) on failure, after writing ``failures/<clip_id>.json``;
    nothing that looks like a complete clip is left behind. An already complete clip is returned as is
    unless ``overwrite``; with ``strict``, one that another process published while this one rendered
    raises :class:`FileExistsError` (see :func:`common.clip_format.write_clip`).

    ``fit`` (default ``FitPolicy()``): a drawn trajectory whose object would leave the frame is redrawn or
    scaled to fit (:mod:`render.fitting`) under the same clip id, so one clip of any object renders; a
    trajectory given by hand is never changed. With ``fit=None`` the spec renders exactly as given or fails
    with ``out_of_frame`` (the dataset driver's attempts, which redraw under new clip ids).
    """
    out_root = Path(out_root)
    final = out_root / spec.clip_id
    if is_complete_clip(final) and not overwrite:
        return final
    try:
        from render.blender.clip_stage import cpu_seconds, run_blender_stage
    except ImportError as exc:
        error = RenderError("blender_missing", f"cannot import bpy ({exc}); install posetraj[render]")
        record_failure(out_root, spec.clip_id, spec.asset, error)
        raise error from None

    started, cpu_started = time.perf_counter(), cpu_seconds()
    out_root.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=work_dir_prefix(spec.clip_id), dir=out_root))
    log_path = work_dir / LOG_NAME
    try:
        with unexpected_errors_as_failures(log_path):
            asset, precheck = checked_asset(spec.asset, out_root)
            trajectory = build_trajectory(spec.trajectory)
            scene = sample_scene(np.random.default_rng(stream_seed(spec.seed, "scene")),
                                 floor_kind=spec.scene.floor_kind, floor_texture=spec.scene.floor_texture,
                                 hdri=spec.scene.hdri)
            stage = run_blender_stage(spec, asset.path, trajectory, scene, work_dir, log_path, fit=fit)
        trajectory = stage.trajectory  # fitted to the frame when ``fit`` allowed it
        tick = time.perf_counter()
        gt_settings = GroundTruthSettings(num_track_points=spec.num_track_points)
        annotations = compute_ground_truth(
            camera=stage.camera, obj_to_world=stage.obj_to_world, extents=stage.imported.extents,
            path_xy=trajectory.path_xy, lift=trajectory.lift, surface_vertices=stage.imported.vertices,
            surface_faces=stage.imported.faces, depth=stage.passes.depth, mask=stage.passes.mask,
            seed=stream_seed(spec.seed, "tracks"), settings=gt_settings,
        )
        traj_npy, bbox_npy = original_layout(annotations)
        ground_truth_s = time.perf_counter() - tick
        meta = clip_meta(stage.spec, asset, trajectory, scene, stage, gt_settings, precheck)
        meta["timing"] = {**stage.timing, "ground_truth_s": ground_truth_s,
                          "total_s": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started}
        return write_clip(
            out_root, spec.clip_id, frames=stage.passes.frames, annotations=annotations, meta=meta,
            extra_arrays={"traj": traj_npy, "bbox": bbox_npy}, write_png=spec.write_png, log_path=log_path,
            overwrite=overwrite, strict=strict,
        )
    except RenderError as exc:
        record_failure(out_root, spec.clip_id, spec.asset, exc, log_path)
        raise
    finally:
        if not keep_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
