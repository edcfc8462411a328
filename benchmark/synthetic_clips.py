"""Synthetic clips without Blender: a textured box on a textured backdrop, moving along a floor path
(with or without turning), drawn face by face with exact ground truth in the clip format of
docs/clip_format.md. Used by tests and the throughput benchmark where rendering would dominate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# faces as (axis, sign, corner indices in cyclic order); corner k = 4·ix + 2·iy + iz
FACES = (
    (0, 1, (4, 6, 7, 5)), (0, -1, (0, 1, 3, 2)), (1, 1, (2, 3, 7, 6)),
    (1, -1, (0, 4, 5, 1)), (2, 1, (1, 5, 7, 3)), (2, -1, (0, 2, 6, 4)),
)
TEXTURE_SIZE = 64


@dataclass(frozen=True)
class SyntheticClipConfig:
    width: int = 96
    height: int = 64
    num_frames: int = 10
    fps: float = 5.0
    turn_deg: float = 90.0  # total yaw change over the clip; 0 = translation only
    roll_deg: float = 0.0  # total roll about the box's own long axis over the clip (it tips over; pose mode "bank")
    travel: float = 0.6  # metres along the path
    extents: tuple[float, float, float] = (1.0, 0.6, 0.5)
    num_track_points: int = 128
    seed: int = 0


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int, lo: float, hi: float) -> np.ndarray:
    import cv2

    base = rng.uniform(lo, hi, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _camera(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed camera (render.camera's maths): 54 mm on the 36 mm sensor, 3.6 m behind the origin, 2 m up."""
    from render.camera import intrinsics_matrix, look_at_w2c

    K = intrinsics_matrix(width, height, lens_mm=54.0)
    return K, look_at_w2c(np.array([0.0, -3.6, 2.0]), np.array([0.0, 0.0, 0.25]))


