"""What to render: the clip specification and render presets (pure data, no bpy)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace

from render.camera import CAMERA_MODES
from render.errors import RenderError
from render.trajectories import TrajectorySpec, sample_trajectory_spec

#: Size caps, refused up front (docs/farm.md, "Limits"): 8K per side, and a clip's pixels times frames, which
#: bounds a renderer's memory (about 70 bytes per pixel-frame measured: frames, depth, masks and Blender's
#: passes; 10^8 pixel-frames is about 7 GB, e.g. 1920x1080 at 48 frames).
MAX_IMAGE_SIDE = 8192
MAX_PIXEL_FRAMES = 100_000_000


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings. ``samples`` is the per-pixel maximum; adaptive sampling may stop earlier."""

    width: int
    height: int
    samples: int
    denoise: bool = True
    denoising_prefilter: str = "FAST"  # FAST | ACCURATE | NONE
    adaptive_sampling: bool = False
    adaptive_threshold: float = 0.01
    max_bounces: int = 4
    diffuse_bounces: int = 2
    glossy_bounces: int = 2
    transparent_bounces: int = 4
    transmission_bounces: int = 4
    filter_width: float = 1.5  # Blackman-Harris pixel filter width in pixels; PoseTraj-10k used 0.01 (no AA)
    # > 0: with a static camera, path trace the background once at this many samples and, per frame, only
    # the region the object changes (render/plate.py); 0: every frame is path traced in full.
    plate_samples: int = 0
    cycles_seed: int = 0  # Cycles' sampling seed (the noise pattern); the clip seed does not change it
    threads: int = 0  # 0 = all cores
    device: str = "auto"  # auto | CPU | CUDA | OPTIX | HIP | METAL


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    settings: RenderSettings
    num_frames: int
    fps: float
    clip_timeout_s: float  # default wall-clock limit of one clip: ~10x its measured single-core time


PRESETS: dict[str, Preset] = {
    "draft": Preset(
        "draft",
        "288x192, 16 samples, OIDN with the FAST prefilter: quick looks and tests",
        RenderSettings(width=288, height=192, samples=16, denoising_prefilter="FAST"),
        num_frames=32,
        fps=5.0,
        clip_timeout_s=900.0,  # 68 CPU-s measured (docs/performance.md)
    ),
    "standard": Preset(
        "standard",
        "576x384, 64 samples (adaptive), OIDN FAST: training data at SVD's width",
        RenderSettings(width=576, height=384, samples=64, adaptive_sampling=True, denoising_prefilter="FAST"),
        num_frames=32,
        fps=5.0,
        clip_timeout_s=3 * 3600.0,  # 1009 CPU-s measured
    ),
    "paper": Preset(
        "paper",
        "720x480, up to 128 samples, OIDN with the ACCURATE prefilter, 32 frames at 5 fps: PoseTraj-10k's "
        "settings, with adaptive sampling (threshold 0.01) to save time on converged pixels and, with a "
        "static camera, a 256-sample background plate so that each frame path traces only the object's region",
        RenderSettings(
            width=720, height=480, samples=128, adaptive_sampling=True, adaptive_threshold=0.01,
            denoising_prefilter="ACCURATE", plate_samples=256,
        ),
        num_frames=32,
        fps=5.0,
        clip_timeout_s=2 * 3600.0,  # 643 CPU-s measured
    ),
}


