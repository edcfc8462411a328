"""Training configuration: dataclasses, YAML files (``yaml.safe_load``) and ``key=value`` overrides.

A config has six sections (``model``, ``data``, ``objective``, ``optim``, ``train``, ``validation``) plus
``stage``, ``output_dir`` and ``schema_version``. Every key can be overridden on the command line with its
dotted name, e.g. ``data.width=64 optim.lr=1e-4 data.paths=[clips/a,clips/b]``; values are parsed as YAML
and checked against the field's type. The shipped configs (``posetraj/configs/*.yaml``) are named by their
stem: ``pose``, ``clean``, ``real``, ``camera``. Relative paths are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONFIG_SCHEMA_VERSION = 1
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
SIGMA_SAMPLINGS = ("cosine_interpolated", "lognormal")
RESIZE_MODES = ("crop", "pad", "stretch")
PRECISIONS = ("no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")


class ConfigError(ValueError):
    """A config file or override is invalid (the message names the key)."""


@dataclass
class ModelConfig:
    """The frozen SVD and the ControlNet to train."""

    svd: str = ""  # local diffusers SVD img2vid folder (required)
    variant: str | None = None  # "fp16" reads the official repo's *.fp16.safetensors
    init: str = "unet"  # "unet": a fresh copy of the UNet's encoder; else a ControlNet folder (previous stage)
    use_camera: bool = False  # add / keep the camera-disentanglement module (zero-initialised when added)
    camera_dropout_prob: float = 0.5  # whole-sequence camera dropout (the original's cam_mask_ratio)
    conditioning_encoding: str = "segments"  # segments | gaussian (a new ControlNet only)
    residual_injection: str = "once"  # once | accumulate (a new ControlNet only)


@dataclass
class DataConfig:
    """Where the training windows come from and how they are prepared."""

    kind: str = "clips"  # clips (our clip format) | real (frames folders + trajectory JSON)
    paths: list[str] = field(default_factory=list)  # dataset folders / clip folders (clips); roots (real)
    target: str = "clean"  # clips: "boxes" (stage 1: projected 3D box drawn in) | "clean"
    num_frames: int = 14
    width: int = 576
    height: int = 320
    resize: str = "crop"  # keep the aspect and crop (centre) or pad (black), or stretch (the original)
    min_points: int = 1  # trajectories per window, drawn uniformly in [min_points, max_points]
    max_points: int | None = 8  # None: every trajectory (real data, as the original drew them all)
    min_visible_fraction: float = 0.8  # a sampled surface point is visible in this share of the window
    exclude_suites: list[str] = field(default_factory=list)  # refuse data sharing assets with these suites
    frames_dir: str = "frames"  # real: <root>/<frames_dir>/<video>/*.jpg|png
    trajectories_dir: str = "trajectories"  # real: <root>/<trajectories_dir>/<video>.json (DragAnything)
    cameras_dir: str = "cameras"  # real, optional: <root>/<cameras_dir>/<video>.npz (cam_w2c or R, t)
    video_list: str | None = None  # real: text file of video ids to use (default: every JSON)
    outliers: str = "drop"  # real trajectory outliers, as the benchmark harness handles them
    num_workers: int = 4  # loader processes (0: load in the training process)
    cache_dir: str | None = None  # cache of VAE latents and CLIP embeddings per clip (None: no cache)
    cache_dtype: str = "float16"  # float16 | float32
    strict: bool = False  # a malformed sample is an error instead of a logged skip


@dataclass
class ObjectiveConfig:
    """The EDM v-prediction objective and its conditioning."""

    sigma_sampling: str = "cosine_interpolated"  # the original's (median sigma ~0.71) | lognormal (~2.0)
    p_mean: float = 0.7  # lognormal: ln sigma ~ N(p_mean, p_std)
    p_std: float = 1.6
    sigma_min: float = 0.002  # cosine_interpolated: sigma range and the k-diffusion parameters
    sigma_max: float = 700.0
    cosine_sigma_data: float = 0.5
    cosine_image_d: float = 64.0
    cosine_noise_d_low: float = 32.0
    cosine_noise_d_high: float = 64.0
    single_frame_loss_weight: float = 0.0  # the original's extra one-frame loss (it used 0.5)
    conditioning_dropout_prob: float = 0.1  # CFG dropout: CLIP alone, image latent alone, both (p each)
    trajectory_dropout_prob: float = 0.0  # trajectories are never dropped unless set
    fps_id: int = 6  # micro-conditioning used in training, recorded in the ControlNet's config
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02


@dataclass
class OptimConfig:
    """AdamW on the ControlNet, learning-rate schedule and gradient clipping."""

    lr: float = 1e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 1e-2
    eps: float = 1e-8
    lr_scheduler: str = "constant"  # constant | constant_with_warmup | linear | cosine
    warmup_steps: int = 0
    max_grad_norm: float = 1.0  # 0: no clipping


@dataclass
class LoopConfig:
    """Batching, precision, checkpoints and logging."""

    batch_size: int = 1  # per process
    gradient_accumulation_steps: int = 2
    max_steps: int = 60000  # optimiser steps in total
    session_steps: int = 0  # stop (with a checkpoint) after this many steps in this run; 0: no limit
    mixed_precision: str = "fp16"  # no | fp16 | bf16 (frozen models in that dtype, ControlNet fp32)
    gradient_checkpointing: bool = True  # diffusers' checkpointing of the ControlNet and the frozen UNet
    block_checkpointing: bool = False  # also every whole down/mid/up block (checkpointing.py): SVD-XT sizes
    ema: bool = False
    ema_decay: float = 0.9999
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    resume: str = "auto"  # auto (latest checkpoint in output_dir, if any) | none | a checkpoint folder
    log_every: int = 10
    seed: int = 0
    num_threads: int = 0  # torch CPU threads (0: torch's default)


@dataclass
class ValidationConfig:
    """Validation videos through PoseTrajPipeline, scored with the benchmark's metrics."""

    suite: str | None = None  # a (small) benchmark suite; None: no validation
    every: int = 1000  # steps; also at step 1 and at the end
    num_inference_steps: int = 25
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    tracker: str | None = None  # the harness's default when None
    seed: int = 0


