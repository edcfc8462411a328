"""Camera-disentanglement module: per-frame camera pose fused into the trajectory features.

Each frame's camera is a 12-vector: the rotation R (3x3, row-major) followed by the translation t,
of the camera pose relative to the first frame (``camera_vectors_from_w2c``). Inside the trajectory
encoder, the vector is broadcast over the feature map, concatenated to the 256 feature channels and
projected back per pixel by ``cc_projection`` (a Linear 268 -> 256, the original's layout, so its
checkpoints' tensors keep their names and shapes). Initialisation: identity on the feature columns,
**zero** on the camera columns and the bias, so the module is an exact no-op until trained (the
original left the camera columns at their random default init).

Training: ``dropout_prob`` zeroes the whole camera sequence of a sample (the original's
``cam_mask_ratio``). Inference without camera (``camera=None``) feeds zeros, the dropped-out case.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

CAMERA_DIM = 12


def camera_vectors_from_w2c(cam_w2c: np.ndarray) -> np.ndarray:
    """(T, 4, 4) world->camera matrices -> (T, 12) float32 [R_rel | t_rel] relative to frame 0.

    The relative pose maps frame-0 camera coordinates to frame-t camera coordinates:
    ``R_rel = R_t R_0^T``, ``t_rel = t_t - R_rel t_0`` (a proper pose composition, not the
    original's element-wise subtraction of the first frame's vector).
    """
    w2c = np.asarray(cam_w2c, dtype=np.float64)
    if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
        raise ValueError(f"cam_w2c must have shape (T, 4, 4), got {w2c.shape}")
    rot, trans = w2c[:, :3, :3], w2c[:, :3, 3]
    rel_rot = rot @ rot[0].T
    rel_trans = trans - np.einsum("tij,j->ti", rel_rot, trans[0])
    return np.concatenate([rel_rot.reshape(-1, 9), rel_trans], axis=1).astype(np.float32)


class CameraFusion(nn.Module):
    """Fuse per-frame camera vectors into (B*F, C, h, w) features; zero-initialised no-op."""

    def __init__(self, feature_channels: int, dropout_prob: float = 0.0, camera_dim: int = CAMERA_DIM) -> None:
        super().__init__()
        if not 0.0 <= dropout_prob <= 1.0:
            raise ValueError(f"camera dropout probability must be in [0, 1], got {dropout_prob}")
        self.feature_channels = feature_channels
        self.camera_dim = camera_dim
        self.dropout_prob = dropout_prob
        self.cc_projection = nn.Linear(feature_channels + camera_dim, feature_channels)
        with torch.no_grad():
            self.cc_projection.weight.zero_()
            self.cc_projection.weight[:, :feature_channels].copy_(torch.eye(feature_channels))
            self.cc_projection.bias.zero_()

    def forward(
        self, features: torch.Tensor, camera: torch.Tensor | None, num_frames: int,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """``features`` (B*F, C, h, w); ``camera`` (B, F, 12) or None (no-camera mode: zeros).

        ``generator``: the dropout draws' source; a sequence gives one generator per sample (each sample
        then draws its own number, so the draw does not depend on the batch it is in)."""
        batch_frames, _, height, width = features.shape
        if camera is None:
            camera = features.new_zeros(batch_frames // num_frames, num_frames, self.camera_dim)
        if camera.shape[1:] != (num_frames, self.camera_dim) or camera.shape[0] * num_frames != batch_frames:
            raise ValueError(
                f"camera must have shape (B, {num_frames}, {self.camera_dim}) for {batch_frames} feature maps, "
                f"got {tuple(camera.shape)}"
            )
        camera = camera.to(device=features.device, dtype=features.dtype)
        if self.training and self.dropout_prob > 0.0:
            if isinstance(generator, Sequence):
                if len(generator) != camera.shape[0]:
                    raise ValueError(f"{len(generator)} generators for a batch of {camera.shape[0]}")
                draw = torch.cat([torch.rand(1, generator=g, device="cpu") for g in generator]).to(camera.device)
            else:
                draw = torch.rand(camera.shape[0], generator=generator, device="cpu").to(camera.device)
            keep = (draw >= self.dropout_prob).to(camera.dtype)
            camera = camera * keep[:, None, None]
        per_pixel = camera.reshape(batch_frames, self.camera_dim, 1, 1).expand(-1, -1, height, width)
        fused = torch.cat([features, per_pixel], dim=1).permute(0, 2, 3, 1)
        return self.cc_projection(fused).permute(0, 3, 1, 2).contiguous()
