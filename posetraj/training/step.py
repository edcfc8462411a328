"""One differentiable ControlNet training step (EDM form of SVD fine-tuning, v-prediction).

Per sample: ln sigma ~ N(p_mean, p_std); x_sigma = x + sigma * eps;
c_in = 1 / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1), c_out = -sigma / sqrt(sigma^2 + 1),
c_noise = ln(sigma) / 4; the denoiser is D = c_out * F + c_skip * x_sigma with F the UNet output
(with ControlNet residuals), and the loss is the mean of (sigma^2 + 1) / sigma^2 * (D - x)^2.
UNet and ControlNet inputs are ``cat([c_in * x_sigma, image_latents], dim=2)`` (8 channels).

``encode_batch`` prepares the frozen-model inputs with the same preprocessing as the pipeline
(normalised CLIP input, pixel-space noise augmentation, ``added_time_ids``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

from posetraj.models.controlnet import TrajControlNetModel
from posetraj.models.time_ids import added_time_ids
from posetraj.models.unet import ResidualUNet


@dataclass
class TrainingBatch:
    """Inputs of one step; latents are the VAE's, image latents unscaled as the pipeline uses them."""

    latents: torch.Tensor  # (B, F, 4, h, w), scaled by the VAE scaling factor
    image_latents: torch.Tensor  # (B, 4, h, w), first frame, noise-augmented, latent_dist.mode()
    image_embeddings: torch.Tensor  # (B, 1, D)
    added_time_ids: torch.Tensor  # (B, 3)
    conditioning: torch.Tensor  # (B, F, C, H, W)
    camera: torch.Tensor | None = None  # (B, F, 12)


@dataclass(frozen=True)
class EDMConfig:
    p_mean: float = 0.7
    p_std: float = 1.6


def encode_batch(
    pipe, video: torch.Tensor, conditioning: torch.Tensor, fps: int = 6, motion_bucket_id: int = 127,
    noise_aug_strength: float = 0.02, generator: torch.Generator | None = None, camera: torch.Tensor | None = None,
) -> TrainingBatch:
    """Encode ``video`` (B, F, 3, H, W) in [-1, 1] with the pipeline's frozen VAE and CLIP."""
    batch, frames = video.shape[:2]
    with torch.no_grad():
        first = video[:, 0]
        clip_in = (_resize_with_antialiasing(first, (224, 224)) + 1.0) / 2.0
        clip_in = pipe.feature_extractor(
            images=clip_in, do_normalize=True, do_center_crop=False, do_resize=False, do_rescale=False,
            return_tensors="pt",
        ).pixel_values.to(video.device, pipe.image_encoder.dtype)
        image_embeddings = pipe.image_encoder(clip_in).image_embeds.unsqueeze(1)
        noise = torch.randn(first.shape, generator=generator).to(first.device, first.dtype)
        image_latents = pipe.vae.encode(first + noise_aug_strength * noise).latent_dist.mode()
        posterior = pipe.vae.encode(video.flatten(0, 1)).latent_dist
        latent_noise = torch.randn(posterior.mean.shape, generator=generator).to(posterior.mean)
        latents = (posterior.mean + posterior.std * latent_noise) * pipe.vae.config.scaling_factor
    return TrainingBatch(
        latents=latents.reshape(batch, frames, *latents.shape[1:]),
        image_latents=image_latents,
        image_embeddings=image_embeddings,
        added_time_ids=added_time_ids(fps, motion_bucket_id, noise_aug_strength, batch, image_embeddings.dtype,
                                      video.device),
        conditioning=conditioning,
        camera=camera,
    )


def edm_training_loss(
    controlnet: TrajControlNetModel, unet: ResidualUNet, batch: TrainingBatch,
    generator: torch.Generator | None = None, config: EDMConfig = EDMConfig(),
) -> torch.Tensor:
    """Scalar EDM loss of one step; call ``.backward()`` on it (only the ControlNet should train)."""
    x = batch.latents
    size = x.shape[0]
    log_sigma = config.p_mean + config.p_std * torch.randn(size, generator=generator)
    sigma = log_sigma.exp().to(x.device, x.dtype)
    eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    s = sigma.view(-1, 1, 1, 1, 1)
    noisy = x + s * eps
    c_in = 1.0 / torch.sqrt(s * s + 1.0)
    c_skip = 1.0 / (s * s + 1.0)
    c_out = -s / torch.sqrt(s * s + 1.0)
    c_noise = log_sigma.to(x.device, x.dtype) / 4.0
    image_latents = batch.image_latents.unsqueeze(1).expand(-1, x.shape[1], -1, -1, -1).to(x.dtype)
    model_input = torch.cat([c_in * noisy, image_latents], dim=2)
    down, mid = controlnet(
        model_input, c_noise, batch.image_embeddings, batch.added_time_ids, batch.conditioning,
        camera=batch.camera, generator=generator, return_dict=False,
    )
    prediction = unet(
        model_input, c_noise, batch.image_embeddings, batch.added_time_ids, down, mid,
        injection=controlnet.config.residual_injection,
    )
    denoised = c_out * prediction + c_skip * noisy
    weight = (s * s + 1.0) / (s * s)
    return (weight * (denoised - x) ** 2).mean()
