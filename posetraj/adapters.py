"""Benchmark adapter: ``posetraj.adapters:generate(image, trajectories, num_frames, fps) -> video``.

Configure once with ``configure(svd=..., controlnet=...)`` or environment variables (read at the
first ``generate`` call when ``configure`` was not called):

| variable | meaning | default |
|---|---|---|
| ``POSETRAJ_SVD`` | local diffusers SVD img2vid folder | required |
| ``POSETRAJ_CONTROLNET`` | saved Traj-ControlNet folder | none: untrained copy (= plain SVD) |
| ``POSETRAJ_DEVICE`` | cpu / cuda / auto | auto |
| ``POSETRAJ_DTYPE`` | fp32 / fp16 / bf16 | fp32 |
| ``POSETRAJ_VARIANT`` | weights variant, e.g. fp16 | none |
| ``POSETRAJ_STEPS`` | denoising steps | 25 |
| ``POSETRAJ_SIZE`` | generation size WxH | 576x320 |
| ``POSETRAJ_SEED`` | sampling seed | 0 |
| ``POSETRAJ_FPS_ID`` | fps id given to the model | the one it was trained with (its config; 6 for PoseTraj) |

``image`` is (H, W, 3) uint8 (or a PIL image); ``trajectories`` are pixel positions in that image:
a ``Trajectories``, an array (T, 2) or (T, N, 2), or a dict ``{id: (T, 2)}``; NaN marks missing
points. The video is generated at the configured size and resized back to the image's size
(bicubic), so the output is (num_frames, H, W, 3) uint8 in the image's pixel frame. The model is
conditioned on the fps id, motion bucket and noise augmentation it was trained with (recorded in the
ControlNet's config by ``posetraj train``), not on the suite's ``fps``, unless configured otherwise.

``generate.cache_key()`` describes the configuration (the ControlNet's weights by content, the SVD
folder by file names, sizes and times, the sampling settings), so the harness's video cache never
serves videos of another model or setting.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

from common.trajectories import Trajectories
from posetraj.inference import GenerationSettings


@dataclass(frozen=True)
class AdapterConfig:
    svd: Path
    controlnet: Path | None = None
    device: str = "auto"
    dtype: str = "fp32"
    variant: str | None = None
    settings: GenerationSettings = GenerationSettings()


_config: AdapterConfig | None = None
_pipe: Any = None


def configure(
    svd: str | Path, controlnet: str | Path | None = None, device: str = "auto", dtype: str = "fp32",
    variant: str | None = None, **settings: Any,
) -> None:
    """Set the model paths and sampling options (``settings``: ``GenerationSettings`` fields)."""
    global _config, _pipe
    _config = AdapterConfig(
        svd=Path(svd), controlnet=None if controlnet is None else Path(controlnet), device=device, dtype=dtype,
        variant=variant, settings=replace(GenerationSettings(), **settings),
    )
    _pipe = None


def _config_from_env() -> AdapterConfig:
    svd = os.environ.get("POSETRAJ_SVD")
    if not svd:
        raise RuntimeError("posetraj adapter: call posetraj.adapters.configure(svd=...) or set POSETRAJ_SVD")
    size = os.environ.get("POSETRAJ_SIZE", "576x320").lower().split("x")
    if len(size) != 2 or not all(v.isdigit() for v in size):
        raise ValueError(f"POSETRAJ_SIZE must be WIDTHxHEIGHT, got {os.environ['POSETRAJ_SIZE']!r}")
    settings = GenerationSettings(
        width=int(size[0]), height=int(size[1]), num_inference_steps=int(os.environ.get("POSETRAJ_STEPS", "25")),
        seed=int(os.environ.get("POSETRAJ_SEED", "0")),
        fps_id=int(os.environ["POSETRAJ_FPS_ID"]) if os.environ.get("POSETRAJ_FPS_ID") else None,
    )
    controlnet = os.environ.get("POSETRAJ_CONTROLNET")
    return AdapterConfig(
        svd=Path(svd), controlnet=Path(controlnet) if controlnet else None,
        device=os.environ.get("POSETRAJ_DEVICE", "auto"), dtype=os.environ.get("POSETRAJ_DTYPE", "fp32"),
        variant=os.environ.get("POSETRAJ_VARIANT") or None, settings=settings,
    )


def as_trajectories(trajectories: Any, size: tuple[int, int]) -> Trajectories:
    """Accept a ``Trajectories``, an array (T, 2) / (T, N, 2) or a dict {id: (T, 2)} in an image of ``size``."""
    if isinstance(trajectories, Trajectories):
        return trajectories
    if isinstance(trajectories, dict):
        return Trajectories.from_dict(trajectories, size, source="trajectories")
    return Trajectories.from_array(np.asarray(trajectories, dtype=np.float64), size)


def _cache_key() -> str:
    """The configuration's identity for the harness's video cache (see the module docstring)."""
    import json

    from common.hashing import sha256_tree

    config = _config if _config is not None else _config_from_env()
    svd_files = sorted(p for p in config.svd.rglob("*") if p.is_file()) if config.svd.is_dir() else []
    svd = [[str(p.relative_to(config.svd)), p.stat().st_size, p.stat().st_mtime_ns] for p in svd_files]
    controlnet = sha256_tree([config.controlnet]) if config.controlnet is not None else None
    return json.dumps({"svd": str(config.svd.resolve()), "svd_files": svd, "controlnet_sha256": controlnet,
                       "dtype": config.dtype, "variant": config.variant, "settings": asdict(config.settings)},
                      sort_keys=True)


def generate(image: Any, trajectories: Any, num_frames: int, fps: float) -> np.ndarray:
    """Generate (num_frames, H, W, 3) uint8 from ``image`` (H, W, 3) and its pixel trajectories.

    ``fps`` (the harness's interface) is the suite's frame rate; the model is conditioned on its
    training fps id unless ``fps_id`` / ``POSETRAJ_FPS_ID`` says otherwise."""
    global _config, _pipe
    from posetraj.inference import generate_for_image, load_pipeline

    if _config is None:
        _config = _config_from_env()
    if _pipe is None:
        _pipe = load_pipeline(_config.svd, _config.controlnet, _config.device, _config.dtype, _config.variant)
    pil = image if isinstance(image, PIL.Image.Image) else PIL.Image.fromarray(np.asarray(image, dtype=np.uint8))
    pil = pil.convert("RGB")
    return generate_for_image(_pipe, pil, as_trajectories(trajectories, pil.size), num_frames, _config.settings)


generate.cache_key = _cache_key
