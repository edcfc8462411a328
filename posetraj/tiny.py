"""Tiny random SVD components (same classes and layout as the real model, a few MB) for tests.

Two statistics are set to those of a trained model so that tiny training runs can learn content: the VAE's
posterior is narrow (``narrow_posterior``) and its scaling factor brings latents to about unit spread.

``tiny_svd_components`` builds UNet, temporal VAE, CLIP image encoder, feature extractor and the
real SVD scheduler config; ``write_tiny_svd`` saves them in diffusers' layout, loadable with
``StableVideoDiffusionPipeline.from_pretrained`` or ``PoseTrajPipeline.from_svd``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

SVD_SCHEDULER_CONFIG: dict[str, Any] = {
    "prediction_type": "v_prediction", "use_karras_sigmas": True, "sigma_min": 0.002, "sigma_max": 700.0,
    "timestep_type": "continuous", "timestep_spacing": "leading", "steps_offset": 1,
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
}

TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 8, "in_channels": 8, "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
    "up_block_types": ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
    "block_out_channels": (32, 64), "layers_per_block": 1, "num_attention_heads": (2, 4),
    "cross_attention_dim": 32, "addition_time_embed_dim": 32, "projection_class_embeddings_input_dim": 96,
}

TINY_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ("DownEncoderBlock2D",) * 4,
    "block_out_channels": (32, 32, 64, 64), "layers_per_block": 1, "latent_channels": 4,
    # SVD's 0.18215 scales its VAE's latents to about unit spread; this random VAE's latent means of rendered
    # frames spread about 0.27, so 3.0 does the same for it
    "sample_size": 64, "scaling_factor": 3.0, "force_upcast": True,
}
#: log-variance of the tiny VAE's posterior (std 0.0025), see ``narrow_posterior``
TINY_VAE_LOG_VARIANCE = -12.0


def svd_feature_extractor():
    """SVD's CLIP image processor settings (resize 224, centre crop, CLIP mean/std, bicubic)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, do_center_crop=True,
        do_normalize=True, do_rescale=True, do_resize=True, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD),
        resample=3,
    )


def narrow_posterior(vae, log_variance: float = TINY_VAE_LOG_VARIANCE):
    """Give a random VAE the narrow posterior of a trained one: constant log-variance outputs.

    A trained VAE's posterior std is far below the spread of its means; a random one's is about 1, four
    times its means' spread, so latents sampled for training would be mostly noise and no content (an object's
    motion, a trajectory) could be learned from them. ``latent_dist.mode()`` (the pipeline's image latents)
    is unchanged."""
    channels = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.weight[channels:] = 0.0
        vae.quant_conv.bias[channels:] = log_variance
    return vae


def tiny_svd_components(num_frames: int = 8, seed: int = 0) -> dict[str, Any]:
    """The five SVD components, random and tiny, each built after a fixed seed."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(num_frames=num_frames, **TINY_UNET_CONFIG)
    torch.manual_seed(seed + 1)
    vae = narrow_posterior(AutoencoderKLTemporalDecoder(**TINY_VAE_CONFIG))
    torch.manual_seed(seed + 2)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=224, patch_size=32, projection_dim=32,
        )
    )
    feature_extractor = svd_feature_extractor()
    scheduler = EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG)
    for module in (unet, vae, image_encoder):
        module.eval()
    return {
        "unet": unet, "vae": vae, "image_encoder": image_encoder,
        "scheduler": scheduler, "feature_extractor": feature_extractor,
    }


def write_tiny_svd(out_dir: str | Path, num_frames: int = 8, seed: int = 0) -> Path:
    """Save a tiny random SVD in diffusers' layout to ``out_dir`` (atomically: temp dir + rename)."""
    from diffusers import StableVideoDiffusionPipeline

    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        StableVideoDiffusionPipeline(**tiny_svd_components(num_frames, seed)).save_pretrained(tmp)
        _portable_model_index(tmp / "model_index.json")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _portable_model_index(path: Path) -> None:
    """Name the feature extractor ``CLIPImageProcessor`` (as the real SVD repo does).

    transformers 5 without torchvision saves ``CLIPImageProcessorPil``, a class transformers 4
    lacks; ``CLIPImageProcessor`` loads in both.
    """
    index = json.loads(path.read_text())
    if "feature_extractor" in index:
        index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