@dataclass(frozen=True)
class SceneOptions:
    """User-provided scene resources; all optional. Procedural textures need no files."""

    floor_texture: str | None = None  # image file for the floor's base colour
    hdri: str | None = None  # equirectangular HDR/EXR lighting the world
    floor_kind: str | None = None  # force a procedural floor kind (see render.scene.FLOOR_KINDS)


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines one clip. Same spec (and asset bytes) -> same ground truth."""

    asset: str  # "builtin:NAME" or a file path
    trajectory: TrajectorySpec
    settings: RenderSettings
    preset: str = "custom"
    camera_mode: str = "default"
    seed: int = 0
    num_track_points: int = 256
    write_png: bool = False
    min_flatness: float = 0.1
    scene: SceneOptions = field(default_factory=SceneOptions)
    clip_id: str = ""
    # None: the asset's rest pose; k: its own animation frozen at frame k (render/blender/asset_import.py)
    asset_frame: int | None = None

    def __post_init__(self) -> None:
        if self.asset_frame is not None and (isinstance(self.asset_frame, bool) or not isinstance(self.asset_frame, int)
                                             or self.asset_frame < 0):
            raise RenderError("invalid_spec", f"asset frame must be an integer >= 0 (or None: rest pose), "
                                              f"got {self.asset_frame!r}")
        if self.camera_mode not in CAMERA_MODES:
            raise RenderError("invalid_spec", f"camera mode {self.camera_mode!r} is not one of {', '.join(CAMERA_MODES)}")
        if self.settings.width < 8 or self.settings.height < 8 or self.settings.width % 2 or self.settings.height % 2:
            raise RenderError(
                "invalid_spec",
                f"image size {self.settings.width}x{self.settings.height} must be even and at least 8 (H.264 needs even sizes)",
            )
        pixel_frames = self.settings.width * self.settings.height * self.trajectory.num_frames
        if self.settings.width > MAX_IMAGE_SIDE or self.settings.height > MAX_IMAGE_SIDE:
            raise RenderError("invalid_spec", f"image size {self.settings.width}x{self.settings.height} is above the "
                                              f"cap of {MAX_IMAGE_SIDE} pixels per side")
        if pixel_frames > MAX_PIXEL_FRAMES:
            raise RenderError("invalid_spec", f"width x height x frames = {self.settings.width}x{self.settings.height}"
                                              f"x{self.trajectory.num_frames} = {pixel_frames:,} is above the cap of "
                                              f"{MAX_PIXEL_FRAMES:,} pixel-frames per clip (split it into shorter clips)")
        if self.settings.samples < 1:
            raise RenderError("invalid_spec", f"samples must be >= 1, got {self.settings.samples}")
        if not 0.01 <= self.settings.filter_width <= 10.0:
            raise RenderError("invalid_spec", f"filter width must be in [0.01, 10] pixels, got {self.settings.filter_width}")
        if self.settings.plate_samples < 0:
            raise RenderError("invalid_spec", f"plate samples must be >= 0 (0 = no plate), got {self.settings.plate_samples}")
        if self.num_track_points < 1:
            raise RenderError("invalid_spec", f"num_track_points must be >= 1, got {self.num_track_points}")
        if not self.clip_id:
            object.__setattr__(self, "clip_id", default_clip_id(self))
        elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.clip_id):
            raise RenderError("invalid_spec", f"clip id {self.clip_id!r} may only use letters, digits, '.', '_' and '-'")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["trajectory"] = self.trajectory.to_dict()
        if self.asset_frame is None:  # added later: rest-pose specs (plans, meta) read as they did before
            del data["asset_frame"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ClipSpec":
        data = dict(data)
        data["trajectory"] = TrajectorySpec.from_dict(data["trajectory"])
        data["settings"] = RenderSettings(**data["settings"])
        data["scene"] = SceneOptions(**data.get("scene", {}))
        return cls(**data)


def default_clip_timeout_s(spec: ClipSpec) -> float:
    """The default wall-clock limit of one clip: its preset's (``draft`` for a custom spec), scaled up by how
    much more pixels x frames x samples the clip has than the preset's own clips."""
    preset = PRESETS.get(spec.preset, PRESETS["draft"])
    work = spec.settings.width * spec.settings.height * spec.trajectory.num_frames * spec.settings.samples
    base = preset.settings.width * preset.settings.height * preset.num_frames * preset.settings.samples
    return preset.clip_timeout_s * max(1.0, work / base)


def default_clip_id(spec: ClipSpec) -> str:
    """Readable and unique: asset, trajectory, seed and a short hash of the full spec."""
    asset_name = spec.asset.split(":", 1)[1] if spec.asset.startswith("builtin:") else spec.asset.rsplit("/", 1)[-1]
    asset_name = re.sub(r"[^A-Za-z0-9_-]+", "-", asset_name.rsplit(".", 1)[0]).strip("-") or "asset"
    payload = asdict(spec) | {"clip_id": "", "trajectory": spec.trajectory.to_dict()}
    if spec.asset_frame is None:  # added later: the rest pose keeps the ids clips had before
        del payload["asset_frame"]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{asset_name}_{spec.trajectory.name}_s{spec.seed}_{digest}"


def make_clip_spec(
    asset: str,
    trajectory: str = "half_circle",
    *,
    preset: str = "draft",
    pose_mode: str = "yaw",
    speed_profile: str = "constant",
    num_frames: int | None = None,
    fps: float | None = None,
    width: int | None = None,
    height: int | None = None,
    samples: int | None = None,
    filter_width: float | None = None,
    plate_samples: int | None = None,
    seed: int = 0,
    camera_mode: str = "default",
    trajectory_overrides: dict | None = None,
    **options,
) -> ClipSpec:
    """Build a :class:`ClipSpec` from a preset plus overrides; the trajectory is sampled from ``seed``."""
    if preset not in PRESETS:
        raise RenderError("invalid_spec", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[preset]
    settings = base.settings
    overrides = {k: v for k, v in {"width": width, "height": height, "samples": samples,
                                   "filter_width": filter_width, "plate_samples": plate_samples}.items()
                 if v is not None}
    if overrides:
        settings = replace(settings, **overrides)
    try:
        traj = sample_trajectory_spec(
            trajectory,
            seed,
            num_frames=base.num_frames if num_frames is None else num_frames,
            fps=base.fps if fps is None else fps,
            speed_profile=speed_profile,
            pose_mode=pose_mode,
            overrides=trajectory_overrides,
        )
    except ValueError as exc:
        raise RenderError("invalid_spec", str(exc)) from None
    return ClipSpec(asset=asset, trajectory=traj, settings=settings, preset=preset, camera_mode=camera_mode, seed=seed, **options)
