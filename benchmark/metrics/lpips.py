"""LPIPS (Zhang et al. 2018, v0.1, AlexNet backbone) from local weight files.

Two files are needed, both read with ``torch.load(weights_only=True)`` and never downloaded:
* ``alexnet-owt-7be5be79.pth``: torchvision's ImageNet AlexNet (keys ``features.{0,3,6,8,10}.*``);
* ``alex.pth``: the LPIPS v0.1 linear heads (keys ``lin{0..4}.model.1.weight``, shape (1, C, 1, 1)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.metrics.feature_nets import MissingWeightsError

ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_HEADS_FILE = "alex.pth"
CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """LPIPS distance; ``forward(a, b)`` takes (B, 3, H, W) images in [−1, 1] and returns (B,)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
        )
        self.taps = (1, 4, 7, 9, 11)  # outputs of the five ReLUs
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = (x - self.shift) / self.scale
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for fa, fb, head in zip(self._taps(a), self._taps(b), self.heads):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + head((na - nb) ** 2).mean(dim=(1, 2, 3))
        return total

    def load_official(self, alexnet_state: dict, heads_state: dict) -> None:
        """Fill the network from torchvision AlexNet and LPIPS v0.1 state dicts."""
        feats = {k[len("features."):]: v for k, v in alexnet_state.items() if k.startswith("features.")}
        self.features.load_state_dict(feats, strict=True)
        heads = {f"{i}.weight": heads_state[f"lin{i}.model.1.weight"] for i in range(len(CHANNELS))}
        self.heads.load_state_dict(heads, strict=True)


def load_lpips(weights_dir: str | Path) -> LPIPS:
    """LPIPS with the two official files from ``weights_dir`` (clear error when one is absent)."""
    weights_dir = Path(weights_dir)
    states = []
    for name in (ALEXNET_WEIGHTS_FILE, LPIPS_HEADS_FILE):
        path = weights_dir / name
        if not path.is_file():
            raise MissingWeightsError(f"LPIPS weights not found: {path} (never downloaded; see docs/benchmark.md)")
        states.append(torch.load(path, map_location="cpu", weights_only=True))
    model = LPIPS()
    model.load_official(*states)
    return model.eval()


def lpips_video(model: LPIPS, video: np.ndarray, reference: np.ndarray) -> float:
    """Mean LPIPS over frames 1..T-1 of two (T, H, W, 3) uint8 videos."""
    if video.shape != reference.shape:
        raise ValueError(f"video shapes differ: {video.shape} vs {reference.shape}")

    def prep(v: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(v[1:])).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    with torch.no_grad():
        return float(model(prep(video), prep(reference)).mean())