def render_synthetic_clip(out_root: str | Path, clip_id: str, config: SyntheticClipConfig) -> Path:
    """Write one synthetic clip (with its DONE marker) and return its directory."""
    import cv2

    from common.clip_format import write_clip
    from render.trajectories import rotation_about_axis, rotation_about_z

    rng = np.random.default_rng(config.seed)
    W, H, T = config.width, config.height, config.num_frames
    ext = np.asarray(config.extents, dtype=np.float64)
    K, w2c = _camera(W, H)
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * ext / 2
    textures = [_smooth_noise(rng, TEXTURE_SIZE, TEXTURE_SIZE, 8, 0, 255) for _ in FACES]
    backdrop = _smooth_noise(rng, H, W, 6, 70, 150)
    # surface points: a face chosen by area, uniform inside it; remember the face for visibility
    areas = np.array([np.prod(np.delete(ext, axis)) for axis, _, _ in FACES])
    face_of = rng.choice(len(FACES), size=config.num_track_points, p=areas / areas.sum())
    pts = rng.uniform(-0.5, 0.5, (config.num_track_points, 3)) * ext
    for i, f in enumerate(face_of):
        axis, sign, _ = FACES[f]
        pts[i, axis] = sign * ext[axis] / 2
    start_heading = rng.uniform(-0.3, 0.3)
    u = np.linspace(0.0, 1.0, T)
    heading = start_heading + np.radians(config.turn_deg) * u
    direction = np.array([np.cos(start_heading), np.sin(start_heading)])
    path_xy = (u[:, None] - 0.5) * config.travel * direction
    o2w = np.tile(np.eye(4), (T, 1, 1))
    roll = rotation_about_axis(np.array([1.0, 0.0, 0.0]), np.radians(config.roll_deg) * u)
    o2w[:, :3, :3] = rotation_about_z(heading) @ roll
    o2w[:, :2, 3] = path_xy
    o2w[:, 2, 3] = ext[2] / 2
    cam = np.tile(w2c, (T, 1, 1))
    frames = np.empty((T, H, W, 3), np.uint8)
    depth = np.zeros((T, H, W), np.float32)
    mask = np.zeros((T, H, W), np.uint16)
    tracks_2d = np.zeros((T, len(pts), 2))
    visible = np.zeros((T, len(pts)), bool)
    corners_2d = np.zeros((T, 8, 2))
    corners_world = np.zeros((T, 8, 3))
    jj, ii = np.mgrid[0:H, 0:W]
    rays = np.stack([ii, jj, np.ones_like(ii)], -1).astype(np.float64) @ np.linalg.inv(K).T  # z = 1
    src_quad = np.float32([[0, 0], [TEXTURE_SIZE - 1, 0], [TEXTURE_SIZE - 1, TEXTURE_SIZE - 1], [0, TEXTURE_SIZE - 1]])
    for t in range(T):
        o2c = w2c @ o2w[t]
        R, tr = o2c[:3, :3], o2c[:3, 3]
        cc = corners @ R.T + tr
        proj = cc @ K.T
        corners_2d[t] = proj[:, :2] / proj[:, 2:]
        corners_world[t] = corners @ o2w[t, :3, :3].T + o2w[t, :3, 3]
        frame = backdrop.copy()
        front = np.zeros(len(FACES), bool)
        for f, (axis, sign, idx) in enumerate(FACES):
            normal = R[:, axis] * sign
            centre = cc[list(idx)].mean(0)
            if normal @ centre >= 0:
                continue  # back-facing
            front[f] = True
            quad = corners_2d[t, list(idx)].astype(np.float32)
            hom = cv2.getPerspectiveTransform(src_quad, quad)
            warped = cv2.warpPerspective(textures[f], hom, (W, H), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE)
            face_mask = np.zeros((H, W), np.uint8)
            cv2.fillConvexPoly(face_mask, np.round(quad * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
            sel = face_mask.astype(bool)
            frame[sel] = warped[sel]
            mask[t][sel] = 1
            plane_d = normal @ centre
            depth[t][sel] = (plane_d / (rays[sel] @ normal)).astype(np.float32)
        frames[t] = frame
        pc = pts @ R.T + tr
        pp = pc @ K.T
        tracks_2d[t] = pp[:, :2] / pp[:, 2:]
        inside = (tracks_2d[t, :, 0] >= -0.5) & (tracks_2d[t, :, 0] <= W - 0.5) & \
                 (tracks_2d[t, :, 1] >= -0.5) & (tracks_2d[t, :, 1] <= H - 0.5)
        visible[t] = front[face_of] & inside
    center = (np.einsum("tij,tj->ti", cam, o2w[:, :, 3]))[:, :3] @ K.T
    center_2d = center[:, :2] / center[:, 2:]
    ground_w = np.c_[path_xy, np.zeros(T), np.ones(T)]
    ground = np.einsum("ij,tj->ti", w2c, ground_w)[:, :3] @ K.T
    annotations = {
        "schema_version": np.int64(1), "K": K, "cam_w2c": cam, "obj_to_world": o2w, "bbox_extents": ext,
        "bbox_corners_world": corners_world, "bbox_corners_2d": corners_2d, "center_2d": center_2d,
        "center_visible": np.zeros(T, bool), "ground_2d": ground[:, :2] / ground[:, 2:], "depth": depth,
        "mask": mask, "tracks_xyz": pts.astype(np.float32), "tracks_2d": tracks_2d.astype(np.float32),
        "tracks_visible": visible, "path_xy": path_xy,
    }
    family = "line" if config.turn_deg == 0 else "synthetic_turn"
    meta = {"seed": config.seed, "fps": config.fps, "num_frames": T, "width": W, "height": H,
            "asset": {"source": "synthetic", "uid": "textured-box", "path": None},
            "trajectory": {"name": family, "params": {"turn_deg": config.turn_deg, "travel": config.travel},
                           "pose_mode": "yaw" if config.roll_deg == 0 else "bank"},
            "camera": {"mode": "default"}, "render": {"engine": "numpy-synthetic"}}
    return write_clip(Path(out_root), clip_id, frames=frames, annotations=annotations, meta=meta, overwrite=True)


def build_synthetic_suite(root: str | Path, num_samples: int = 4, *, name: str = "synthetic-box",
                          base: SyntheticClipConfig = SyntheticClipConfig()):
    """A posetraj-synth-format suite of synthetic clips at ``root/suite``: even samples turn by
    ``base.turn_deg`` (rotational), odd ones only translate (the control)."""
    from dataclasses import replace

    from benchmark.suite_build import build_suite_from_clips

    root = Path(root)
    clips = []
    for i in range(num_samples):
        config = replace(base, turn_deg=base.turn_deg if i % 2 == 0 else 0.0, seed=base.seed + i)
        clips.append(render_synthetic_clip(root / "clips", f"box{i:03d}", config))
    return build_suite_from_clips(root / "suite", clips, name=name, overwrite=True,
                                  build_config={"generator": "benchmark.synthetic_clips", "base": str(base)})
