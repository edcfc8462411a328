"""Load a PoseTraj pipeline and generate one video: shared by the CLI and the benchmark adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

from common.trajectories import Trajectories

DTYPES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling options; ``width``/``height`` are the generation size (multiples of 8)."""

    width: int = 576
    height: int = 320
    num_inference_steps: int = 25
    motion_bucket_id: int | None = None  # None: the ControlNet's training value (its config)
    noise_aug_strength: float | None = None  # None: the ControlNet's training value
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    controlnet_scale: float = 1.0
    seed: int = 0
    decode_chunk_size: int | None = None
    fps_id: int | None = None  # fps embedded in the added time ids; None: the ControlNet's training fps id


def load_pipeline(
    svd_path: str | Path, controlnet_path: str | Path | None, device: str = "auto", dtype: str = "fp32",
    variant: str | None = None, cpu_offload: bool = False,
):
    """A ready ``PoseTrajPipeline`` on ``device`` ("auto" = cuda when available, else cpu)."""
    import torch

    from posetraj.pipelines.pipeline_posetraj import PoseTrajPipeline

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = PoseTrajPipeline.from_svd(svd_path, controlnet_path, dtype=torch_dtype, variant=variant)
    if cpu_offload:
        if device == "cpu":
            raise ValueError("model CPU offload needs an accelerator device (got device 'cpu')")
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate_video(
    pipe, image: np.ndarray | PIL.Image.Image, trajectories: Trajectories, num_frames: int,
    settings: GenerationSettings = GenerationSettings(),
) -> np.ndarray:
    """(num_frames, settings.height, settings.width, 3) uint8 video from one image and trajectories.

    The model is conditioned on ``settings.fps_id`` or, when that is None, on the fps id it was trained
    with (its config)."""
    import torch

    pil = image if isinstance(image, PIL.Image.Image) else PIL.Image.fromarray(np.asarray(image, dtype=np.uint8))
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    frames = pipe(
        pil.convert("RGB"), trajectories, height=settings.height, width=settings.width, num_frames=num_frames,
        fps=settings.fps_id if settings.fps_id is not None else pipe.controlnet.config.fps_id,
        motion_bucket_id=settings.motion_bucket_id,
        noise_aug_strength=settings.noise_aug_strength, num_inference_steps=settings.num_inference_steps,
        min_guidance_scale=settings.min_guidance_scale, max_guidance_scale=settings.max_guidance_scale,
        controlnet_scale=settings.controlnet_scale, decode_chunk_size=settings.decode_chunk_size,
        generator=generator, output_type="np",
    ).frames[0]
    if not np.isfinite(frames).all():
        raise RuntimeError("generation produced non-finite values (fp16 overflow? try --dtype bf16 or fp32)")
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def generate_for_image(
    pipe, image: np.ndarray | PIL.Image.Image, trajectories: Trajectories, num_frames: int,
    settings: GenerationSettings = GenerationSettings(),
) -> np.ndarray:
    """(num_frames, H, W, 3) uint8 in the pixel frame of ``image`` (H, W): generated at the settings' size
    with trajectories given in ``image``'s pixels, then resized back (bicubic) when the sizes differ."""
    pil = image if isinstance(image, PIL.Image.Image) else PIL.Image.fromarray(np.asarray(image, dtype=np.uint8))
    pil = pil.convert("RGB")
    video = generate_video(pipe, pil, trajectories, num_frames, settings)
    if (video.shape[2], video.shape[1]) == pil.size:
        return video
    return np.stack([np.asarray(PIL.Image.fromarray(f).resize(pil.size, PIL.Image.BICUBIC)) for f in video])
