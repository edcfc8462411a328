"""One ControlNet training step: encode a batch with the frozen VAE and CLIP, then the EDM loss.

``encode_batch`` prepares the frozen-model inputs with exactly the pipeline's preprocessing: the CLIP
input is the first frame resized with antialiasing to 224x224 and normalised with CLIP's mean/std; the
first frame is noise-augmented in pixel space (strength x N(0, 1)) before the VAE encodes it
(``latent_dist.mode()``, unscaled); the video latents are a posterior sample times the VAE's scaling
factor; the added time ids come from ``models.time_ids.added_time_ids``. Random draws come from one
generator per sample when a list is given (see ``objective.py``). ``edm_training_loss`` is the loss of
``objective.py`` on such a batch (the trainer in ``loop.py`` calls the same functions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

from posetraj.models.controlnet import TrajControlNetModel
from posetraj.models.time_ids import added_time_ids
from posetraj.models.unet import ResidualUNet
from posetraj.training.config import ObjectiveConfig
from posetraj.training.objective import SampleDraws, blank_value, edm_loss

#: a plain step: log-normal sigma (SVD_Xtend's), no CFG dropout, no single-frame loss
STEP_OBJECTIVE = ObjectiveConfig(sigma_sampling="lognormal", conditioning_dropout_prob=0.0)


@dataclass
class TrainingBatch:
    """Inputs of one step; latents are the VAE's, image latents unscaled as the pipeline uses them."""

    latents: torch.Tensor  # (B, F, 4, h, w), scaled by the VAE scaling factor
    image_latents: torch.Tensor  # (B, 4, h, w), first frame, noise-augmented, latent_dist.mode()
    image_embeddings: torch.Tensor  # (B, 1, D)
    added_time_ids: torch.Tensor  # (B, 3)
    conditioning: torch.Tensor  # (B, F, C, H, W)
    camera: torch.Tensor | None = None  # (B, F, 12)


@dataclass
class FrozenEncoders:
    """The frozen VAE and CLIP image encoder with the CLIP normalisation of the pipeline's feature extractor."""

    vae: torch.nn.Module
    image_encoder: torch.nn.Module
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    @classmethod
    def from_components(cls, vae, image_encoder, feature_extractor) -> "FrozenEncoders":
        return cls(vae, image_encoder, tuple(feature_extractor.image_mean), tuple(feature_extractor.image_std))

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @torch.no_grad()
    def clip_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, 1, D), as ``StableVideoDiffusionPipeline._encode_image``."""
        x = (_resize_with_antialiasing(images.float(), (224, 224)) + 1.0) / 2.0
        mean = torch.tensor(self.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std, device=x.device).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(self.image_encoder.dtype)
        return self.image_encoder(x).image_embeds.unsqueeze(1)

    @torch.no_grad()
    def image_latents(self, images: torch.Tensor, noise: torch.Tensor, strength: float) -> torch.Tensor:
        """First-frame latents: ``vae.encode(image + strength * noise).latent_dist.mode()`` (unscaled)."""
        x = (images.float() + strength * noise.to(images.device, torch.float32)).to(self.vae.dtype)
        return self.vae.encode(x).latent_dist.mode().float()

    @torch.no_grad()
    def posteriors(self, frames: torch.Tensor, chunk: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) frames -> the VAE posterior's mean and std, (N, 4, h, w) each, unscaled."""
        means, stds = [], []
        for start in range(0, frames.shape[0], chunk):
            dist = self.vae.encode(frames[start:start + chunk].to(self.vae.dtype)).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
        return torch.cat(means), torch.cat(stds)


def _generators(generator: torch.Generator | Sequence[torch.Generator] | None, count: int) -> list[torch.Generator]:
    if generator is None:
        return [torch.default_generator] * count
    if isinstance(generator, torch.Generator):
        return [generator] * count
    if len(generator) != count:
        raise ValueError(f"{len(generator)} generators for a batch of {count}")
    return list(generator)


def encoding_noise(generators: Sequence[torch.Generator], image_shape: tuple[int, ...],
                   latent_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, in this order: the first frame's noise augmentation (``image_shape``) and the latent
    posterior noise (``latent_shape`` = (F, 4, h, w)); stacked over the batch."""
    image, latent = [], []
    for g in generators:
        image.append(torch.randn(image_shape, generator=g))
        latent.append(torch.randn(latent_shape, generator=g))
    return torch.stack(image), torch.stack(latent)


def encode_batch(
    pipe, video: torch.Tensor, conditioning: torch.Tensor, fps: int = 6, motion_bucket_id: int = 127,
    noise_aug_strength: float = 0.02, generator: torch.Generator | Sequence[torch.Generator] | None = None,
    camera: torch.Tensor | None = None, encoders: FrozenEncoders | None = None,
) -> TrainingBatch:
    """Encode ``video`` (B, F, 3, H, W) in [-1, 1] with the frozen VAE and CLIP (of ``pipe`` or ``encoders``).

    ``generator``: one for the batch or one per sample; each sample draws its first-frame noise, then its
    latent posterior noise."""
    encoders = encoders or FrozenEncoders.from_components(pipe.vae, pipe.image_encoder, pipe.feature_extractor)
    batch, frames, _, height, width = video.shape
    first = video[:, 0]
    image_noise, latent_noise = encoding_noise(_generators(generator, batch), (3, height, width),
                                               (frames, encoders.vae.config.latent_channels, height // 8, width // 8))
    mean, std = encoders.posteriors(video.flatten(0, 1))
    latents = (mean + std * latent_noise.to(mean.device).flatten(0, 1)) * encoders.scaling_factor
    embeddings = encoders.clip_embeddings(first)
    return TrainingBatch(
        latents=latents.reshape(batch, frames, *latents.shape[1:]),
        image_latents=encoders.image_latents(first, image_noise, noise_aug_strength),
        image_embeddings=embeddings,
        added_time_ids=added_time_ids(fps, motion_bucket_id, noise_aug_strength, batch, embeddings.dtype, video.device),
        conditioning=conditioning,
        camera=camera,
    )


def edm_training_loss(
    controlnet: TrajControlNetModel, unet: ResidualUNet, batch: TrainingBatch,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    config: ObjectiveConfig = STEP_OBJECTIVE,
) -> torch.Tensor:
    """Scalar loss of one step (``objective.edm_loss``); call ``.backward()`` on it (only the ControlNet trains)."""
    generators = _generators(generator, batch.latents.shape[0])
    draws = SampleDraws.draw(generators, tuple(batch.latents.shape[1:]), config)
    encoding = getattr(controlnet, "module", controlnet).config.conditioning_encoding
    return edm_loss(controlnet, unet, batch.latents, batch.image_latents, batch.image_embeddings,
                    batch.added_time_ids, batch.conditioning, draws, config, camera=batch.camera,
                    generators=generators, blank_conditioning=blank_value(encoding)).total
