"""The training objective: sigma sampling, per-sample random draws, CFG dropout and the EDM v-prediction loss.

EDM form of SVD fine-tuning (sigma_data = 1): x_sigma = x + sigma * eps; c_in = 1 / sqrt(sigma^2 + 1),
c_skip = 1 / (sigma^2 + 1), c_out = -sigma / sqrt(sigma^2 + 1), c_noise = ln(sigma) / 4; D = c_out * F +
c_skip * x_sigma with F the UNet output (with ControlNet residuals); loss = mean of (sigma^2 + 1) / sigma^2 *
(D - x)^2.

Sigma sampling (``ObjectiveConfig.sigma_sampling``):

* ``cosine_interpolated`` (default; the original PoseTraj's): k-diffusion's interpolated cosine schedule of
  "simple diffusion". With u ~ U(0, 1), the log-SNR of a cosine schedule over [log-SNR(sigma_max),
  log-SNR(sigma_min)] (sigma measured against ``cosine_sigma_data`` = 0.5) is shifted by 2 ln(d / image_d)
  for d = ``noise_d_low`` and ``noise_d_high``, and the two are interpolated with weight u. Median sigma
  about 0.71 (quantiles 5 %: 0.043, 95 %: 12.1): most steps train fine detail.
* ``lognormal``: ln sigma ~ N(p_mean, p_std) = N(0.7, 1.6), SVD_Xtend's and ``step.py``'s former choice;
  median about 2.0: more weight on coarse structure and motion.

Every random number of a step is drawn per sample from that sample's own generator (:class:`SampleDraws`),
so a sample's loss does not depend on the batch or the process it lands in: one process with batch 2B and
two processes with batch B compute the same gradient.

CFG dropout (the original's InstructPix2Pix scheme): p ~ U(0, 1) per sample; the CLIP embedding is zeroed
when p < 2q, the first-frame image latent when q <= p < 3q (q = ``conditioning_dropout_prob``): q of the
samples lose the CLIP embedding alone, q both, q the latent alone. The zeroed inputs reach the ControlNet
and the UNet alike, exactly as the pipeline's unconditional half does. Trajectories are dropped only with
``trajectory_dropout_prob`` (a blank conditioning, the encoding of "no trajectory").

The single-frame loss (the original's extra "spatial" loss, weight 0.5 there): for each sample one random
frame r, the frozen UNet run on that frame alone (``num_frames`` = 1) with the ControlNet residuals of that
frame, same sigma and noise, the same EDM loss on frame r; added with ``single_frame_loss_weight``. Rows are
indexed per sample (b * F + r_b), so it is correct for any batch size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from posetraj.training.config import ObjectiveConfig


def cosine_interpolated_sigma(u: torch.Tensor, config: ObjectiveConfig) -> torch.Tensor:
    """Map u in [0, 1] to sigma under the interpolated cosine schedule (u = 0: sigma_max, u = 1: sigma_min)."""
    u = u.double()
    sd = config.cosine_sigma_data
    logsnr_lo = -2.0 * math.log(config.sigma_max / sd)  # the noisy end
    logsnr_hi = -2.0 * math.log(config.sigma_min / sd)  # the clean end

    def cosine_logsnr(t: torch.Tensor, shift: float) -> torch.Tensor:
        a = math.atan(math.exp(-0.5 * (logsnr_lo - shift)))
        b = math.atan(math.exp(-0.5 * (logsnr_hi - shift)))
        return -2.0 * torch.log(torch.tan(a + t * (b - a))) + shift

    low = cosine_logsnr(u, 2.0 * math.log(config.cosine_noise_d_low / config.cosine_image_d))
    high = cosine_logsnr(u, 2.0 * math.log(config.cosine_noise_d_high / config.cosine_image_d))
    logsnr = (1.0 - u) * low + u * high
    return (torch.exp(-0.5 * logsnr) * sd).float()


def sigma_from_uniform(u: torch.Tensor, normal: torch.Tensor, config: ObjectiveConfig) -> torch.Tensor:
    """Sigma per sample from a uniform draw (cosine) or a standard-normal draw (lognormal)."""
    if config.sigma_sampling == "cosine_interpolated":
        return cosine_interpolated_sigma(u, config)
    return torch.exp(config.p_mean + config.p_std * normal)


@dataclass
class SampleDraws:
    """The random numbers of one step for a batch, drawn per sample (see the module docstring)."""

    sigma: torch.Tensor  # (B,)
    eps: torch.Tensor  # (B, F, C, h, w)
    drop_clip: torch.Tensor  # (B,) bool
    drop_image: torch.Tensor  # (B,) bool
    drop_trajectory: torch.Tensor  # (B,) bool
    frame: torch.Tensor  # (B,) long, the single-frame loss's frame

    @classmethod
    def draw(cls, generators: Sequence[torch.Generator], latent_shape: tuple[int, ...],
             config: ObjectiveConfig) -> "SampleDraws":
        """Draw from each sample's generator in a fixed order; ``latent_shape`` is (F, C, h, w)."""
        q = config.conditioning_dropout_prob
        sigmas, eps, clip, image, trajectory, frame = [], [], [], [], [], []
        for g in generators:
            u, normal = torch.rand(1, generator=g, dtype=torch.float64), torch.randn(1, generator=g)
            p_cfg, p_traj = float(torch.rand(1, generator=g)), float(torch.rand(1, generator=g))
            frame.append(int(torch.randint(0, latent_shape[0], (1,), generator=g)))
            eps.append(torch.randn(latent_shape, generator=g))
            sigmas.append(sigma_from_uniform(u, normal, config).float())
            clip.append(p_cfg < 2 * q)
            image.append(q <= p_cfg < 3 * q)
            trajectory.append(p_traj < config.trajectory_dropout_prob)
        return cls(sigma=torch.cat(sigmas), eps=torch.stack(eps), drop_clip=torch.tensor(clip),
                   drop_image=torch.tensor(image), drop_trajectory=torch.tensor(trajectory),
                   frame=torch.tensor(frame, dtype=torch.long))


