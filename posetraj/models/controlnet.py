"""Traj-ControlNet for the SVD UNet (``UNetSpatioTemporalConditionModel``).

A trainable copy of the UNet's input conv, time and added-time embeddings, down blocks and mid
block. A trajectory encoder ("Traj Guider": conv 3->16, six 3x3 convs 16-16-32-32-96-96-256 with
three stride-2 steps, SiLU, then a zero-initialised conv 256 -> C0) maps the per-frame conditioning
images at pixel resolution to the latent resolution; its output is added to ``conv_in(sample)``. An
optional camera module (``models/camera.py``) sits before that last conv. Zero-initialised 1x1 convs
turn every skip tensor and the mid-block output into residuals for the frozen UNet, scaled by
``conditioning_scale``. ``residual_injection`` records how the UNet must add them (see
``models/unet.py``): ``"once"`` (correct) or ``"accumulate"`` (the original PoseTraj code).

The config also records the micro-conditioning the model was trained with (``fps_id``,
``motion_bucket_id``, ``noise_aug_strength``; ``posetraj train`` writes them): ``PoseTrajPipeline``,
``posetraj generate`` and the benchmark adapter use them unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from diffusers.utils import BaseOutput
from torch import nn

from posetraj.models.camera import CAMERA_DIM, CameraFusion

INJECTION_MODES = ("once", "accumulate")


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


@dataclass
class TrajControlNetOutput(BaseOutput):
    """Residuals for the UNet skips (conv_in output first) and for the mid-block output."""

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


class TrajectoryEncoder(nn.Module):
    """Conditioning images (B*F, C, H, W) -> features (B*F, out_channels, H/8, W/8); zero at init.

    The convs before the zero-initialised ``conv_out`` get He (Kaiming-normal) weights and zero biases.
    With PyTorch's default init (the original's and diffusers' ControlNet embeddings) SiLU activations
    shrink about threefold per layer, so after seven convs the difference between two trajectories'
    features is ~1000x smaller than with He init (6e-6 vs 8e-3, measured on the tiny model); the
    trajectory then barely reaches the ControlNet and is learned late. Only the initialisation changes:
    checkpoints load as before."""

    def __init__(
        self, out_channels: int, conditioning_channels: int = 3,
        block_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        use_camera: bool = False, camera_dropout_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList([])
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.camera = CameraFusion(block_out_channels[-1], camera_dropout_prob) if use_camera else None
        self.conv_out = _zero(nn.Conv2d(block_out_channels[-1], out_channels, kernel_size=3, padding=1))
        for conv in (self.conv_in, *self.blocks):  # He init: see the class docstring
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(
        self, cond: torch.Tensor, num_frames: int, camera: torch.Tensor | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> torch.Tensor:
        x = nn.functional.silu(self.conv_in(cond))
        for block in self.blocks:
            x = nn.functional.silu(block(x))
        if self.camera is not None:
            x = self.camera(x, camera, num_frames, generator)
        elif camera is not None:
            raise ValueError("a camera sequence was given but this ControlNet has no camera module (use_camera=False)")
        return self.conv_out(x)


class TrajControlNetModel(ModelMixin, ConfigMixin):
    """The trajectory ControlNet; ``from_unet`` copies the UNet's encoder, mid block and embeddings."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 8,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int, ...] = 2,
        cross_attention_dim: int | tuple[int, ...] = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 14,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        conditioning_encoding: str = "segments",
        residual_injection: str = "once",
        use_camera: bool = False,
        camera_dropout_prob: float = 0.0,
        fps_id: int = 6,
        motion_bucket_id: int = 127,
        noise_aug_strength: float = 0.02,
    ) -> None:
        super().__init__()
        if residual_injection not in INJECTION_MODES:
            raise ValueError(f"residual_injection must be one of {INJECTION_MODES}, got {residual_injection!r}")
        if conditioning_encoding not in ("segments", "gaussian"):
            raise ValueError(f"conditioning_encoding must be 'segments' or 'gaussian', got {conditioning_encoding!r}")
        blocks = len(down_block_types)
        heads = (num_attention_heads,) * blocks if isinstance(num_attention_heads, int) else tuple(num_attention_heads)
        cross = (cross_attention_dim,) * blocks if isinstance(cross_attention_dim, int) else tuple(cross_attention_dim)
        layers = (layers_per_block,) * blocks if isinstance(layers_per_block, int) else tuple(layers_per_block)
        tlayers = (
            (transformer_layers_per_block,) * blocks
            if isinstance(transformer_layers_per_block, int) else tuple(transformer_layers_per_block)
        )
        time_embed_dim = block_out_channels[0] * 4

        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(block_out_channels[0], True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)
        self.add_time_proj = Timesteps(addition_time_embed_dim, True, downscale_freq_shift=0)
        self.add_embedding = TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)
        self.controlnet_cond_embedding = TrajectoryEncoder(
            block_out_channels[0], conditioning_channels, tuple(conditioning_embedding_out_channels),
            use_camera=use_camera, camera_dropout_prob=camera_dropout_prob,
        )

        self.down_blocks = nn.ModuleList([])
        self.controlnet_down_blocks = nn.ModuleList(
            [_zero(nn.Conv2d(block_out_channels[0], block_out_channels[0], kernel_size=1))]
        )
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            is_final = i == blocks - 1
            self.down_blocks.append(
                get_down_block(
                    block_type, num_layers=layers[i], transformer_layers_per_block=tlayers[i],
                    in_channels=input_channel, out_channels=output_channel, temb_channels=time_embed_dim,
                    add_downsample=not is_final, resnet_eps=1e-5, cross_attention_dim=cross[i],
                    num_attention_heads=heads[i], resnet_act_fn="silu",
                )
            )
            for _ in range(layers[i] + (0 if is_final else 1)):
                self.controlnet_down_blocks.append(_zero(nn.Conv2d(output_channel, output_channel, kernel_size=1)))
        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1], temb_channels=time_embed_dim, transformer_layers_per_block=tlayers[-1],
            cross_attention_dim=cross[-1], num_attention_heads=heads[-1],
        )
        self.controlnet_mid_block = _zero(nn.Conv2d(block_out_channels[-1], block_out_channels[-1], kernel_size=1))

    @classmethod
    def from_unet(
        cls, unet: UNetSpatioTemporalConditionModel, conditioning_channels: int = 3,
        conditioning_encoding: str = "segments", residual_injection: str = "once",
        use_camera: bool = False, camera_dropout_prob: float = 0.0, **config: object,
    ) -> "TrajControlNetModel":
        """A float32 ControlNet whose copied parts equal the UNet's (``add_embedding`` included).

        ``config``: further constructor arguments (``fps_id``, ``motion_bucket_id``, ``noise_aug_strength``)."""
        cfg = unet.config
        controlnet = cls(
            in_channels=cfg.in_channels, down_block_types=tuple(cfg.down_block_types),
            block_out_channels=tuple(cfg.block_out_channels), addition_time_embed_dim=cfg.addition_time_embed_dim,
            projection_class_embeddings_input_dim=cfg.projection_class_embeddings_input_dim,
            layers_per_block=cfg.layers_per_block, cross_attention_dim=cfg.cross_attention_dim,
            transformer_layers_per_block=cfg.transformer_layers_per_block,
            num_attention_heads=cfg.num_attention_heads, num_frames=cfg.num_frames,
            conditioning_channels=conditioning_channels, conditioning_encoding=conditioning_encoding,
            residual_injection=residual_injection, use_camera=use_camera, camera_dropout_prob=camera_dropout_prob,
            **config,
        )
        for name in ("conv_in", "time_embedding", "add_embedding", "down_blocks", "mid_block"):
            getattr(controlnet, name).load_state_dict(getattr(unet, name).state_dict())
        return controlnet

    def encode_conditioning(
        self, controlnet_cond: torch.Tensor, camera: torch.Tensor | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """(B, F, C, H, W) conditioning (+ camera) -> (B*F, C0, H/8, W/8) features added after ``conv_in``.

        They do not depend on the noise level, so a pipeline computes them once per video.
        """
        frames = controlnet_cond.shape[1]
        cond = controlnet_cond.flatten(0, 1).to(dtype=self.conv_in.weight.dtype)
        return self.controlnet_cond_embedding(cond, frames, camera, generator)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        controlnet_cond: torch.Tensor | None = None,
        camera: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        conditioning_features: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> TrajControlNetOutput | tuple:
        """``sample`` (B, F, 8, h, w), ``controlnet_cond`` (B, F, C, 8h, 8w), ``camera`` (B, F, 12) or None.

        ``conditioning_features`` (from ``encode_conditioning``) replaces ``controlnet_cond``/``camera``.
        """
        batch, frames = sample.shape[:2]
        if conditioning_features is None:
            if controlnet_cond is None:
                raise ValueError("pass controlnet_cond or conditioning_features")
            if controlnet_cond.shape[:2] != (batch, frames):
                raise ValueError(
                    f"controlnet_cond must start with (B, F) = {(batch, frames)}, got {tuple(controlnet_cond.shape)}"
                )
            conditioning_features = self.encode_conditioning(controlnet_cond, camera, generator)
        elif conditioning_features.shape[0] != batch * frames:
            raise ValueError(f"conditioning_features must have B*F = {batch * frames} rows, "
                             f"got {conditioning_features.shape[0]}")
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], dtype=torch.float32, device=sample.device)
        elif timesteps.ndim == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps.expand(batch)
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=sample.dtype))
        time_embeds = self.add_time_proj(added_time_ids.flatten()).reshape(batch, -1).to(emb.dtype)
        emb = emb + self.add_embedding(time_embeds)

        sample = sample.flatten(0, 1)
        emb = emb.repeat_interleave(frames, dim=0)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(frames, dim=0)
        sample = self.conv_in(sample) + conditioning_features.to(sample.dtype)
        image_only_indicator = torch.zeros(batch, frames, dtype=sample.dtype, device=sample.device)

        skips: tuple[torch.Tensor, ...] = (sample,)
        for block in self.down_blocks:
            kwargs = {"hidden_states": sample, "temb": emb, "image_only_indicator": image_only_indicator}
            if getattr(block, "has_cross_attention", False):
                kwargs["encoder_hidden_states"] = encoder_hidden_states
            sample, res = block(**kwargs)
            skips += res
        sample = self.mid_block(
            hidden_states=sample, temb=emb, encoder_hidden_states=encoder_hidden_states,
            image_only_indicator=image_only_indicator,
        )
        down = tuple(conv(s) * conditioning_scale for conv, s in zip(self.controlnet_down_blocks, skips, strict=True))
        mid = self.controlnet_mid_block(sample) * conditioning_scale
        if not return_dict:
            return down, mid
        return TrajControlNetOutput(down_block_res_samples=down, mid_block_res_sample=mid)


__all__ = ["CAMERA_DIM", "INJECTION_MODES", "TrajControlNetModel", "TrajControlNetOutput", "TrajectoryEncoder"]