@dataclass
class TrainConfig:
    """One training stage."""

    schema_version: int = CONFIG_SCHEMA_VERSION
    stage: str = "pose"
    output_dir: str = "runs/pose"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        check_config(self)


_CHOICES = {
    "data.kind": ("clips", "real"), "data.target": ("boxes", "clean"), "data.resize": RESIZE_MODES,
    "data.outliers": ("keep", "hide", "drop"), "data.cache_dtype": ("float16", "float32"),
    "objective.sigma_sampling": SIGMA_SAMPLINGS, "optim.lr_scheduler": LR_SCHEDULES,
    "train.mixed_precision": PRECISIONS, "model.conditioning_encoding": ("segments", "gaussian"),
    "model.residual_injection": ("once", "accumulate"),
}


def check_config(config: TrainConfig) -> None:
    """Value checks that types cannot express; a :class:`ConfigError` names the key."""
    if config.schema_version != CONFIG_SCHEMA_VERSION:
        raise ConfigError(f"schema_version {config.schema_version} is not supported (this reader knows "
                          f"{CONFIG_SCHEMA_VERSION})")
    for key, choices in _CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)}")
    d, o, t = config.data, config.objective, config.train
    positive = {"data.num_frames": d.num_frames - 1, "data.width": d.width, "data.height": d.height,
                "data.min_points": d.min_points, "train.batch_size": t.batch_size,
                "train.gradient_accumulation_steps": t.gradient_accumulation_steps,
                "train.checkpoint_every": t.checkpoint_every, "train.keep_checkpoints": t.keep_checkpoints,
                "train.log_every": t.log_every, "validation.every": config.validation.every}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive" + (" (at least 2 frames)" if key == "data.num_frames" else ""))
    if d.width % 8 or d.height % 8:
        raise ConfigError(f"data.width and data.height must be multiples of 8, got {d.width}x{d.height}")
    if d.max_points is not None and d.max_points < d.min_points:
        raise ConfigError(f"data.max_points ({d.max_points}) is below data.min_points ({d.min_points})")
    for key, value in (("objective.conditioning_dropout_prob", 3 * o.conditioning_dropout_prob),
                       ("objective.trajectory_dropout_prob", o.trajectory_dropout_prob),
                       ("model.camera_dropout_prob", config.model.camera_dropout_prob),
                       ("data.min_visible_fraction", d.min_visible_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key} out of range" + (" (at most 1/3: three disjoint cases)"
                                                       if key.startswith("objective.cond") else " [0, 1]"))
    if t.max_steps < 0 or t.session_steps < 0 or config.optim.lr <= 0:
        raise ConfigError("train.max_steps and train.session_steps must be >= 0 and optim.lr > 0")
    if not 0.0 < t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in (0, 1), got {t.ema_decay}")
    if o.sigma_min <= 0 or o.sigma_max <= o.sigma_min:
        raise ConfigError("objective.sigma_min must be > 0 and below objective.sigma_max")


# ------------------------------------------------------------------------------------------------
# Building dataclasses from plain data, with type checks
# ------------------------------------------------------------------------------------------------


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, (str, int, float)) and item is str:
            value = [value]  # a single path
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {hint.__name__} keys, got {value!r}")
        return _build(hint, value, key + ".")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, bool):  # YAML 1.1 reads an unquoted no / off as false (train.mixed_precision=no)
            return "yes" if value else "no"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {hint}")  # pragma: no cover


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]} (known: {', '.join(prefix + n for n in sorted(names))})")
    kwargs = {name: _coerce(value, hints[name], prefix + name) for name, value in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict) -> TrainConfig:
    """A checked :class:`TrainConfig` from nested plain data (a parsed YAML file)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping, got {type(data).__name__}")
    return _build(TrainConfig, data)


def apply_override(data: dict, assignment: str) -> None:
    """Apply one ``dotted.key=value`` override (value parsed as YAML) to nested plain data."""
    import yaml

    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {assignment!r} is not key=value")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {part} is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {key}: cannot parse {text!r} ({exc})") from None


def shipped_configs() -> dict[str, Path]:
    """``{name: path}`` of the configs shipped with posetraj."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file: a path, or the name of a shipped config (``pose``, ``clean``, ``real``, ``camera``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ConfigError(f"{name_or_path}: no such config file or shipped config (shipped: {', '.join(shipped)})")


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (``yaml.safe_load``), apply ``key=value`` overrides and check it."""
    import yaml

    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping")
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_to_yaml(config: TrainConfig) -> str:
    """The resolved config as YAML (what is saved next to the checkpoints)."""
    import yaml

    return yaml.safe_dump(asdict(config), sort_keys=False, default_flow_style=None)


def config_differences(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    def flat(data: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in data.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[prefix + key] = value
        return out

    a, b = flat(asdict(old)), flat(asdict(new))
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