@dataclass
class LossOutput:
    total: torch.Tensor  # scalar, what is back-propagated
    main: torch.Tensor  # scalar, the F-frame EDM loss
    single_frame: torch.Tensor | None  # scalar or None when its weight is 0
    per_sample: torch.Tensor  # (B,) main loss per sample, detached


def precondition(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM v-prediction coefficients (c_in, c_skip, c_out, c_noise) for sigma (B,), shaped (B, 1, 1, 1, 1)."""
    s = sigma.view(-1, 1, 1, 1, 1)
    c_in = 1.0 / torch.sqrt(s * s + 1.0)
    return c_in, c_in * c_in, -s * c_in, torch.log(sigma) / 4.0


def edm_loss(controlnet, unet, latents: torch.Tensor, image_latents: torch.Tensor, image_embeddings: torch.Tensor,
             added_time_ids: torch.Tensor, conditioning: torch.Tensor, draws: SampleDraws, config: ObjectiveConfig,
             camera: torch.Tensor | None = None, generators: Sequence[torch.Generator] | None = None,
             blank_conditioning: float = -1.0) -> LossOutput:
    """The loss of one batch.

    ``latents`` (B, F, 4, h, w) scaled; ``image_latents`` (B, 4, h, w) unscaled; ``image_embeddings``
    (B, 1, D); ``conditioning`` (B, F, C, H, W); ``camera`` (B, F, 12) or None; ``generators``: one per
    sample, for the camera module's dropout. ``blank_conditioning``: the value of an empty conditioning
    image (-1 for ``segments``, 0 for ``gaussian``) used where the trajectory is dropped.
    """
    x = latents
    device, dtype = x.device, x.dtype
    batch, frames = x.shape[:2]
    sigma = draws.sigma.to(device, dtype)
    eps = draws.eps.to(device, dtype)
    keep_clip = (~draws.drop_clip).to(device, image_embeddings.dtype).view(-1, 1, 1)
    keep_image = (~draws.drop_image).to(device, dtype).view(-1, 1, 1, 1)
    if draws.drop_trajectory.any():
        dropped = draws.drop_trajectory.to(device).view(-1, 1, 1, 1, 1)
        conditioning = torch.where(dropped, torch.full_like(conditioning, blank_conditioning), conditioning)
    c_in, c_skip, c_out, c_noise = precondition(sigma)
    s = sigma.view(-1, 1, 1, 1, 1)
    noisy = x + s * eps
    embeddings = image_embeddings * keep_clip
    image = (image_latents.to(dtype) * keep_image).unsqueeze(1).expand(-1, frames, -1, -1, -1)
    model_input = torch.cat([c_in * noisy, image], dim=2)
    down, mid = controlnet(model_input, c_noise, embeddings, added_time_ids, conditioning, camera=camera,
                           generator=list(generators) if generators is not None else None, return_dict=False)
    injection = _config_of(controlnet).residual_injection
    prediction = unet(model_input, c_noise, embeddings, added_time_ids, down, mid, injection=injection)
    weight = (s * s + 1.0) / (s * s)
    error = weight * (c_out * prediction.to(dtype) + c_skip * noisy - x) ** 2
    per_sample = error.flatten(1).mean(1)
    main = per_sample.mean()
    total, single = main, None
    if config.single_frame_loss_weight > 0:
        rows = torch.arange(batch, device=device)
        frame = draws.frame.to(device)
        flat = rows * frames + frame
        one_input = model_input[rows, frame].unsqueeze(1)
        one_pred = unet(one_input, c_noise, embeddings, added_time_ids, [d[flat] for d in down], mid[flat],
                        injection=injection)
        one_noisy, one_x = noisy[rows, frame].unsqueeze(1), x[rows, frame].unsqueeze(1)
        single = (weight * (c_out * one_pred.to(dtype) + c_skip * one_noisy - one_x) ** 2).mean()
        total = main + config.single_frame_loss_weight * single
    return LossOutput(total=total, main=main, single_frame=single, per_sample=per_sample.detach())


def _config_of(model):
    """The config of a ControlNet, also when wrapped (DistributedDataParallel)."""
    return getattr(model, "module", model).config


def blank_value(encoding: str) -> float:
    """The value of an empty conditioning image for an encoding (segments: black = -1; gaussian: 0)."""
    return -1.0 if encoding == "segments" else 0.0
