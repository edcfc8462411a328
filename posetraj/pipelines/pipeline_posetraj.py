"""PoseTrajPipeline: SVD image-to-video with a trajectory ControlNet.

Built on diffusers' ``StableVideoDiffusionPipeline``, whose image handling it reuses unchanged:
the CLIP input is resized with antialiasing to 224x224 and normalised with CLIP's mean/std, and the
first frame is noise-augmented in pixel space before the VAE encodes it (``latent_dist.mode()``),
exactly as SVD does. The added time ids come from ``models.time_ids.added_time_ids``, the same
function the training step uses: ``[fps, motion_bucket_id, noise_aug_strength]``. Their defaults are the
values the ControlNet was trained with (recorded in its config by ``posetraj train``).

The trajectory encoder runs once per video (its output does not depend on the noise level); per
denoising step the ControlNet turns the (CFG-doubled) latents plus those features into residuals,
and ``ResidualUNet`` feeds them to the stock UNet. The conditional and the unconditional halves get
the same trajectory (image-conditioning CFG only, as in the original).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import StableVideoDiffusionPipeline
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
    StableVideoDiffusionPipelineOutput,
    _append_dims,
    retrieve_timesteps,
)
from diffusers.utils.torch_utils import randn_tensor

from common.trajectories import Trajectories
from posetraj.conditioning import ConditioningConfig, encode_trajectories
from posetraj.models.controlnet import TrajControlNetModel
from posetraj.models.time_ids import added_time_ids
from posetraj.models.unet import ResidualUNet


class PoseTrajPipeline(StableVideoDiffusionPipeline):
    """``pipe(image, trajectories, ...)`` -> frames; components: SVD's five plus ``controlnet``."""

    model_cpu_offload_seq = "image_encoder->controlnet->unet->vae"

    def __init__(self, vae, image_encoder, unet, scheduler, feature_extractor, controlnet: TrajControlNetModel):
        super().__init__(vae, image_encoder, unet, scheduler, feature_extractor)
        self.register_modules(controlnet=controlnet)
        self.residual_unet = ResidualUNet(unet)

    @classmethod
    def from_svd(
        cls, svd_path: str | Path, controlnet: str | Path | TrajControlNetModel | None = None,
        dtype: torch.dtype = torch.float32, variant: str | None = None, **controlnet_options: Any,
    ) -> "PoseTrajPipeline":
        """Frozen SVD parts from a local diffusers folder plus a ControlNet.

        ``controlnet``: a folder saved by ``TrajControlNetModel.save_pretrained``, a model, or None
        for a fresh ``from_unet`` copy (zero residuals: the output equals plain SVD).
        ``variant="fp16"`` reads the real SVD repo's ``*.fp16.safetensors``; ``dtype`` is passed to
        every component (transformers 5 would otherwise load CLIP in the dtype its config names).
        """
        svd_path = Path(svd_path)
        if not (svd_path / "model_index.json").is_file():
            raise FileNotFoundError(f"{svd_path}: not a diffusers SVD folder (no model_index.json)")
        svd = StableVideoDiffusionPipeline.from_pretrained(svd_path, dtype=dtype, variant=variant)
        if controlnet is None:
            model = TrajControlNetModel.from_unet(svd.unet, **controlnet_options)
        elif isinstance(controlnet, TrajControlNetModel):
            model = controlnet
        else:
            folder = Path(controlnet)
            if not (folder / "config.json").is_file():
                raise FileNotFoundError(f"{folder}: not a saved TrajControlNetModel (no config.json)")
            model = TrajControlNetModel.from_pretrained(folder)
        if model.dtype != dtype:
            model = model.to(dtype=dtype)
        model.eval()
        return cls(**svd.components, controlnet=model)

    def conditioning_tensor(
        self, trajectories: Trajectories | np.ndarray | torch.Tensor, num_frames: int, height: int, width: int,
    ) -> torch.Tensor:
        """Trajectories -> ``(1, F, C, H, W)`` conditioning with the ControlNet's configured encoding.

        A ready tensor or array of shape (F, C, H, W) or (1, F, C, H, W) is passed through.
        """
        if isinstance(trajectories, Trajectories):
            config = ConditioningConfig(encoding=self.controlnet.config.conditioning_encoding)
            encoded, _ = encode_trajectories(trajectories, num_frames, width, height, config)
            cond = torch.from_numpy(encoded)
        else:
            cond = torch.as_tensor(np.asarray(trajectories) if not torch.is_tensor(trajectories) else trajectories)
        if cond.ndim == 4:
            cond = cond[None]
        expected = (1, num_frames, self.controlnet.config.conditioning_channels, height, width)
        if tuple(cond.shape) != expected:
            raise ValueError(f"trajectory conditioning must have shape {expected}, got {tuple(cond.shape)}")
        return cond

    def _encode_image(self, image, device, num_videos_per_prompt, do_classifier_free_guidance):
        """SVD's CLIP image embedding, outside any autocast: its preprocessing hands a tensor to the feature
        extractor's numpy conversion, which has no bfloat16 (the trainer's validation runs under autocast)."""
        with torch.autocast(device_type=torch.device(device).type, enabled=False):
            return super()._encode_image(image, device, num_videos_per_prompt, do_classifier_free_guidance)

    @torch.no_grad()
    def __call__(
        self,
        image: PIL.Image.Image | torch.Tensor,
        trajectories: Trajectories | np.ndarray | torch.Tensor,
        height: int = 320,
        width: int = 576,
        num_frames: int = 14,
        fps: int | None = None,
        motion_bucket_id: int | None = None,
        noise_aug_strength: float | None = None,
        num_inference_steps: int = 25,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 3.0,
        controlnet_scale: float = 1.0,
        camera: torch.Tensor | np.ndarray | None = None,
        decode_chunk_size: int | None = None,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> StableVideoDiffusionPipelineOutput | Any:
        """Generate ``num_frames`` frames from one first frame and trajectories.

        ``fps`` is the frame-rate id the model is conditioned on, embedded as is (the original PoseTraj
        trained with 6; diffusers' stock SVD pipeline embeds its ``fps`` argument minus one). ``fps``,
        ``motion_bucket_id`` and ``noise_aug_strength`` default to the ControlNet's training values
        (``fps_id``, ``motion_bucket_id``, ``noise_aug_strength`` in its config). ``camera``: (F, 12) or (1, F, 12)
        relative camera poses for a camera-aware ControlNet, None for the no-camera mode.
        ``output_type``: "np" (1, F, H, W, 3) floats in [0, 1], "pt", "pil" or "latent".
        """
        if isinstance(image, list):
            raise ValueError("PoseTrajPipeline generates one video per call: pass a single image")
        trained = self.controlnet.config
        fps = trained.fps_id if fps is None else fps
        motion_bucket_id = trained.motion_bucket_id if motion_bucket_id is None else motion_bucket_id
        noise_aug_strength = trained.noise_aug_strength if noise_aug_strength is None else noise_aug_strength
        self.check_inputs(image, height, width)
        device = self._execution_device
        decode_chunk_size = decode_chunk_size or num_frames
        self._guidance_scale = max_guidance_scale
        cfg = self.do_classifier_free_guidance

        image_embeddings = self._encode_image(image, device, 1, cfg)
        dtype = image_embeddings.dtype
        pixels = self.video_processor.preprocess(image, height=height, width=width).to(device)
        noise = randn_tensor(pixels.shape, generator=generator, device=device, dtype=pixels.dtype)
        pixels = pixels + noise_aug_strength * noise
        needs_upcasting = self.vae.dtype == torch.float16 and self.vae.config.force_upcast
        if needs_upcasting:
            self.vae.to(dtype=torch.float32)
        image_latents = self._encode_vae_image(pixels, device, 1, cfg).to(dtype)
        if needs_upcasting:
            self.vae.to(dtype=torch.float16)
        image_latents = image_latents.unsqueeze(1).repeat(1, num_frames, 1, 1, 1)

        time_ids = added_time_ids(fps, motion_bucket_id, noise_aug_strength, 1, dtype=dtype, device=device)
        cond = self.conditioning_tensor(trajectories, num_frames, height, width).to(device=device, dtype=dtype)
        cam = None
        if camera is not None:
            cam = torch.as_tensor(np.asarray(camera) if not torch.is_tensor(camera) else camera)
            cam = (cam[None] if cam.ndim == 2 else cam).to(device=device, dtype=dtype)
        # the trajectory features do not depend on the noise level: encode once, share between CFG halves
        features = self.controlnet.encode_conditioning(cond, cam)
        if cfg:
            time_ids = torch.cat([time_ids, time_ids])
            features = torch.cat([features, features])

        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)
        latents = self.prepare_latents(
            1, num_frames, self.unet.config.in_channels, height, width, dtype, device, generator, latents,
        )
        guidance = torch.linspace(min_guidance_scale, max_guidance_scale, num_frames).unsqueeze(0)
        self._guidance_scale = _append_dims(guidance.to(device, latents.dtype), latents.ndim)
        self._num_timesteps = len(timesteps)
        injection = self.controlnet.config.residual_injection

        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for t in timesteps:
                model_input = torch.cat([latents] * 2) if cfg else latents
                model_input = self.scheduler.scale_model_input(model_input, t)
                model_input = torch.cat([model_input, image_latents], dim=2)
                down, mid = self.controlnet(
                    model_input, t, image_embeddings, time_ids, conditioning_features=features,
                    conditioning_scale=controlnet_scale, return_dict=False,
                )
                noise_pred = self.residual_unet(
                    model_input, t, image_embeddings, time_ids, down, mid, injection=injection,
                )
                if cfg:
                    uncond, conditional = noise_pred.chunk(2)
                    noise_pred = uncond + self.guidance_scale * (conditional - uncond)
                latents = self.scheduler.step(noise_pred, t, latents).prev_sample
                progress_bar.update()

        if output_type == "latent":
            frames = latents
        else:
            if needs_upcasting:
                self.vae.to(dtype=torch.float16)
            frames = self.decode_latents(latents, num_frames, decode_chunk_size)
            frames = self.video_processor.postprocess_video(video=frames, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return frames
        return StableVideoDiffusionPipelineOutput(frames=frames)
